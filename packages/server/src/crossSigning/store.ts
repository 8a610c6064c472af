/**
 * Storage of cross-signing public keys (POST /keys/device_signing/upload) and of the signatures
 * uploaded for them and for device keys (POST /keys/signatures/upload), and how /keys/query
 * shows them: each key as uploaded, with the stored signatures its viewer may see merged in.
 */
import { CROSS_SIGNING_USAGES, type CrossSigningUsage } from '@trellis/matrix';
import type { Db, Tx } from '../db/index.js';

type Reader = Db | Tx;
type Json = Record<string, unknown>;

export interface StoredCrossSigningKey {
  userId: string;
  usage: CrossSigningUsage;
  /** The unpadded base64 public key. */
  keyId: string;
  json: Json;
}

export interface StoredSignature {
  targetUserId: string;
  /** A device id, or a master key's public key. */
  targetKeyId: string;
  signerUserId: string;
  /** "ed25519:<key id>". */
  signerKeyId: string;
  signature: string;
}

const isUsage = (u: string): u is CrossSigningUsage =>
  (CROSS_SIGNING_USAGES as readonly string[]).includes(u);

/** The stored cross-signing keys of `userIds`, by user and usage. */
export async function crossSigningKeysOf(
  db: Reader,
  userIds: string[],
): Promise<Map<string, Partial<Record<CrossSigningUsage, StoredCrossSigningKey>>>> {
  const out = new Map<string, Partial<Record<CrossSigningUsage, StoredCrossSigningKey>>>();
  if (userIds.length === 0) return out;
  const rows = await db
    .selectFrom('cross_signing_keys')
    .selectAll()
    .where('user_id', 'in', userIds)
    .execute();
  for (const row of rows) {
    if (!isUsage(row.usage)) continue;
    const keys = out.get(row.user_id) ?? {};
    keys[row.usage] = {
      userId: row.user_id,
      usage: row.usage,
      keyId: row.key_id,
      json: JSON.parse(row.key_json) as Json,
    };
    out.set(row.user_id, keys);
  }
  return out;
}

/** Stores (or replaces) a user's key of one usage. */
export async function putCrossSigningKey(trx: Tx, key: StoredCrossSigningKey): Promise<void> {
  const keyJson = JSON.stringify(key.json);
  await trx
    .insertInto('cross_signing_keys')
    .values({ user_id: key.userId, usage: key.usage, key_id: key.keyId, key_json: keyJson })
    .onConflict((oc) =>
      oc.columns(['user_id', 'usage']).doUpdateSet({ key_id: key.keyId, key_json: keyJson }),
    )
    .execute();
}

export async function deleteCrossSigningKey(
  trx: Tx,
  userId: string,
  usage: CrossSigningUsage,
): Promise<void> {
  await trx
    .deleteFrom('cross_signing_keys')
    .where('user_id', '=', userId)
    .where('usage', '=', usage)
    .execute();
}

/** Forgets the signatures of a key (a replaced master key) and those made by a replaced key. */
export async function forgetSignaturesOfKey(trx: Tx, userId: string, keyId: string): Promise<void> {
  await trx
    .deleteFrom('cross_signing_signatures')
    .where('target_user_id', '=', userId)
    .where('target_key_id', '=', keyId)
    .execute();
  await trx
    .deleteFrom('cross_signing_signatures')
    .where('signer_user_id', '=', userId)
    .where('signer_key_id', '=', `ed25519:${keyId}`)
    .execute();
}

export async function putSignature(trx: Tx, s: StoredSignature): Promise<void> {
  await trx
    .insertInto('cross_signing_signatures')
    .values({
      target_user_id: s.targetUserId,
      target_key_id: s.targetKeyId,
      signer_user_id: s.signerUserId,
      signer_key_id: s.signerKeyId,
      signature: s.signature,
    })
    .onConflict((oc) =>
      oc
        .columns(['target_user_id', 'target_key_id', 'signer_user_id', 'signer_key_id'])
        .doUpdateSet({ signature: s.signature }),
    )
    .execute();
}

/**
 * The stored signatures of `userIds`' keys that `viewer` may see: those made by the key's own
 * user (self-signing key of a device, device of a master key), and those `viewer` made. A
 * user-signing key's signature of someone's master key is "only visible to the user who created
 * them" (client-server API, "Cross-signing").
 */
export async function visibleSignatures(
  db: Reader,
  userIds: string[],
  viewer: string,
): Promise<StoredSignature[]> {
  if (userIds.length === 0) return [];
  const rows = await db
    .selectFrom('cross_signing_signatures')
    .selectAll()
    .where('target_user_id', 'in', userIds)
    .where((eb) =>
      eb.or([
        eb('signer_user_id', '=', eb.ref('target_user_id')),
        eb('signer_user_id', '=', viewer),
      ]),
    )
    .execute();
  return rows.map((r) => ({
    targetUserId: r.target_user_id,
    targetKeyId: r.target_key_id,
    signerUserId: r.signer_user_id,
    signerKeyId: r.signer_key_id,
    signature: r.signature,
  }));
}

/** A copy of `object` with `signatures` added to its own (a stored one wins over none only). */
export function withSignatures(object: Json, signatures: StoredSignature[]): Json {
  if (signatures.length === 0) return object;
  const merged: Record<string, Record<string, string>> = {};
  const own = object.signatures;
  if (typeof own === 'object' && own !== null && !Array.isArray(own)) {
    for (const [entity, byKey] of Object.entries(own as Record<string, unknown>)) {
      if (typeof byKey === 'object' && byKey !== null && !Array.isArray(byKey)) {
        merged[entity] = { ...(byKey as Record<string, string>) };
      }
    }
  }
  for (const s of signatures) (merged[s.signerUserId] ??= {})[s.signerKeyId] = s.signature;
  return { ...object, signatures: merged };
}
