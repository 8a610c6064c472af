import type { Db, Store, Tx } from '../db/index.js';
import { invalidParam } from '../errors.js';
import { reserveInitKeys, type VerifiedKeyPackage } from './verify.js';

/**
 * The one-time key and fallback key store. KeyPackages are one-time keys (and the last-resort
 * KeyPackage the fallback key) of algorithms `m.dmls.v1.key_package.<suite>`; other algorithms
 * (e.g. Olm's `signed_curve25519`) are kept as given.
 */

export interface KeyToStore {
  algorithm: string;
  keyId: string;
  /** The key's JSON value, as uploaded. */
  value: unknown;
  /** KeyPackages only: the stored form, base64 init_key and expiry (not_after, ms). */
  keyPackage?: VerifiedKeyPackage;
}

/** Counts of unclaimed, unexpired one-time keys per algorithm. */
export async function countOneTimeKeys(
  db: Db | Tx,
  userId: string,
  deviceId: string,
  now: number,
): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('one_time_keys')
    .select(['algorithm', (eb) => eb.fn.countAll<number>().as('count')])
    .where('user_id', '=', userId)
    .where('device_id', '=', deviceId)
    .where((eb) => eb.or([eb('expires_ts', 'is', null), eb('expires_ts', '>', now)]))
    .groupBy('algorithm')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.algorithm, Number(r.count)]));
}

/** Algorithms whose fallback key has not been handed out yet (and has not expired). */
export async function unusedFallbackKeyTypes(
  db: Db | Tx,
  userId: string,
  deviceId: string,
  now: number,
): Promise<string[]> {
  const rows = await db
    .selectFrom('fallback_keys')
    .select('algorithm')
    .where('user_id', '=', userId)
    .where('device_id', '=', deviceId)
    .where('used', '=', 0)
    .where((eb) => eb.or([eb('expires_ts', 'is', null), eb('expires_ts', '>', now)]))
    .orderBy('algorithm')
    .execute();
  return rows.map((r) => r.algorithm);
}

/** Rows per INSERT or lookup: well inside SQLite's and PostgreSQL's bound-parameter limits. */
const BATCH = 500;

function* batches<T>(items: T[]): Generator<T[]> {
  for (let i = 0; i < items.length; i += BATCH) yield items.slice(i, i + BATCH);
}

/**
 * Stores one upload's one-time and fallback keys in the caller's transaction, in a number of
 * statements that grows with the upload by one per 500 keys (so a 5,000-key upload holds the
 * writer briefly). Re-uploading a key exactly as stored is a no-op; a different key under a
 * stored id, or a KeyPackage whose init_key was ever accepted before, refuses the whole upload.
 */
