/**
 * The one error type this package throws. `code` is stable and machine-readable; `message` is
 * for people. Errors of @trellis/backup, whose secret-storage primitives this package reuses,
 * are translated into these codes (the original is kept as `cause`).
 */
export const MATRIX_ERROR_CODES = [
  // Canonical JSON (appendix "Canonical JSON").
  /** A number that is not an integer (a float, NaN, an infinity). */
  'JSON_NOT_INTEGER',
  /** An integer outside [-(2**53)+1, (2**53)-1]. */
  'JSON_INTEGER_RANGE',
  /** A string with a lone surrogate, which has no UTF-8 encoding. */
  'JSON_INVALID_STRING',
  /** A value JSON has no form for (undefined, a function, a bigint, a Map, a Date ...). */
  'JSON_UNSUPPORTED_VALUE',
  /** Nesting deeper than MAX_JSON_DEPTH (or a cycle). */
  'JSON_TOO_DEEP',
  // Signed JSON (appendix "Signing JSON").
  'MALFORMED_SIGNED_JSON',
  'INVALID_BASE64',
  'INVALID_KEY',
  'SIGNATURE_MISSING',
  'SIGNATURE_MALFORMED',
  'BAD_SIGNATURE',
  // Cross-signing keys (client-server API, "Cross-signing").
  'CROSS_SIGNING_MALFORMED',
  'CROSS_SIGNING_USAGE',
  'CROSS_SIGNING_USER_MISMATCH',
  'CROSS_SIGNING_KEY_COUNT',
  'CROSS_SIGNING_KEY_ID',
  'DEVICE_KEYS_MALFORMED',
  // Secret storage (client-server API, "Secrets").
  'SECRET_STORAGE_UNSUPPORTED_ALGORITHM',
  'SECRET_STORAGE_MALFORMED',
  'SECRET_STORAGE_INVALID_KEY',
  'SECRET_STORAGE_WRONG_KEY',
  'SECRET_STORAGE_BAD_MAC',
  'SECRET_STORAGE_INVALID_IV',
  'SECRET_STORAGE_MISSING_KEY',
  'INVALID_PASSPHRASE_INFO',
  'INVALID_RECOVERY_KEY',
  // SAS verification (client-server API, "Short Authentication String (SAS) verification").
  'SAS_INVALID_ARGUMENT',
  'SAS_MISMATCHED_COMMITMENT',
  'SAS_MISMATCHED_MAC',
] as const;

export type MatrixErrorCode = (typeof MATRIX_ERROR_CODES)[number];

export class MatrixError extends Error {
  override readonly name = 'MatrixError';
  constructor(
    readonly code: MatrixErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A received value as an error message shows it: a string quoted, a number, boolean or null as
 * it is, anything else by its kind only (never JSON.stringify of something deep or cyclic).
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

/** A plain JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
