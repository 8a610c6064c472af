/**
 * The one error type this package throws. `code` is stable and machine-readable; `message` is
 * for people. MLS decoding failures inside a group export surface as the engine's `MlsError`
 * instead, with its own codes; nothing else escapes.
 */
export const BACKUP_ERROR_CODES = [
  // Recovery keys (Matrix appendix "Cryptographic key representation").
  'RECOVERY_KEY_CHARACTER',
  'RECOVERY_KEY_LENGTH',
  'RECOVERY_KEY_PREFIX',
  'RECOVERY_KEY_PARITY',
  // Keys and their derivation.
  'INVALID_KEY',
  'INVALID_PASSPHRASE_INFO',
  'WRONG_KEY',
  // Encrypted data (aes-hmac-sha2).
  'INVALID_BASE64',
  'BAD_MAC',
  'INVALID_IV',
  // Backup versions and sessions (room_keys JSON).
  'UNSUPPORTED_ALGORITHM',
  'MALFORMED_AUTH_DATA',
  'MALFORMED_SESSION',
  'MISSING_SESSION',
  'INVALID_SESSION_ID',
  'SESSION_MISMATCH',
  // Group exports and member sets.
  'UNSUPPORTED_VERSION',
  'MALFORMED_EXPORT',
  'MISSING_MEMBER_SET',
  'MEMBER_SET_MISMATCH',
  // A caller passed something this package cannot use (not received data).
  'INVALID_ARGUMENT',
] as const;

export type BackupErrorCode = (typeof BACKUP_ERROR_CODES)[number];

export class BackupError extends Error {
  override readonly name = 'BackupError';
  constructor(
    readonly code: BackupErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A received value as an error message shows it: a string quoted, a number, boolean or null as
 * it is, anything else by its kind only. Not JSON.stringify: a received value may be nested
 * deeply enough to overflow the stack, and then a RangeError, not a BackupError, would leave the
 * package (found by fuzzing).
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}
