/**
 * Cross-signing keys (client-server API, "Cross-signing"; the `CrossSigningKey` schema of
 * POST /keys/device_signing/upload and /keys/query). A user has three ed25519 keys: the master
 * key signs the user's self-signing and user-signing keys; the self-signing key signs the
 * user's devices; the user-signing key signs other users' master keys. Each is published as
 *
 *   { "user_id": ..., "usage": ["master" | "self_signing" | "user_signing"],
 *     "keys": { "ed25519:<unpadded base64 public key>": "<unpadded base64 public key>" },
 *     "signatures": { ... } }
 *
 * with exactly one key, whose key identifier is its own public key. Parsing checks the shape;
 * the `verify*` functions check one signature link each. Trust decisions (which master key to
 * believe) are the caller's.
 */
import { decodeBase64, encodeUnpaddedBase64 } from './base64.js';
import { ED25519_KEY_SIZE } from './ed25519.js';
import { MatrixError, describeValue, isJsonObject } from './errors.js';
import {
  ED25519_ALGORITHM,
  readSignatures,
  verifyJsonSignature,
  type Signatures,
} from './signedJson.js';

export const CROSS_SIGNING_USAGES = ['master', 'self_signing', 'user_signing'] as const;
export type CrossSigningUsage = (typeof CROSS_SIGNING_USAGES)[number];

/**
 * The secret-storage names of the private keys: "the master signing, user-signing, and
 * self-signing keys are identified using the names `m.cross_signing.master`,
 * `m.cross_signing.user_signing`, and `m.cross_signing.self_signing`, respectively, and the keys
 * are base64-encoded before being encrypted."
 */
export const CROSS_SIGNING_SECRET_NAMES = {
  master: 'm.cross_signing.master',
  self_signing: 'm.cross_signing.self_signing',
  user_signing: 'm.cross_signing.user_signing',
} as const satisfies Record<CrossSigningUsage, string>;

/** The JSON form (`CrossSigningKey`). */
export interface CrossSigningKeyJson {
  user_id: string;
  usage: CrossSigningUsage[];
  keys: Record<string, string>;
  signatures?: Signatures;
}

/** A checked cross-signing key. */
export interface CrossSigningKey {
  readonly userId: string;
  /** The role it was parsed for (its `usage` contains it). */
  readonly usage: CrossSigningUsage;
  /** The key identifier after "ed25519:": the unpadded base64 public key. */
  readonly keyId: string;
  readonly publicKey: Uint8Array;
  /** The received object, signatures included, for signature checks. */
  readonly json: CrossSigningKeyJson;
}

function malformed(message: string): MatrixError {
  return new MatrixError('CROSS_SIGNING_MALFORMED', message);
}

function readUsage(value: unknown, expected: CrossSigningUsage): CrossSigningUsage[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw malformed(`usage is ${describeValue(value)}, not a non-empty array`);
  }
  const usage: CrossSigningUsage[] = [];
  for (const item of value) {
    if (!(CROSS_SIGNING_USAGES as readonly unknown[]).includes(item)) {
      throw new MatrixError(
        'CROSS_SIGNING_USAGE',
        `usage ${describeValue(item)} is not one of ${CROSS_SIGNING_USAGES.join(', ')}`,
      );
    }
    if (usage.includes(item as CrossSigningUsage)) {
      throw new MatrixError('CROSS_SIGNING_USAGE', `usage ${describeValue(item)} appears twice`);
    }
    usage.push(item as CrossSigningUsage);
  }
  if (!usage.includes(expected)) {
    throw new MatrixError(
      'CROSS_SIGNING_USAGE',
      `a ${expected} key has usage [${usage.join(', ')}]`,
    );
  }
  return usage;
}

/**
 * Reads a received `CrossSigningKey` that should be `userId`'s `usage` key. Refuses: a shape
 * that is not the schema's (`CROSS_SIGNING_MALFORMED`); another user's key
 * (`CROSS_SIGNING_USER_MISMATCH`); a usage without `usage`, an unknown or repeated one
 * (`CROSS_SIGNING_USAGE`); not exactly one key (`CROSS_SIGNING_KEY_COUNT`); a key identifier
 * that is not "ed25519:" followed by the key itself (`CROSS_SIGNING_KEY_ID`); a key that is not
 * 32 bytes of base64 (`INVALID_KEY`).
 */
export function parseCrossSigningKey(
  json: unknown,
  userId: string,
  usage: CrossSigningUsage,
): CrossSigningKey {
  if (!isJsonObject(json))
    throw malformed(`a cross-signing key is an object, not ${describeValue(json)}`);
  if (typeof json.user_id !== 'string') throw malformed('user_id is not a string');
  if (json.user_id !== userId) {
    throw new MatrixError(
      'CROSS_SIGNING_USER_MISMATCH',
      `the ${usage} key belongs to ${describeValue(json.user_id)}, not ${describeValue(userId)}`,
    );
  }
  const usages = readUsage(json.usage, usage);
  if (!isJsonObject(json.keys)) throw malformed('keys is not an object');
  const entries = Object.entries(json.keys);
  if (entries.length !== 1) {
    throw new MatrixError(
      'CROSS_SIGNING_KEY_COUNT',
      `keys has ${entries.length} keys, not exactly one`,
    );
  }
  const [name, value] = entries[0]!;
  if (typeof value !== 'string') throw malformed(`keys[${describeValue(name)}] is not a string`);
  const prefix = `${ED25519_ALGORITHM}:`;
  if (!name.startsWith(prefix) || name.slice(prefix.length) !== value) {
    throw new MatrixError(
      'CROSS_SIGNING_KEY_ID',
      `the key identifier ${describeValue(name)} is not "${prefix}" followed by the public key`,
    );
  }
  let publicKey: Uint8Array;
  try {
    publicKey = decodeBase64(value, 'the public key');
  } catch (e) {
    throw new MatrixError('INVALID_KEY', (e as Error).message, { cause: e });
  }
  if (publicKey.length !== ED25519_KEY_SIZE || encodeUnpaddedBase64(publicKey) !== value) {
    throw new MatrixError('INVALID_KEY', `the ${usage} key is not 32 bytes in unpadded base64`);
  }
  const signatures = json.signatures === undefined ? undefined : readSignatures(json);
  const copy: CrossSigningKeyJson = {
    ...json,
    user_id: userId,
    usage: usages,
    keys: { [name]: value },
    ...(signatures !== undefined && { signatures }),
  };
  return { userId, usage, keyId: value, publicKey, json: copy };
}

