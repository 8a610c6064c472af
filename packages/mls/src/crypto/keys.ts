import { MlsError } from '../errors.js';

/** Throws `INVALID_KEY` unless a private key has exactly the scheme's size. */
export function checkPrivateKeySize(scheme: string, privateKey: Uint8Array, size: number): void {
  if (privateKey.length !== size) {
    throw new MlsError(
      'INVALID_KEY',
      `${scheme} private key must be ${size} bytes, got ${privateKey.length}`,
    );
  }
}

/**
 * A NIST-curve private key as the fixed-size big-endian scalar the backends take. Some MLS
 * implementations (and the interop vectors) write the scalar without its leading zero bytes, so
 * a shorter string is accepted and left-padded; range checks happen where the key is used.
 */
export function nistPrivateScalar(
  scheme: string,
  privateKey: Uint8Array,
  size: number,
): Uint8Array {
  if (privateKey.length === size) return privateKey;
  if (privateKey.length === 0 || privateKey.length > size) {
    checkPrivateKeySize(scheme, privateKey, size);
  }
  const padded = new Uint8Array(size);
  padded.set(privateKey, size - privateKey.length);
  return padded;
}
