/**
 * Progress while this device waits to be added to a room's group after /join, and reads the
 * commits it missed; the wait ends with the Welcome, or with a sentence after a while.
 */
import { startProgress, type Progress } from './progress.js';
import type { Terminal } from './terminal.js';

/** How long /join shows its progress while no Welcome comes. */
export const WELCOME_WAIT_MS = 120_000;

export class JoinWait {
  private waiting:
    | {
        readonly roomId: string;
        readonly counts: { fetched: number };
        readonly progress: Progress;
        readonly timer: NodeJS.Timeout;
      }
    | undefined;

  constructor(
    private readonly terminal: Terminal,
    /** Said when the wait ends without a Welcome. */
    private readonly gaveUp: (roomId: string) => void,
  ) {}

  start(roomId: string): void {
    this.stop();
    const counts = { fetched: 0 };
    const progress = startProgress(this.terminal, () =>
      counts.fetched > 0
        ? `joining: fetched ${counts.fetched} commits of the room…`
        : 'joining: waiting for a member’s device to add this one…',
    );
    const timer = setTimeout(() => {
      this.stop();
      this.gaveUp(roomId);
    }, WELCOME_WAIT_MS);
    this.waiting = { roomId, counts, progress, timer };
  }

  /** Commits of `roomId` were fetched. */
  fetched(roomId: string, count: number): void {
    if (this.waiting?.roomId !== roomId) return;
    this.waiting.counts.fetched += count;
    this.waiting.progress.update();
  }

  /** This device joined `roomId`'s group. */
  welcomed(roomId: string): void {
    if (this.waiting?.roomId === roomId) this.stop();
  }

  stop(): void {
    if (!this.waiting) return;
    clearTimeout(this.waiting.timer);
    this.waiting.progress.stop();
    this.waiting = undefined;
  }
}
