/**
 * Waiting for devices to reach a state, failing for want of progress rather than of speed: the
 * condition is checked again whenever a device reports something (and on a short tick, for
 * state that changes on a timer), and the wait fails only when nothing the devices hold has
 * changed for a long while, or after a cap far beyond any normal run. A loaded machine is
 * slow, but it keeps moving. The failure says what each device holds.
 */

/** What a wait watches: the devices' state, and a signal that something happened. */
export interface Watched {
  /** What each device holds now, a line or a few each: a change counts as progress. */
  describe(): string;
  /** Calls `wake` whenever any device reports something; returns how to stop. */
  onActivity(wake: () => void): () => void;
}

export interface WaitLimits {
  /** How long nothing may change before the wait fails (default 60 s). */
  readonly quietMs?: number;
  /** How long the wait may take however it moves: beyond it, it is going round in circles. */
  readonly capMs?: number;
}

export class WaitFailure extends Error {
  override readonly name = 'WaitFailure';
  constructor(
    readonly what: string,
    readonly why: string,
    /** What the devices held when the wait gave up. */
    readonly state: string,
  ) {
    super(`waiting for ${what}, ${why}; what each device holds:\n${state}`);
  }
}

/** Far from any normal pause: a sync long-poll is seconds, a resolution slot half of one. */
export const QUIET_MS = 60_000;
export const CAP_MS = 5 * 60_000;
/** A check without an event, for state that changes on a timer (a resolution slot). */
const TICK_MS = 200;

export async function waitForProgress(
  what: string,
  condition: () => boolean,
  watched: Watched,
  limits: WaitLimits = {},
): Promise<void> {
  const quietMs = limits.quietMs ?? QUIET_MS;
  const capMs = limits.capMs ?? CAP_MS;
  const started = Date.now();
  let last = watched.describe();
  let progressAt = started;
  let wake: () => void = () => undefined;
  const stop = watched.onActivity(() => wake());
  try {
    while (!condition()) {
      const state = watched.describe();
      const now = Date.now();
      if (state !== last) {
        last = state;
        progressAt = now;
      }
      if (now - started > capMs) {
        throw new WaitFailure(what, `not done after ${capMs / 1000} s`, state);
      }
      if (now - progressAt > quietMs) {
        throw new WaitFailure(what, `nothing changed for ${quietMs / 1000} s`, state);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, TICK_MS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    stop();
  }
}
