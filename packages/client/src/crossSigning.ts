/**
 * Cross-signing for a client (client-server API, "Cross-signing"): making a user's three keys,
 * signing this user's devices with the self-signing key, and reading from a `/keys/query`
 * answer whether a device is signed by its user.
 *
 * - The master key is the user's identity; it signs the self-signing and user-signing keys.
 * - The self-signing key signs the user's own devices' `DeviceKeys`.
 * - The user-signing key signs other users' master keys (user verification, later).
 * Each is published as a `CrossSigningKey` whose one key identifier is its own public key; the
 * shapes and signature links are @trellis/matrix's (`crossSigningKeyJson`, `verify*`), used here
 * rather than re-implemented. Whether a signed device is trusted is the caller's policy.
 */
import {
  MatrixError,
  crossSigningKeyJson,
  ed25519KeyPairFromSeed,
  encodeUnpaddedBase64,
  generateEd25519KeyPair,
  parseCrossSigningKey,
  signJson,
  verifyDeviceKeys,
  verifySelfSigningKey,
  verifyUserSigningKey,
  type CrossSigningKey,
  type CrossSigningKeyJson,
  type Ed25519KeyPair,
  type JsonObject,
} from '@trellis/matrix';
import { ClientError } from './errors.js';
import type { KeysQueryAnswer, MatrixHttp } from './http.js';
import { isObject } from './json.js';

/** A user's three private cross-signing keys. */
export interface CrossSigningKeyPairs {
  readonly master: Ed25519KeyPair;
  readonly selfSigning: Ed25519KeyPair;
  readonly userSigning: Ed25519KeyPair;
}

/** The body of `/keys/device_signing/upload` (without `auth`). */
export interface CrossSigningUpload {
  master_key: CrossSigningKeyJson;
  self_signing_key: CrossSigningKeyJson;
  user_signing_key: CrossSigningKeyJson;
}

/** The key identifier of an Ed25519 cross-signing key: its unpadded base64 public key. */
export function keyIdOf(pair: Ed25519KeyPair): string {
  return encodeUnpaddedBase64(pair.publicKey);
}

export function newCrossSigningKeys(): CrossSigningKeyPairs {
  return {
    master: generateEd25519KeyPair(),
    selfSigning: generateEd25519KeyPair(),
    userSigning: generateEd25519KeyPair(),
  };
}

/**
 * The published keys: the master key (unsigned here; devices may sign it later) and the
 * self-signing and user-signing keys, each signed by the master key, as the spec requires:
 * "the self-signing and user-signing keys are signed by the master key".
 */
export function crossSigningUpload(userId: string, keys: CrossSigningKeyPairs): CrossSigningUpload {
  const byMaster = <T extends object>(o: T) =>
    signJson(o, userId, keyIdOf(keys.master), keys.master);
  return {
    master_key: crossSigningKeyJson(userId, 'master', keys.master.publicKey),
    self_signing_key: byMaster(
      crossSigningKeyJson(userId, 'self_signing', keys.selfSigning.publicKey),
    ),
    user_signing_key: byMaster(
      crossSigningKeyJson(userId, 'user_signing', keys.userSigning.publicKey),
    ),
  };
}

/** `deviceKeys` (a `DeviceKeys` object of `userId`) with the self-signing key's signature added. */
export function signDeviceKeys(
  deviceKeys: JsonObject,
  userId: string,
  selfSigning: Ed25519KeyPair,
): JsonObject {
  if (deviceKeys.user_id !== userId || typeof deviceKeys.device_id !== 'string') {
    throw new ClientError('CROSS_SIGNING', `these device keys are not a device of ${userId}`);
  }
  // What the server adds (`unsigned`) is not part of what was uploaded, nor of the signature.
  const { unsigned: _unsigned, ...keys } = deviceKeys;
  return signJson(keys, userId, keyIdOf(selfSigning), selfSigning);
}

/** Uploads one signed object of this user (a device's keys); a failure for it is thrown. */
export async function uploadOwnSignature(
  http: MatrixHttp,
  userId: string,
  id: string,
  signed: JsonObject,
): Promise<void> {
  const failures = await http.uploadSignatures({ [userId]: { [id]: signed } });
  const mine = isObject(failures[userId]) ? failures[userId] : {};
  const failure = mine[id];
  if (failure !== undefined) {
    const errcode = isObject(failure) && typeof failure.errcode === 'string' ? failure.errcode : '';
    throw new ClientError('CROSS_SIGNING', `the server refused the signature of ${id} ${errcode}`);
  }
}

/** Why a device is not signed by its user (stable codes, for the trust policy and for people). */
export type DeviceSignatureFault =
  /** The answer lists no master key for the user. */
  | 'NO_MASTER_KEY'
  /** No self-signing key, or one the master key has not (validly) signed. */
  | 'NO_SELF_SIGNING_KEY'
  | 'SELF_SIGNING_KEY_INVALID'
  | 'MASTER_KEY_INVALID'
  /** The answer lists no such device. */
  | 'NO_DEVICE'
  /** The device's keys carry no valid signature of the self-signing key. */
  | 'DEVICE_NOT_SIGNED';

