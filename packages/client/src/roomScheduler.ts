/**
 * When a room's work runs: its commits and sends one at a time (each waits for the earlier
 * ones), and background commits on a timer, backing off after failures. What the work is comes
 * from the room (roomCommits.ts `dueWork`); this holds only the timing.
 */
import { ClientError } from './errors.js';
import type { DueWork } from './roomCommits.js';

/** Longest wait between attempts after background commits failed. */
const MAX_RETRY_MS = 30_000;

export interface SchedulerHost {
  readonly roomId: string;
  /** Back-off slot of the room's commits (ms). */
  readonly slotMs: number;
  /** The work due now, if any. */
  due(): DueWork | undefined;
  run(expected: string | undefined): Promise<void>;
  /** After a run: look again at what is due (the room may have more to check first). */
  reschedule(): void;
  reportError(error: unknown, context: string): void;
}

export class RoomScheduler {
  private lock: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  /** No background commits while paused (the client is stopped) or after `stop`. */
  private paused = false;
  private stopped = false;
  private failures = 0;
  private notBefore = 0;

  constructor(private readonly host: SchedulerHost) {}

  /** Whether background work may run now. */
  get active(): boolean {
    return !this.paused && !this.stopped;
  }

  /** Runs `fn` after every earlier call has finished: commits and sends of a room queue up. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** Sets a timer for the work due, unless one is set or work is running. */
  schedule(): void {
    if (!this.active || this.busy || this.timer) return;
    const due = this.host.due();
    if (!due) return;
    const delay = Math.max(due.delayMs, this.notBefore - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.tick(due.expected);
    }, delay);
  }

  pause(): void {
    this.paused = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  resume(): void {
    this.paused = false;
  }

  /** For good: the room is forgotten. */
  stop(): void {
    this.pause();
    this.stopped = true;
  }

  private async tick(expected: string | undefined): Promise<void> {
    if (!this.active) return;
    this.busy = true;
    try {
      await this.exclusive(() => this.host.run(expected));
      this.failures = 0;
      this.notBefore = 0;
    } catch (error) {
      if (!(error instanceof ClientError && error.code === 'STOPPED')) {
        this.host.reportError(error, `committing in ${this.host.roomId}`);
      }
      this.failures++;
      const slotMs = this.host.slotMs;
      this.notBefore =
        Date.now() + Math.min(MAX_RETRY_MS, slotMs * 2 ** this.failures + Math.random() * slotMs);
    } finally {
      this.busy = false;
      this.host.reschedule();
    }
  }
}