export async function storeKeys(
  trx: Tx,
  userId: string,
  deviceId: string,
  oneTimeKeys: KeyToStore[],
  fallbackKeys: KeyToStore[],
): Promise<void> {
  const json = (key: KeyToStore) => JSON.stringify(key.keyPackage?.value ?? key.value);
  const nameOf = (key: { algorithm: string; keyId: string }) => `${key.algorithm}:${key.keyId}`;

  const stored = new Map<string, string>();
  for (const batch of batches(oneTimeKeys)) {
    const rows = await trx
      .selectFrom('one_time_keys')
      .select(['algorithm', 'key_id', 'key_json'])
      .where('user_id', '=', userId)
      .where('device_id', '=', deviceId)
      .where('algorithm', 'in', [...new Set(batch.map((k) => k.algorithm))])
      .where('key_id', 'in', [...new Set(batch.map((k) => k.keyId))])
      .execute();
    for (const row of rows)
      stored.set(nameOf({ algorithm: row.algorithm, keyId: row.key_id }), row.key_json);
  }
  const newOneTime: KeyToStore[] = [];
  for (const key of oneTimeKeys) {
    const existing = stored.get(nameOf(key));
    if (existing === undefined) newOneTime.push(key);
    else if (existing !== json(key))
      throw invalidParam(`One-time key ${nameOf(key)} already exists with other content`);
  }

  // The same fallback key again keeps its used flag; a new one replaces it, unused.
  const newFallback: { key: KeyToStore; replaces: boolean }[] = [];
  for (const key of fallbackKeys) {
    const existing = await trx
      .selectFrom('fallback_keys')
      .select(['key_id', 'key_json'])
      .where('user_id', '=', userId)
      .where('device_id', '=', deviceId)
      .where('algorithm', '=', key.algorithm)
      .executeTakeFirst();
    if (existing && existing.key_id === key.keyId && existing.key_json === json(key)) continue;
    newFallback.push({ key, replaces: existing !== undefined });
  }

  await reserveInitKeys(
    trx,
    [...newOneTime, ...newFallback.map((f) => f.key)].flatMap((key) =>
      key.keyPackage ? [{ name: nameOf(key), initKey: key.keyPackage.initKey }] : [],
    ),
  );

  for (const batch of batches(newOneTime)) {
    await trx
      .insertInto('one_time_keys')
      .values(
        batch.map((key) => ({
          user_id: userId,
          device_id: deviceId,
          algorithm: key.algorithm,
          key_id: key.keyId,
          key_json: json(key),
          init_key: key.keyPackage?.initKey ?? null,
          expires_ts: key.keyPackage?.expiresTs ?? null,
        })),
      )
      .execute();
  }

  for (const { key, replaces } of newFallback) {
    const row = {
      key_id: key.keyId,
      key_json: json(key),
      init_key: key.keyPackage?.initKey ?? null,
      expires_ts: key.keyPackage?.expiresTs ?? null,
      used: 0,
    };
    if (replaces) {
      await trx
        .updateTable('fallback_keys')
        .set(row)
        .where('user_id', '=', userId)
        .where('device_id', '=', deviceId)
        .where('algorithm', '=', key.algorithm)
        .execute();
    } else {
      await trx
        .insertInto('fallback_keys')
        .values({ user_id: userId, device_id: deviceId, algorithm: key.algorithm, ...row })
        .execute();
    }
  }
}

export interface ClaimedKey {
  keyId: string;
  value: unknown;
  fallback: boolean;
}

/**
 * Hands out the oldest unexpired one-time key of `algorithm`, removing it, or else the fallback
 * key, marking it used. On PostgreSQL the one-time key is taken with FOR UPDATE SKIP LOCKED so
 * concurrent claims, from any number of processes, each get a different key and none waits for
 * another; on SQLite every write is serialised anyway.
 */
export async function claimKey(
  store: Store,
  userId: string,
  deviceId: string,
  algorithm: string,
  now: number,
): Promise<ClaimedKey | undefined> {
  const db = store.db;
  const candidate = (qb: Db) => {
    let q = qb
      .selectFrom('one_time_keys')
      .select('id')
      .where('user_id', '=', userId)
      .where('device_id', '=', deviceId)
      .where('algorithm', '=', algorithm)
      .where((eb) => eb.or([eb('expires_ts', 'is', null), eb('expires_ts', '>', now)]))
      .orderBy('id')
      .limit(1);
    if (store.dialect === 'postgres') q = q.forUpdate().skipLocked();
    return q;
  };
  const taken = await db
    .deleteFrom('one_time_keys')
    .where('id', '=', candidate(db))
    .returning(['key_id', 'key_json'])
    .executeTakeFirst();
  if (taken) return { keyId: taken.key_id, value: JSON.parse(taken.key_json), fallback: false };

  const fallback = await db
    .updateTable('fallback_keys')
    .set({ used: 1 })
    .where('user_id', '=', userId)
    .where('device_id', '=', deviceId)
    .where('algorithm', '=', algorithm)
    .where((eb) => eb.or([eb('expires_ts', 'is', null), eb('expires_ts', '>', now)]))
    .returning(['key_id', 'key_json'])
    .executeTakeFirst();
  if (fallback)
    return { keyId: fallback.key_id, value: JSON.parse(fallback.key_json), fallback: true };
  return undefined;
}

/**
 * Deletes expired KeyPackages (one-time and fallback). Their init_keys stay recorded: an
 * init_key is never accepted again.
 */
export async function sweepExpiredKeyPackages(store: Store, now: number): Promise<number> {
  const db = store.db;
  const otks = await db
    .deleteFrom('one_time_keys')
    .where('expires_ts', '<=', now)
    .executeTakeFirst();
  const fallbacks = await db
    .deleteFrom('fallback_keys')
    .where('expires_ts', '<=', now)
    .executeTakeFirst();
  return Number(otks.numDeletedRows) + Number(fallbacks.numDeletedRows);
}
