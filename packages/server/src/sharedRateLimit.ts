import type { Store } from './db/index.js';
import { MatrixError } from './errors.js';
import type { Rate } from './rateLimit.js';

export type { Rate };

export type Taken = { ok: true } | { ok: false; retryAfterMs: number };

/** Rounding slack, so a client that waits exactly `retry_after_ms` is let in. */
const EPSILON = 1e-9;

/**
 * Token buckets kept in the database (table `rate_limits`), so every process on one database
 * shares them: a client gains nothing by spreading its attempts over processes. Each take is
 * one short transaction; on PostgreSQL the bucket's row is locked for it, on SQLite the first
 * statement is a write, which serialises takes across processes too.
 */
export async function takeShared(
  store: Store,
  bucket: string,
  rate: Rate,
  cost = 1,
  now = Date.now(),
): Promise<Taken> {
  if (rate.burst === 0) return { ok: true };
  return store.db.transaction().execute(async (trx) => {
    await trx
      .insertInto('rate_limits')
      .values({ bucket, tokens: rate.burst, updated_ts: now })
      .onConflict((oc) => oc.doNothing())
      .execute();
    let query = trx
      .selectFrom('rate_limits')
      .select(['tokens', 'updated_ts'])
      .where('bucket', '=', bucket);
    if (store.dialect === 'postgres') query = query.forUpdate();
    const row = await query.executeTakeFirstOrThrow();
    const elapsed = Math.max(0, now - Number(row.updated_ts));
    const tokens = Math.min(rate.burst, Number(row.tokens) + (elapsed / 1000) * rate.perSecond);
    const ok = tokens + EPSILON >= cost;
    await trx
      .updateTable('rate_limits')
      .set({
        tokens: ok ? Math.max(0, tokens - cost) : tokens,
        updated_ts: Math.max(now, Number(row.updated_ts)),
      })
      .where('bucket', '=', bucket)
      .execute();
    if (ok) return { ok: true };
    const missing = Math.min(cost, rate.burst) - tokens;
    const retryAfterMs =
      rate.perSecond > 0 ? Math.ceil((missing / rate.perSecond) * 1000) : 24 * 3600 * 1000;
    return { ok: false, retryAfterMs: Math.max(1, retryAfterMs) };
  });
}

/** Returns `amount` tokens to a bucket, up to its burst (a login that succeeded costs none). */
export async function giveBack(
  store: Store,
  bucket: string,
  rate: Rate,
  amount = 1,
): Promise<void> {
  if (rate.burst === 0) return;
  await store.db.transaction().execute(async (trx) => {
    let query = trx.selectFrom('rate_limits').select('tokens').where('bucket', '=', bucket);
    if (store.dialect === 'postgres') query = query.forUpdate();
    const row = await query.executeTakeFirst();
    if (!row) return;
    await trx
      .updateTable('rate_limits')
      .set({ tokens: Math.min(rate.burst, Number(row.tokens) + amount) })
      .where('bucket', '=', bucket)
      .execute();
  });
}

/** Forgets buckets untouched for longer than any of them takes to fill up again. */
export async function forgetFullBuckets(store: Store, rates: Rate[], now: number): Promise<void> {
  const active = rates.filter((r) => r.burst > 0);
  if (active.length === 0) return;
  const refillMs = Math.max(
    ...active.map((r) => (r.perSecond > 0 ? (r.burst / r.perSecond) * 1000 : 7 * 24 * 3600_000)),
  );
  await store.db
    .deleteFrom('rate_limits')
    .where('updated_ts', '<', now - refillMs)
    .execute();
}

/** The Matrix answer to a refused take: 429 M_LIMIT_EXCEEDED with `retry_after_ms`. */
export function limitExceeded(what: string, retryAfterMs: number): MatrixError {
  return new MatrixError(429, 'M_LIMIT_EXCEEDED', `Too many ${what}; retry later`, {
    retry_after_ms: retryAfterMs,
  });
}