/** Builds the JSON of a new cross-signing key (unsigned) for a 32-byte public key. */
export function crossSigningKeyJson(
  userId: string,
  usage: CrossSigningUsage,
  publicKey: Uint8Array,
): CrossSigningKeyJson {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== ED25519_KEY_SIZE) {
    throw new MatrixError('INVALID_KEY', `an ed25519 public key has ${ED25519_KEY_SIZE} bytes`);
  }
  const id = encodeUnpaddedBase64(publicKey);
  return { user_id: userId, usage: [usage], keys: { [`${ED25519_ALGORITHM}:${id}`]: id } };
}

function requireUsage(key: CrossSigningKey, usage: CrossSigningUsage, role: string): void {
  if (key.usage !== usage) {
    throw new MatrixError(
      'CROSS_SIGNING_USAGE',
      `${role} must be a ${usage} key, not ${key.usage}`,
    );
  }
}

function requireSameUser(a: CrossSigningKey, b: CrossSigningKey): void {
  if (a.userId !== b.userId) {
    throw new MatrixError(
      'CROSS_SIGNING_USER_MISMATCH',
      `the keys belong to ${describeValue(a.userId)} and ${describeValue(b.userId)}`,
    );
  }
}

/** `signed` carries `signer`'s signature, made by `signer.userId` under "ed25519:<its key>". */
function verifySignedBy(signed: unknown, signer: CrossSigningKey): void {
  verifyJsonSignature(signed, signer.userId, signer.keyId, signer.publicKey);
}

/** Checks that a user's self-signing key is signed by that user's master key. */
export function verifySelfSigningKey(selfSigning: CrossSigningKey, master: CrossSigningKey): void {
  requireUsage(selfSigning, 'self_signing', 'the signed key');
  requireUsage(master, 'master', 'the signer');
  requireSameUser(selfSigning, master);
  verifySignedBy(selfSigning.json, master);
}

/** Checks that a user's user-signing key is signed by that user's master key. */
export function verifyUserSigningKey(userSigning: CrossSigningKey, master: CrossSigningKey): void {
  requireUsage(userSigning, 'user_signing', 'the signed key');
  requireUsage(master, 'master', 'the signer');
  requireSameUser(userSigning, master);
  verifySignedBy(userSigning.json, master);
}

/**
 * Checks that a device's `DeviceKeys` object is signed by its user's self-signing key. The
 * device must be the same user's (`CROSS_SIGNING_USER_MISMATCH`), have a string `device_id`
 * (`DEVICE_KEYS_MALFORMED`), and not be named after the self-signing key: device ids and
 * cross-signing key ids share one namespace, and a client "MUST refuse to verify a user when
 * they detect that the user has a device with the same ID as a cross-signing key"
 * (`CROSS_SIGNING_KEY_ID`).
 */
export function verifyDeviceKeys(deviceKeys: unknown, selfSigning: CrossSigningKey): void {
  requireUsage(selfSigning, 'self_signing', 'the signer');
  if (!isJsonObject(deviceKeys)) {
    throw new MatrixError(
      'DEVICE_KEYS_MALFORMED',
      `device keys are an object, not ${describeValue(deviceKeys)}`,
    );
  }
  const { user_id: userId, device_id: deviceId } = deviceKeys;
  if (typeof userId !== 'string' || typeof deviceId !== 'string' || deviceId.length === 0) {
    throw new MatrixError('DEVICE_KEYS_MALFORMED', 'device keys need string user_id and device_id');
  }
  if (userId !== selfSigning.userId) {
    throw new MatrixError(
      'CROSS_SIGNING_USER_MISMATCH',
      `the device belongs to ${describeValue(userId)}, the self-signing key to ${describeValue(selfSigning.userId)}`,
    );
  }
  if (deviceId === selfSigning.keyId) {
    throw new MatrixError(
      'CROSS_SIGNING_KEY_ID',
      `the device id ${describeValue(deviceId)} is the self-signing key's`,
    );
  }
  verifySignedBy(deviceKeys, selfSigning);
}

/** Checks that another user's master key is signed by this user's user-signing key. */
export function verifyMasterKeySignedByUser(
  master: CrossSigningKey,
  userSigning: CrossSigningKey,
): void {
  requireUsage(master, 'master', 'the signed key');
  requireUsage(userSigning, 'user_signing', 'the signer');
  if (master.userId === userSigning.userId) {
    throw new MatrixError(
      'CROSS_SIGNING_USER_MISMATCH',
      "a user-signing key signs other users' master keys, not its own user's",
    );
  }
  verifySignedBy(master.json, userSigning);
}
