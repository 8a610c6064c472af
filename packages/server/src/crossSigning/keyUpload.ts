/**
 * The checks of POST /keys/device_signing/upload (client-server API, "Cross-signing";
 * api/cross_signing.yaml), as a plain function of the request and what is stored: each key is
 * the user's and of its usage; the self-signing and user-signing keys are "signed by the
 * accompanying master signing key, or by the user's most recently uploaded master signing key if
 * no master signing key is included in the request"; no public key is one of the user's device
 * ids; and whether User-Interactive Authentication is needed.
 */
import {
  MatrixError as KeyError,
  canonicalJson,
  parseCrossSigningKey,
  verifySelfSigningKey,
  verifyUserSigningKey,
  type CrossSigningKey,
  type CrossSigningUsage,
} from '@trellis/matrix';
import { MatrixError, forbidden, invalidParam, missingParam } from '../errors.js';
import type { StoredCrossSigningKey } from './store.js';

/** The request body's member for each usage. */
export const UPLOAD_MEMBERS = {
  master: 'master_key',
  self_signing: 'self_signing_key',
  user_signing: 'user_signing_key',
} as const satisfies Record<CrossSigningUsage, string>;

/**
 * The members a `CrossSigningKey` has (api/definitions/cross_signing_key.yaml). Anything else
 * is refused: the server hands these objects to every user who queries, and a member it does
 * not know could hold anything, private material included.
 */
const KEY_MEMBERS = new Set(['user_id', 'usage', 'keys', 'signatures']);

export type Stored = Partial<Record<CrossSigningUsage, StoredCrossSigningKey>>;

export interface KeyUploadPlan {
  /** Keys of the request that differ from the stored ones (to store). */
  changed: CrossSigningKey[];
  /** Stored keys no longer valid: replaced, or signed by a master key that is replaced. */
  dropped: StoredCrossSigningKey[];
  /**
   * Whether UIA is needed: a master key is stored and the request brings a key that differs
   * from the stored one (the spec's two exceptions are: no master key stored yet; or no new keys).
   */
  needsAuth: boolean;
}

function asCrossSigningKey(stored: StoredCrossSigningKey): CrossSigningKey {
  return parseCrossSigningKey(stored.json, stored.userId, stored.usage);
}

/** `M_INVALID_SIGNATURE` for a failed signature link, `M_INVALID_PARAM` for anything else. */
function signatureError(e: unknown, what: string): MatrixError {
  if (!(e instanceof KeyError)) throw e;
  const code =
    e.code === 'BAD_SIGNATURE' || e.code === 'SIGNATURE_MISSING' || e.code === 'SIGNATURE_MALFORMED'
      ? 'M_INVALID_SIGNATURE'
      : 'M_INVALID_PARAM';
  return new MatrixError(400, code, `${what}: ${e.message}`);
}

function parseUploaded(json: unknown, userId: string, usage: CrossSigningUsage): CrossSigningKey {
  const member = UPLOAD_MEMBERS[usage];
  if (typeof json === 'object' && json !== null && !Array.isArray(json)) {
    const unknown = Object.keys(json).find((k) => !KEY_MEMBERS.has(k));
    if (unknown !== undefined) {
      throw invalidParam(`${member} has a member "${unknown}" a CrossSigningKey does not have`);
    }
  }
  try {
    return parseCrossSigningKey(json, userId, usage);
  } catch (e) {
    if (e instanceof KeyError) throw invalidParam(`${member}: ${e.message}`);
    throw e;
  }
}

const sameKey = (given: CrossSigningKey, stored: StoredCrossSigningKey | undefined) =>
  stored !== undefined && canonicalJson(given.json) === canonicalJson(stored.json);

/**
 * Checks an upload of `userId`'s keys against `stored` and the user's `deviceIds`; returns what
 * to store and drop, or throws the spec's error: M_INVALID_PARAM (not a valid key of that user
 * and usage), M_MISSING_PARAM (no master key to check a self-signing or user-signing key with),
 * M_INVALID_SIGNATURE (not signed by that master key), M_FORBIDDEN (a public key that is one of
 * the user's device ids: "Key ID in use").
 */
export function planKeyUpload(
  userId: string,
  body: Partial<Record<(typeof UPLOAD_MEMBERS)[CrossSigningUsage], unknown>>,
  stored: Stored,
  deviceIds: ReadonlySet<string>,
): KeyUploadPlan {
  const given: Partial<Record<CrossSigningUsage, CrossSigningKey>> = {};
  for (const [usage, member] of Object.entries(UPLOAD_MEMBERS) as [CrossSigningUsage, string][]) {
    const json = body[member as keyof typeof body];
    if (json !== undefined) given[usage] = parseUploaded(json, userId, usage);
  }
  for (const key of Object.values(given)) {
    if (deviceIds.has(key.keyId)) {
      throw forbidden(`Key ID in use: the ${key.usage} key is the id of one of your devices`);
    }
  }

  const master = given.master ?? (stored.master && asCrossSigningKey(stored.master));
  if ((given.self_signing || given.user_signing) && !master) {
    throw missingParam('No master signing key is available');
  }
  if (given.self_signing) {
    try {
      verifySelfSigningKey(given.self_signing, master!);
    } catch (e) {
      throw signatureError(e, 'self_signing_key');
    }
  }
  if (given.user_signing) {
    try {
      verifyUserSigningKey(given.user_signing, master!);
    } catch (e) {
      throw signatureError(e, 'user_signing_key');
    }
  }

  const changed = Object.values(given).filter((k) => !sameKey(k, stored[k.usage]));
  const dropped: StoredCrossSigningKey[] = [];
  for (const key of changed) {
    const old = stored[key.usage];
    if (old) dropped.push(old);
  }
  // A new master key replaces the set: stored self-signing and user-signing keys the request
  // does not replace were signed by the old master key, so they go with it.
  const masterReplaced =
    given.master !== undefined && stored.master !== undefined && changed.includes(given.master);
  if (masterReplaced) {
    for (const usage of ['self_signing', 'user_signing'] as const) {
      const old = stored[usage];
      if (old && !given[usage]) dropped.push(old);
    }
  }
  return { changed, dropped, needsAuth: stored.master !== undefined && changed.length > 0 };
}
