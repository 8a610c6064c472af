/**
 * Whether the server answers. A failed sync or send marks it away; from then on it is asked
 * every `probeMs` (a cheap request, sent once, without the SDK's retries) until it answers, so
 * that "reconnected" is said as soon as it does, not when the next event happens to arrive.
 */
import { ClientError } from '@trellis/client';

export interface ConnectionHooks {
  /** The server stopped answering (said once per outage). */
  lost(error: unknown): void;
  /** It answers again. */
  back(): void;
}

export const PROBE_MS = 1000;

export class ConnectionWatch {
  private away = false;
  private timer: NodeJS.Timeout | undefined;
  private probing = false;

  constructor(
    /** Asks the server something; resolves when it answered (with an error answer too). */
    private readonly probe: () => Promise<void>,
    private readonly hooks: ConnectionHooks,
    private readonly probeMs = PROBE_MS,
  ) {}

  get isAway(): boolean {
    return this.away;
  }

  /** The server did not answer a request. */
  lost(error: unknown): void {
    if (this.away) return;
    this.away = true;
    this.hooks.lost(error);
    this.timer = setInterval(() => void this.check(), this.probeMs);
  }

  /** The server answered a request. */
  answered(): void {
    if (!this.away) return;
    this.away = false;
    this.stopProbing();
    this.hooks.back();
  }

  stop(): void {
    this.stopProbing();
  }

  private stopProbing(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async check(): Promise<void> {
    if (this.probing || !this.away) return;
    this.probing = true;
    try {
      await this.probe();
      this.answered();
    } catch (error) {
      // An error answer is an answer: the server is there.
      if (error instanceof ClientError && error.code === 'HTTP') this.answered();
    } finally {
      this.probing = false;
    }
  }
}

/** Failures that say the server is away (or overloaded), not that the request is wrong. */
export function isUnreachable(error: unknown): boolean {
  if (!(error instanceof ClientError)) return false;
  if (error.code === 'NETWORK') return true;
  return error.code === 'HTTP' && (error.status === 429 || (error.status ?? 0) >= 500);
}
