/**
 * Backup keys from passphrases: `m.pbkdf2` of Matrix secret storage. PBKDF2 with HMAC-SHA-512
 * over the passphrase (UTF-8) and the salt string (UTF-8), `iterations` rounds, `bits` (256)
 * bits of output. The parameters travel in the backup's `auth_data.passphrase`, so that any of
 * the user's devices can derive the same key.
 */
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { encodeBase64 } from './encoding.js';
import { BackupError, describeValue } from './errors.js';
import { BACKUP_KEY_SIZE } from './recoveryKey.js';

/** Matrix's name for the derivation (secret storage, "Deriving keys from passphrases"). */
export const PBKDF2_ALGORITHM = 'm.pbkdf2';

/**
 * Iterations for new passphrases. OWASP's 2023 guidance for PBKDF2-HMAC-SHA-512 is 210,000; this
 * is nearly three times that (about a second on a current laptop, once per restore), because a
 * backup passphrase guards every old message and the `auth_data` that lets anyone test guesses
 * offline is on the server.
 */
export const DEFAULT_PBKDF2_ITERATIONS = 600_000;

/**
 * The most iterations a received `auth_data` may ask for: whoever controls the server could
 * otherwise make a device spin for hours. Ten million is about 16 s of work.
 */
export const MAX_PBKDF2_ITERATIONS = 10_000_000;

const KEY_BITS = BACKUP_KEY_SIZE * 8;

/** The `passphrase` property of `auth_data` (and of a secret-storage key description). */
export interface PassphraseInfo {
  algorithm: typeof PBKDF2_ALGORITHM;
  salt: string;
  iterations: number;
  bits?: number;
}

/** Parameters for a new passphrase: a fresh random salt (192 bits) and the iteration count. */
export function newPassphraseInfo(options: { iterations?: number } = {}): PassphraseInfo {
  const info: PassphraseInfo = {
    algorithm: PBKDF2_ALGORITHM,
    salt: encodeBase64(randomBytes(24)),
    iterations: options.iterations ?? DEFAULT_PBKDF2_ITERATIONS,
    bits: KEY_BITS,
  };
  return parsePassphraseInfo(info);
}

/**
 * Checks received passphrase parameters: algorithm `m.pbkdf2` (else `UNSUPPORTED_ALGORITHM`), a
 * non-empty salt, 1 to MAX_PBKDF2_ITERATIONS iterations, and `bits` absent or 256 (the size of a
 * backup key); anything else is `INVALID_PASSPHRASE_INFO`.
 */
export function parsePassphraseInfo(json: unknown): PassphraseInfo {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new BackupError('INVALID_PASSPHRASE_INFO', 'the passphrase information is not an object');
  }
  const { algorithm, salt, iterations, bits } = json as Record<string, unknown>;
  if (algorithm !== PBKDF2_ALGORITHM) {
    throw new BackupError(
      'UNSUPPORTED_ALGORITHM',
      `passphrase algorithm ${describeValue(algorithm)} is not ${PBKDF2_ALGORITHM}`,
    );
  }
  if (typeof salt !== 'string' || salt.length === 0) {
    throw new BackupError('INVALID_PASSPHRASE_INFO', 'the PBKDF2 salt is not a non-empty string');
  }
  if (
    typeof iterations !== 'number' ||
    !Number.isSafeInteger(iterations) ||
    iterations < 1 ||
    iterations > MAX_PBKDF2_ITERATIONS
  ) {
    throw new BackupError(
      'INVALID_PASSPHRASE_INFO',
      `PBKDF2 iterations must be an integer from 1 to ${MAX_PBKDF2_ITERATIONS}`,
    );
  }
  if (bits !== undefined && bits !== KEY_BITS) {
    throw new BackupError(
      'INVALID_PASSPHRASE_INFO',
      `a backup key has ${KEY_BITS} bits, not ${describeValue(bits)}`,
    );
  }
  return { algorithm, salt, iterations, ...(bits !== undefined && { bits: KEY_BITS }) };
}

/** The 32-byte key a passphrase stands for under the given parameters. */
export function deriveKeyFromPassphrase(passphrase: string, info: PassphraseInfo): Uint8Array {
  if (typeof passphrase !== 'string') {
    throw new BackupError('INVALID_KEY', 'a passphrase is a string');
  }
  const checked = parsePassphraseInfo(info);
  return new Uint8Array(
    pbkdf2Sync(passphrase, checked.salt, checked.iterations, BACKUP_KEY_SIZE, 'sha512'),
  );
}
