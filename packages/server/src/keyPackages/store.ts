import type { Db, Store, Tx } from '../db/index.js';
import { invalidParam } from '../errors.js';
import { reserveInitKey } from './verify.js';

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
  /** KeyPackages only: base64 init_key and expiry (not_after, ms). */
  keyPackage?: { initKey: string; expiresTs: number };
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

/**
 * Stores one upload's one-time and fallback keys in the caller's transaction. Re-uploading a key
 * exactly as stored is a no-op; a different key under a stored id, or a KeyPackage whose
 * init_key any stored KeyPackage already has, refuses the whole upload.
 */
export async function storeKeys(
  trx: Tx,
  userId: string,
  deviceId: string,
  oneTimeKeys: KeyToStore[],
  fallbackKeys: KeyToStore[],
): Promise<void> {
  const registerInitKey = (key: KeyToStore) =>
    key.keyPackage
      ? reserveInitKey(trx, userId, deviceId, key.algorithm, key.keyId, key.keyPackage)
      : undefined;

  for (const key of oneTimeKeys) {
    const json = JSON.stringify(key.value);
    const existing = await trx
      .selectFrom('one_time_keys')
      .select('key_json')
      .where('user_id', '=', userId)
      .where('device_id', '=', deviceId)
      .where('algorithm', '=', key.algorithm)
      .where('key_id', '=', key.keyId)
      .executeTakeFirst();
    if (existing) {
      if (existing.key_json === json) continue;
      throw invalidParam(
        `One-time key ${key.algorithm}:${key.keyId} already exists with other content`,
      );
    }
    await registerInitKey(key);
    await trx
      .insertInto('one_time_keys')
      .values({
        user_id: userId,
        device_id: deviceId,
        algorithm: key.algorithm,
        key_id: key.keyId,
        key_json: json,
        init_key: key.keyPackage?.initKey ?? null,
        expires_ts: key.keyPackage?.expiresTs ?? null,
      })
      .execute();
  }

  for (const key of fallbackKeys) {
    const json = JSON.stringify(key.value);
    const existing = await trx
      .selectFrom('fallback_keys')
      .select(['key_id', 'key_json'])
      .where('user_id', '=', userId)
      .where('device_id', '=', deviceId)
      .where('algorithm', '=', key.algorithm)
      .executeTakeFirst();
    // The same fallback key again keeps its used flag; a new one replaces it, unused.
    if (existing && existing.key_id === key.keyId && existing.key_json === json) continue;
    await registerInitKey(key);
    const row = {
      key_id: key.keyId,
      key_json: json,
      init_key: key.keyPackage?.initKey ?? null,
      expires_ts: key.keyPackage?.expiresTs ?? null,
      used: 0,
    };
    if (existing) {
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

/** Deletes expired KeyPackages (one-time and fallback) and forgets their init_keys. */
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
  await db.deleteFrom('init_keys').where('expires_ts', '<=', now).execute();
  return Number(otks.numDeletedRows) + Number(fallbacks.numDeletedRows);
}
