/**
 * Calls into @trellis/backup, whose primitives (aes-hmac-sha2, recovery keys, PBKDF2, base64)
 * this package reuses, with its BackupErrors given this package's codes.
 */
import { BackupError, type BackupErrorCode } from '@trellis/backup';
import { MatrixError, type MatrixErrorCode } from './errors.js';

const BACKUP_TO_MATRIX: Partial<Record<BackupErrorCode, MatrixErrorCode>> = {
  INVALID_KEY: 'SECRET_STORAGE_INVALID_KEY',
  WRONG_KEY: 'SECRET_STORAGE_WRONG_KEY',
  BAD_MAC: 'SECRET_STORAGE_BAD_MAC',
  INVALID_IV: 'SECRET_STORAGE_INVALID_IV',
  INVALID_BASE64: 'INVALID_BASE64',
  MALFORMED_AUTH_DATA: 'SECRET_STORAGE_MALFORMED',
  MALFORMED_SESSION: 'SECRET_STORAGE_MALFORMED',
  INVALID_PASSPHRASE_INFO: 'INVALID_PASSPHRASE_INFO',
  UNSUPPORTED_ALGORITHM: 'SECRET_STORAGE_UNSUPPORTED_ALGORITHM',
  RECOVERY_KEY_CHARACTER: 'INVALID_RECOVERY_KEY',
  RECOVERY_KEY_LENGTH: 'INVALID_RECOVERY_KEY',
  RECOVERY_KEY_PREFIX: 'INVALID_RECOVERY_KEY',
  RECOVERY_KEY_PARITY: 'INVALID_RECOVERY_KEY',
};

/** Runs a @trellis/backup call, giving its BackupError this package's code (kept as `cause`). */
export function fromBackup<T>(run: () => T): T {
  try {
    return run();
  } catch (e) {
    if (!(e instanceof BackupError)) throw e;
    const code = BACKUP_TO_MATRIX[e.code] ?? 'SECRET_STORAGE_MALFORMED';
    throw new MatrixError(code, e.message, { cause: e });
  }
}
