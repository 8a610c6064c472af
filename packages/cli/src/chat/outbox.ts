/**
 * Messages typed here go out through the outbox: each is written to the store first, then sent,
 * in the order typed. While the server is away they wait (shown as not sent yet) and go when it
 * answers again, after a restart too; one that can never be sent (the room was left) is given
 * up and said so.
 */
import { ClientError } from '@trellis/client';
import type { ChatStore, PendingMessage } from './chatStore.js';
import { isUnreachable } from './connection.js';

export interface OutboxHooks {
  /** Sends one message (encrypted by the SDK). */
  send(message: PendingMessage): Promise<void>;
  /** Whether the server is known to be away: nothing is tried then. */
  away(): boolean;
  /** A send found the server away. */
  unreachable(error: unknown): void;
  /** A message waits for the server: told once per message. */
  waiting(message: PendingMessage): void;
  /** A message cannot be sent, and was dropped. */
  failed(message: PendingMessage, error: unknown): void;
}

export class Outbox {
  private running: Promise<void> | undefined;
  private again = false;
  /** Messages already shown as waiting. */
  private readonly told = new Set<number>();

  constructor(
    private readonly store: ChatStore,
    private readonly hooks: OutboxHooks,
  ) {}

  /** What waits, in order. */
  pending(): PendingMessage[] {
    return this.store.pending();
  }

  /** Keeps the message, then sends what waits. */
  add(roomId: string, type: string, content: Record<string, unknown>): void {
    this.store.queue(roomId, type, content, Date.now());
    void this.flush();
  }

  /** Sends what waits, in order; resolves when nothing more can be sent now. */
  flush(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.drain();
        } while (this.again && !this.hooks.away());
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** Resolves when no send is under way. */
  async idle(): Promise<void> {
    await this.running;
  }

  private async drain(): Promise<void> {
    for (const message of this.store.pending()) {
      if (this.hooks.away()) return this.tellWaiting();
      try {
        await this.hooks.send(message);
      } catch (error) {
        // The chat is stopping: the message stays for the next run.
        if (error instanceof ClientError && error.code === 'STOPPED') return;
        if (isUnreachable(error)) {
          this.hooks.unreachable(error);
          return this.tellWaiting();
        }
        this.store.unqueue(message.id);
        this.told.delete(message.id);
        this.hooks.failed(message, error);
        continue;
      }
      this.store.unqueue(message.id);
      this.told.delete(message.id);
    }
  }

  private tellWaiting(): void {
    for (const message of this.store.pending()) {
      if (this.told.has(message.id)) continue;
      this.told.add(message.id);
      this.hooks.waiting(message);
    }
  }
}
