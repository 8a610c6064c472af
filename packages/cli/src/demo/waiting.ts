/**
 * Waiting for the story to happen. Every step waits for what the clients report; a step that
 * does not happen fails the demo with a `StoryFailure` saying what was expected and what each
 * device held, rather than letting it print success for something that did not occur.
 *
 * A wait fails for want of progress, not for want of speed: it is checked again whenever a
 * device reports something, and fails only when nothing any device holds has changed for a
 * long while (a loaded machine is slow, but it keeps moving).
 */
export class StoryFailure extends Error {
  override readonly name = 'StoryFailure';
}

/** What a wait watches: the devices' state, and a signal that something happened. */
export interface Watched {
  /** What each device holds now, a line or a few each: a change counts as progress. */
  describe(): string;
  /** Calls `wake` whenever any device reports something; returns how to stop. */
  onActivity(wake: () => void): () => void;
}

/** How long nothing may change before a wait fails: far beyond any pause of a working story. */
export const QUIET_MS = 60_000;
/** Even with progress, a wait this long is going round in circles: fail and show it. */
export const CAP_MS = 5 * 60_000;
/** A check without an event, for state that changes on a timer (a resolution slot). */
const TICK_MS = 200;

/**
 * Waits until `condition` holds; fails when `watched` makes no progress for `quietMs`, or after
 * `CAP_MS` however it moves.
 */
export async function waitUntil(
  what: string,
  condition: () => boolean,
  watched: Watched,
  quietMs = QUIET_MS,
): Promise<void> {
  let last = watched.describe();
  const started = Date.now();
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
      if (now - progressAt > quietMs || now - started > CAP_MS) {
        const why =
          now - started > CAP_MS
            ? `not done after ${CAP_MS / 60_000} minutes`
            : `nothing changed for ${quietMs / 1000} s`;
        throw new StoryFailure(`waiting for ${what}, ${why}; the devices hold:\n${state}`);
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

/** Fails the story unless `condition` holds. */
export function expect(condition: boolean, what: string): asserts condition {
  if (!condition) throw new StoryFailure(what);
}
