/**
 * The key check of Matrix secret storage, which MSC3270 and MSC4038 put in the backup version's
 * `auth_data`: 32 zero bytes encrypted with aes-hmac-sha2 under the empty name; `iv` and `mac`
 * are kept, the ciphertext is dropped. A device recomputes the MAC with the stored IV to learn
 * whether a typed recovery key or passphrase is right before it uses the key for anything.
 */
import { timingSafeEqual } from 'node:crypto';
import { decodeBase64, encodeBase64 } from './encoding.js';
import { BackupError } from './errors.js';
import { checkIv, encryptAesHmacSha2, MAC_SIZE } from './sessionCrypto.js';

const ZEROS = new Uint8Array(32);
const KEY_CHECK_NAME = '';

/** `iv` and `mac`, unpadded base64, as stored in `auth_data` (or a secret-storage key). */
export interface KeyCheck {
  iv: string;
  mac: string;
}

export function computeKeyCheck(key: Uint8Array, iv?: Uint8Array): KeyCheck {
  const { iv: usedIv, mac } = encryptAesHmacSha2(key, KEY_CHECK_NAME, ZEROS, iv);
  return { iv: encodeBase64(usedIv), mac: encodeBase64(mac) };
}

/**
 * Throws `WRONG_KEY` unless `key` is the key the check was made with; a check that is not two
 * base64 strings of the right sizes is `MALFORMED_AUTH_DATA`, and one whose IV has bit 63 set
 * (which writers must clear) is `INVALID_IV`.
 */
export function verifyKeyCheck(key: Uint8Array, check: { iv?: unknown; mac?: unknown }): void {
  if (typeof check.iv !== 'string' || typeof check.mac !== 'string') {
    throw new BackupError('MALFORMED_AUTH_DATA', 'the key check needs `iv` and `mac` strings');
  }
  const iv = decodeBase64(check.iv, 'auth_data.iv');
  const mac = decodeBase64(check.mac, 'auth_data.mac');
  checkIv(iv, 'MALFORMED_AUTH_DATA');
  if (mac.length !== MAC_SIZE) {
    throw new BackupError('MALFORMED_AUTH_DATA', 'the key check has a MAC of the wrong size');
  }
  const expected = encryptAesHmacSha2(key, KEY_CHECK_NAME, ZEROS, iv);
  if (!timingSafeEqual(expected.mac, mac)) {
    throw new BackupError('WRONG_KEY', 'this is not the key of the backup: the key check fails');
  }
}
