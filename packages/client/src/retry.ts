/**
 * Retrying with back-off: the policy (attempts, base and largest delay), the delay before each
 * retry ("equal jitter"), and a wait that a stopping client cuts short. Used by HTTP requests
 * (httpTransport.ts) and the sync loop (sync.ts).
 */
import { ClientError } from './errors.js';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 250, maxDelayMs: 15_000 };

/** Delay before retry `attempt` (1 = first retry): exponential, capped, "equal jitter". */
export function backoffDelay(policy: RetryPolicy, attempt: number, random = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Waits `ms`, or less if `signal` aborts (then rejects with STOPPED). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(stopped());
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(stopped());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The error of a request or wait cut short because the client stops. */
export const stopped = () => new ClientError('STOPPED', 'stopped');
