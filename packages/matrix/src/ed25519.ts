/**
 * Ed25519 (RFC 8032) key pairs, signatures and checks through node:crypto, which takes keys as
 * DER: a 32-byte seed wrapped as PKCS#8, a 32-byte public key as SubjectPublicKeyInfo (the
 * prefixes are the fixed encodings of RFC 8410 for id-Ed25519, OID 1.3.101.112).
 */
import {
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { MatrixError } from './errors.js';

export const ED25519_KEY_SIZE = 32;
export const ED25519_SIGNATURE_SIZE = 64;

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** An Ed25519 key pair: the 32-byte seed (RFC 8032's private key) and its public key. */
export interface Ed25519KeyPair {
  readonly seed: Uint8Array;
  readonly publicKey: Uint8Array;
}

function privateKeyObject(seed: Uint8Array): KeyObject {
  if (!(seed instanceof Uint8Array) || seed.length !== ED25519_KEY_SIZE) {
    throw new MatrixError('INVALID_KEY', `an Ed25519 seed has ${ED25519_KEY_SIZE} bytes`);
  }
  return createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
}

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== ED25519_KEY_SIZE) {
    throw new MatrixError('INVALID_KEY', `an Ed25519 public key has ${ED25519_KEY_SIZE} bytes`);
  }
  try {
    return createPublicKey({
      key: Buffer.concat([SPKI_PREFIX, publicKey]),
      format: 'der',
      type: 'spki',
    });
  } catch (e) {
    throw new MatrixError('INVALID_KEY', 'not an Ed25519 public key', { cause: e });
  }
}

export function ed25519KeyPairFromSeed(seed: Uint8Array): Ed25519KeyPair {
  const spki = createPublicKey(privateKeyObject(seed)).export({ format: 'der', type: 'spki' });
  return {
    seed: Uint8Array.from(seed),
    publicKey: new Uint8Array(spki.subarray(SPKI_PREFIX.length)),
  };
}

export function generateEd25519KeyPair(): Ed25519KeyPair {
  return ed25519KeyPairFromSeed(new Uint8Array(randomBytes(ED25519_KEY_SIZE)));
}

export function ed25519Sign(seed: Uint8Array, message: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, message, privateKeyObject(seed)));
}

/** True when `signature` is a valid signature of `message`; throws `INVALID_KEY` for a bad key. */
export function ed25519Verify(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  const key = publicKeyObject(publicKey);
  if (signature.length !== ED25519_SIGNATURE_SIZE) return false;
  return verify(null, message, key, signature);
}