export type DeviceSignatureCheck =
  | {
      readonly signed: true;
      /** The master key the chain ends at (unpadded base64), for pinning. */
      readonly masterKey: string;
      readonly selfSigningKey: string;
    }
  | {
      readonly signed: false;
      readonly fault: DeviceSignatureFault;
      readonly message: string;
      /** The @trellis/matrix refusal behind it, if any. */
      readonly cause?: MatrixError;
    };

function unsigned(
  fault: DeviceSignatureFault,
  message: string,
  cause?: unknown,
): DeviceSignatureCheck {
  return {
    signed: false,
    fault,
    message: cause instanceof MatrixError ? `${message}: ${cause.message}` : message,
    ...(cause instanceof MatrixError && { cause }),
  };
}

/** The master key a `/keys/query` answer publishes for `userId` (its key id), if well-formed. */
export function publishedMasterKey(answer: KeysQueryAnswer, userId: string): string | undefined {
  if (answer.master_keys[userId] === undefined) return undefined;
  try {
    return parseCrossSigningKey(answer.master_keys[userId], userId, 'master').keyId;
  } catch (e) {
    if (!(e instanceof MatrixError)) throw e;
    return undefined;
  }
}

/**
 * Whether, in a `/keys/query` answer, `userId`'s device `deviceId` carries a valid signature of
 * its user's self-signing key, itself validly signed by the master key the answer gives for
 * that user. Refusals are answered, not thrown: a malformed key is as good as none.
 */
export function checkDeviceSignature(
  answer: KeysQueryAnswer,
  userId: string,
  deviceId: string,
): DeviceSignatureCheck {
  if (answer.master_keys[userId] === undefined) {
    return unsigned('NO_MASTER_KEY', `${userId} has no master key`);
  }
  let master: CrossSigningKey;
  try {
    master = parseCrossSigningKey(answer.master_keys[userId], userId, 'master');
  } catch (e) {
    if (!(e instanceof MatrixError)) throw e;
    return unsigned('MASTER_KEY_INVALID', `the master key of ${userId} is malformed`, e);
  }
  if (answer.self_signing_keys[userId] === undefined) {
    return unsigned('NO_SELF_SIGNING_KEY', `${userId} has no self-signing key`);
  }
  let selfSigning: CrossSigningKey;
  try {
    selfSigning = parseCrossSigningKey(answer.self_signing_keys[userId], userId, 'self_signing');
    verifySelfSigningKey(selfSigning, master);
  } catch (e) {
    if (!(e instanceof MatrixError)) throw e;
    return unsigned(
      'SELF_SIGNING_KEY_INVALID',
      `the self-signing key of ${userId} is not signed by the master key`,
      e,
    );
  }
  const devices = answer.device_keys[userId];
  const device = isObject(devices) ? devices[deviceId] : undefined;
  if (device === undefined) return unsigned('NO_DEVICE', `${userId} has no device ${deviceId}`);
  try {
    if (isObject(device) && device.device_id !== deviceId) {
      throw new MatrixError('DEVICE_KEYS_MALFORMED', 'the device keys name another device');
    }
    verifyDeviceKeys(device, selfSigning);
  } catch (e) {
    if (!(e instanceof MatrixError)) throw e;
    return unsigned(
      'DEVICE_NOT_SIGNED',
      `${userId}'s device ${deviceId} is not signed by its user`,
      e,
    );
  }
  return { signed: true, masterKey: master.keyId, selfSigningKey: selfSigning.keyId };
}

/**
 * Checks that private keys are the ones a `/keys/query` answer publishes for `userId`: the
 * master key's public key is the published master key, and the self-signing and user-signing
 * keys are published and signed by it (the user-signing key is only in the user's own answer).
 * Otherwise `CROSS_SIGNING`: keys from secret storage that another set-up replaced, or a server
 * that lists keys of its own.
 */
export function checkPublishedKeys(
  answer: KeysQueryAnswer,
  userId: string,
  keys: CrossSigningKeyPairs,
): void {
  try {
    const master = parseCrossSigningKey(answer.master_keys[userId], userId, 'master');
    const selfSigning = parseCrossSigningKey(
      answer.self_signing_keys[userId],
      userId,
      'self_signing',
    );
    const userSigning = parseCrossSigningKey(
      answer.user_signing_keys[userId],
      userId,
      'user_signing',
    );
    verifySelfSigningKey(selfSigning, master);
    verifyUserSigningKey(userSigning, master);
    const published = [master.keyId, selfSigning.keyId, userSigning.keyId];
    const held = [keys.master, keys.selfSigning, keys.userSigning].map(keyIdOf);
    if (published.some((id, i) => id !== held[i])) {
      throw new ClientError(
        'CROSS_SIGNING',
        `the cross-signing keys held are not the ones ${userId} publishes`,
      );
    }
  } catch (e) {
    if (!(e instanceof MatrixError)) throw e;
    throw new ClientError('CROSS_SIGNING', `the published keys of ${userId}: ${e.message}`, {
      cause: e,
    });
  }
}

/** The key pair of a stored or recovered 32-byte seed. */
export function keyPairFromSeed(seed: Uint8Array): Ed25519KeyPair {
  return ed25519KeyPairFromSeed(seed);
}
