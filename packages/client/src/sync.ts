/**
 * The sync loop: long-polls `/sync`, hands each answer to the client, and stores the token only
 * once the answer was processed, so a client killed half-way sees the answer again (processing
 * it twice is harmless: events already seen are recognised as duplicates).
 *
 * It never dies on a bad answer or a failing server: network errors and 5xx wait with
 * exponential back-off and jitter and try again, for as long as the client runs. Only the
 * server saying that the access token is no longer valid stops it.
 */
import { ClientError, isMatrixError } from './errors.js';
import type { ClientEvents, Emitter } from './events.js';
import type { MatrixHttp } from './http.js';
import { backoffDelay, sleep, type RetryPolicy } from './retry.js';
import type { Json } from './json.js';
import type { Store } from './store.js';

const TOKEN = 'sync_token';

export interface SyncOptions {
  /** Long-poll timeout asked of the server. */
  readonly timeoutMs: number;
  /** `room.timeline.limit` of the sync filter. */
  readonly timelineLimit: number;
  /** Back-off between failed syncs. */
  readonly retry: RetryPolicy;
}

export type SyncHandler = (body: Json, since: string | undefined) => Promise<void>;

export class SyncLoop {
  private controller: AbortController | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly http: MatrixHttp,
    private readonly store: Store,
    private readonly events: Emitter<ClientEvents>,
    private readonly handle: SyncHandler,
    private readonly options: SyncOptions,
  ) {}

  get active(): boolean {
    return this.running !== undefined;
  }

  /** The token of the last answer processed. */
  get token(): string | undefined {
    return this.store.value(TOKEN);
  }

  start(signal: AbortSignal): void {
    if (this.running) return;
    this.controller = new AbortController();
    const stop = AbortSignal.any([signal, this.controller.signal]);
    this.running = this.run(stop).finally(() => {
      this.running = undefined;
    });
  }

  async stop(): Promise<void> {
    this.controller?.abort();
    await this.running;
  }

  /** One sync, processed; `timeoutMs` 0 answers at once. Not while the loop runs. */
  async once(timeoutMs = 0, signal?: AbortSignal): Promise<void> {
    if (this.running) throw new ClientError('NOT_READY', 'the sync loop is running');
    await this.step(timeoutMs, signal);
  }

  private filter(): string {
    return JSON.stringify({ room: { timeline: { limit: this.options.timelineLimit } } });
  }

  private async step(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    const since = this.token;
    const body = await this.http.sync(
      {
        ...(since !== undefined && { since }),
        // The first sync answers at once anyway; later ones wait for news.
        timeout: since === undefined ? 0 : timeoutMs,
        filter: this.filter(),
      },
      signal,
    );
    const next = body.next_batch;
    if (typeof next !== 'string') throw new ClientError('BAD_RESPONSE', 'sync has no next_batch');
    try {
      await this.handle(body, since);
    } catch (error) {
      // Stopped half-way: keep the old token, so the answer is processed again next time.
      if (error instanceof ClientError && error.code === 'STOPPED') throw error;
      this.events.emit('error', { error, context: 'processing a sync answer' });
    }
    this.store.setValue(TOKEN, next);
    this.events.emit('sync', { nextBatch: next });
  }

  private async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        await this.step(this.options.timeoutMs, signal);
        failures = 0;
      } catch (error) {
        if (signal.aborted) break;
        if (isMatrixError(error, 'M_UNKNOWN_TOKEN') || isMatrixError(error, 'M_MISSING_TOKEN')) {
          this.events.emit('loggedOut', { reason: (error as Error).message });
          break;
        }
        failures++;
        const retryInMs = Math.max(
          backoffDelay(this.options.retry, failures),
          error instanceof ClientError ? (error.details.retryAfterMs ?? 0) : 0,
        );
        this.events.emit('syncError', { error, retryInMs });
        try {
          await sleep(retryInMs, signal);
        } catch {
          break;
        }
      }
    }
  }
}
