/**
 * `aes-hmac-sha2`, the symmetric scheme of Matrix secret storage (`m.secret_storage.v1.
 * aes-hmac-sha2`), which MSC4038 (through MSC3270) uses for each backed-up session:
 *
 * 1. HKDF-SHA-256 of the key with 32 zero bytes of salt and the name (for a backup: the session
 *    id) as info gives 64 bytes: an AES-256 key, then an HMAC-SHA-256 key.
 * 2. AES-256-CTR under a random 16-byte IV whose bit 63 is cleared (so that implementations
 *    with 64-bit and 128-bit counters agree). node:crypto counts over all 128 bits; matrix-js-sdk
 *    (WebCrypto `length: 64`) wraps the low 64. An IV with bit 63 set is the one case where the
 *    two can differ, and the specification forbids writers to produce it, so it is refused
 *    (`INVALID_IV`) both ways rather than decrypted into something its writer did not mean.
 * 3. HMAC-SHA-256 over the ciphertext.
 *
 * Because the name is the HKDF info, data encrypted under one session id does not decrypt
 * under another: a server cannot move an entry. The MAC does not cover the IV (the scheme's
 * design); an altered IV only turns the plaintext into noise the caller's parser refuses,
 * since without the key nobody can predict the key stream of another IV.
 */
import { createCipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { decodeBase64, encodeBase64, utf8 } from './encoding.js';
import { BackupError, type BackupErrorCode } from './errors.js';
import { checkKeySize } from './recoveryKey.js';

export const IV_SIZE = 16;
export const MAC_SIZE = 32;
const HKDF_SALT = new Uint8Array(32);

/** Encrypted data as bytes. */
export interface AesHmacSha2Data {
  readonly iv: Uint8Array;
  readonly ciphertext: Uint8Array;
  readonly mac: Uint8Array;
}

/** Encrypted data as Matrix JSON carries it (`AesHmacSha2EncryptedData`, backup session_data). */
export interface AesHmacSha2Json {
  iv: string;
  ciphertext: string;
  mac: string;
}

function deriveKeys(key: Uint8Array, name: string): { aesKey: Buffer; macKey: Buffer } {
  checkKeySize(key);
  const okm = Buffer.from(hkdfSync('sha256', key, HKDF_SALT, utf8(name), 64));
  return { aesKey: okm.subarray(0, 32), macKey: okm.subarray(32, 64) };
}

function aesCtr(aesKey: Buffer, iv: Uint8Array, data: Uint8Array): Uint8Array {
  const cipher = createCipheriv('aes-256-ctr', aesKey, iv);
  return new Uint8Array(Buffer.concat([cipher.update(data), cipher.final()]));
}

function mac(macKey: Buffer, ciphertext: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha256', macKey).update(ciphertext).digest());
}

/**
 * Checks an IV: 16 bytes (else `code`) with bit 63, the top bit of byte 8, clear (else
 * `INVALID_IV`).
 */
export function checkIv(iv: Uint8Array, code: BackupErrorCode): void {
  if (iv.length !== IV_SIZE) {
    throw new BackupError(code, `the IV has ${iv.length} bytes, not ${IV_SIZE}`);
  }
  if ((iv[8]! & 0x80) !== 0) {
    throw new BackupError(
      'INVALID_IV',
      'the IV has bit 63 set, which writers must clear: its 64-bit and 128-bit AES-CTR ' +
        'counters could differ',
    );
  }
}

/** A fresh IV: 16 random bytes with bit 63 cleared. */
export function freshIv(): Uint8Array {
  const iv = new Uint8Array(randomBytes(IV_SIZE));
  iv[8]! &= 0x7f;
  return iv;
}

/**
 * Encrypts `plaintext` under `key` for `name`. `iv` is for vectors and for recomputing a key
 * check with its stored IV (used as it is, and refused like a received one if bit 63 is set);
 * by default it is fresh.
 */
export function encryptAesHmacSha2(
  key: Uint8Array,
  name: string,
  plaintext: Uint8Array,
  iv: Uint8Array = freshIv(),
): AesHmacSha2Data {
  checkIv(iv, 'MALFORMED_SESSION');
  const { aesKey, macKey } = deriveKeys(key, name);
  const ciphertext = aesCtr(aesKey, iv, plaintext);
  return { iv: Uint8Array.from(iv), ciphertext, mac: mac(macKey, ciphertext) };
}

/**
 * Decrypts data encrypted for `name`. The MAC is checked first and in constant time; a wrong
 * key, a wrong name and any change to the ciphertext or MAC all give `BAD_MAC`. Then the IV:
 * of the wrong size `MALFORMED_SESSION`, with bit 63 set `INVALID_IV`.
 */
export function decryptAesHmacSha2(
  key: Uint8Array,
  name: string,
  data: AesHmacSha2Data,
): Uint8Array {
  const { aesKey, macKey } = deriveKeys(key, name);
  const expected = mac(macKey, data.ciphertext);
  if (data.mac.length !== MAC_SIZE || !timingSafeEqual(expected, data.mac)) {
    throw new BackupError(
      'BAD_MAC',
      `the MAC of ${JSON.stringify(name)} does not verify: wrong key, wrong name, or altered data`,
    );
  }
  checkIv(data.iv, 'MALFORMED_SESSION');
  return aesCtr(aesKey, data.iv, data.ciphertext);
}

export function toAesHmacSha2Json(data: AesHmacSha2Data): AesHmacSha2Json {
  return {
    iv: encodeBase64(data.iv),
    ciphertext: encodeBase64(data.ciphertext),
    mac: encodeBase64(data.mac),
  };
}

/**
 * Reads `{iv, ciphertext, mac}` from received JSON: each a base64 string (padded or not). A
 * missing or mistyped field is `code`, chosen by the caller (its context knows what was wrong).
 */
export function parseAesHmacSha2Json(
  json: unknown,
  what: string,
  code: BackupErrorCode,
): AesHmacSha2Data {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new BackupError(code, `${what} is not an object`);
  }
  const field = (name: 'iv' | 'ciphertext' | 'mac'): Uint8Array => {
    const value = (json as Record<string, unknown>)[name];
    if (typeof value !== 'string') throw new BackupError(code, `${what}.${name} is not a string`);
    return decodeBase64(value, `${what}.${name}`);
  };
  return { iv: field('iv'), ciphertext: field('ciphertext'), mac: field('mac') };
}
