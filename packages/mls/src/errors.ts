/**
 * The one error type the engine throws. `code` is stable and machine-readable;
 * `message` is for people. Decoders, validators and crypto all report through it,
 * so callers can branch on `code` without parsing text.
 */
export const MLS_ERROR_CODES = [
  // Codec (RFC 9420 §2.1): malformed encodings.
  'TRUNCATED',
  'TRAILING_BYTES',
  'INVALID_VARINT',
  'NON_MINIMAL_VARINT',
  'OVERSIZE',
  'UNKNOWN_ENUM',
  'INVALID_OPTIONAL',
  'INVALID_VALUE',
  'UNSUPPORTED_VERSION',
  // Crypto.
  'UNSUPPORTED_CIPHER_SUITE',
  'INVALID_KEY',
  'INVALID_LENGTH',
  'AEAD_FAILURE',
  'BAD_SIGNATURE',
  'KEM_FAILURE',
  // Authentication of framed content and epochs.
  'BAD_MEMBERSHIP_TAG',
  'BAD_CONFIRMATION_TAG',
  'WRONG_GROUP',
  'WRONG_EPOCH',
  'WRONG_WIRE_FORMAT',
  'WRONG_CONTENT_TYPE',
  'INVALID_SENDER',
  'INVALID_PADDING',
  'GENERATION_REUSED',
  'GENERATION_TOO_OLD',
  'GENERATION_TOO_FAR',
  /** The ratchet a message needs was deleted (a decrypt-only epoch reader keeps only some). */
  'RATCHET_DELETED',
  // Ratchet tree.
  'INVALID_TREE',
  'BAD_TREE_HASH',
  'BAD_PARENT_HASH',
  'INVALID_LEAF_NODE',
  'INVALID_PATH',
  'DUPLICATE_KEY',
  // Key packages, credentials, capabilities.
  'INVALID_KEY_PACKAGE',
  'KEY_PACKAGE_EXPIRED',
  'INVALID_CREDENTIAL',
  'UNSUPPORTED_CAPABILITY',
  // Proposals and commits.
  'INVALID_PROPOSAL',
  'INVALID_PROPOSAL_LIST',
  'UNKNOWN_PROPOSAL_REF',
  'PATH_REQUIRED',
  'INVALID_COMMIT',
  'REMOVED_SENDER',
  /**
   * An authentic commit from this member's own leaf: only the pending state kept when it was
   * created can take it in (§12.4.2 has the committer apply its own commit that way).
   */
  'OWN_COMMIT',
  // Welcome, GroupInfo, PSKs.
  'INVALID_WELCOME',
  'NO_MATCHING_KEY_PACKAGE',
  'INVALID_GROUP_INFO',
  'MISSING_PSK',
  'INVALID_PSK',
  'MISSING_RATCHET_TREE',
  // State.
  'INVALID_STATE',
] as const;

export type MlsErrorCode = (typeof MLS_ERROR_CODES)[number];

export class MlsError extends Error {
  override readonly name = 'MlsError';
  constructor(
    readonly code: MlsErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Throws `MlsError(code, message)` unless `condition` holds. */
export function check(condition: unknown, code: MlsErrorCode, message: string): asserts condition {
  if (!condition) throw new MlsError(code, message);
}
