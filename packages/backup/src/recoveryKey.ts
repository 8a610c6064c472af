/**
 * Recovery keys: the Matrix presentation of a 32-byte key (appendix "Cryptographic key
 * representation"). Bytes 0x8B 0x01, the key, then the XOR of all of those as a parity byte;
 * base58 (Bitcoin alphabet); a space after every fourth character. Whitespace is ignored on
 * input. Each way a typed key can be wrong has its own error code, so a user interface can say
 * which.
 */
import { BASE58_ALPHABET, decodeBase58, encodeBase58 } from './base58.js';
import { BackupError } from './errors.js';

export const BACKUP_KEY_SIZE = 32;
const PREFIX = [0x8b, 0x01] as const;
const ENCODED_SIZE = PREFIX.length + BACKUP_KEY_SIZE + 1;
const GROUP = 4;

function parity(bytes: Uint8Array): number {
  let x = 0;
  for (const b of bytes) x ^= b;
  return x;
}

/** Throws `INVALID_KEY` unless `key` is a 32-byte key. */
export function checkKeySize(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== BACKUP_KEY_SIZE) {
    throw new BackupError('INVALID_KEY', `a backup key has ${BACKUP_KEY_SIZE} bytes`);
  }
}

export function encodeRecoveryKey(key: Uint8Array): string {
  checkKeySize(key);
  const bytes = new Uint8Array(ENCODED_SIZE);
  bytes.set(PREFIX);
  bytes.set(key, PREFIX.length);
  bytes[ENCODED_SIZE - 1] = parity(bytes.subarray(0, ENCODED_SIZE - 1));
  const text = encodeBase58(bytes);
  const groups: string[] = [];
  for (let i = 0; i < text.length; i += GROUP) groups.push(text.slice(i, i + GROUP));
  return groups.join(' ');
}

/**
 * The key a recovery key stands for. Refuses characters outside the base58 alphabet
 * (`RECOVERY_KEY_CHARACTER`), a wrong decoded length (`RECOVERY_KEY_LENGTH`), a wrong prefix
 * (`RECOVERY_KEY_PREFIX`) and a parity byte that does not match (`RECOVERY_KEY_PARITY`), in
 * that order.
 */
export function decodeRecoveryKey(recoveryKey: string): Uint8Array {
  if (typeof recoveryKey !== 'string') {
    throw new BackupError('RECOVERY_KEY_CHARACTER', 'a recovery key is a string');
  }
  const text = recoveryKey.replace(/\s+/g, '');
  const bytes = decodeBase58(text);
  if (bytes === undefined) {
    const bad = [...text].findIndex((char) => !BASE58_ALPHABET.includes(char));
    throw new BackupError(
      'RECOVERY_KEY_CHARACTER',
      `the recovery key contains ${JSON.stringify([...text][bad])}, which is not a base58 character`,
    );
  }
  if (bytes.length !== ENCODED_SIZE) {
    throw new BackupError(
      'RECOVERY_KEY_LENGTH',
      `the recovery key decodes to ${bytes.length} bytes, not ${ENCODED_SIZE}`,
    );
  }
  if (bytes[0] !== PREFIX[0] || bytes[1] !== PREFIX[1]) {
    throw new BackupError('RECOVERY_KEY_PREFIX', 'the recovery key does not start with 0x8B 0x01');
  }
  if (parity(bytes) !== 0) {
    // The XOR of the prefix and key equals the parity byte exactly when the XOR of all is 0.
    throw new BackupError(
      'RECOVERY_KEY_PARITY',
      'the recovery key has a typo: its parity byte does not match',
    );
  }
  return bytes.slice(PREFIX.length, PREFIX.length + BACKUP_KEY_SIZE);
}
