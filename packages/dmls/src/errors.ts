/** Errors of the decentralised layer, with stable codes like the engine's `MlsError`. */
export const DMLS_ERROR_CODES = [
  /** A room event or to-device content that is not what the wire format says. */
  'MALFORMED_EVENT',
  /** The message names an epoch whose keys were deleted under the retention policy. */
  'EPOCH_EXPIRED',
  /** The message names an epoch this device is not a member of. */
  'NOT_A_MEMBER',
  /** The event's claimed sender is not the device that signed the MLS message. */
  'SENDER_MISMATCH',
  /** An operation that needs a converged group or a member state was called without one. */
  'NOT_READY',
  /** The room uses a cipher suite or algorithm this device does not. */
  'UNSUPPORTED_ALGORITHM',
  /** A commit's authenticated fork metadata is missing, malformed or disagrees with the event. */
  'INVALID_METADATA',
  /**
   * A commit resolves an epoch it may not: unknown to its tag, its own base, an ancestor or a
   * descendant of its base, or an epoch that was refused.
   */
  'INVALID_RESOLVES',
  /** A merge keeps a device that a branch it resolves removed (removals are monotone). */
  'REMOVAL_UNDONE',
  /** A leaf's signature key is not the one its user published for that device. */
  'KEY_MISMATCH',
  /**
   * A leaf of a device the application does not trust (its user did not sign it, under the
   * application's trust policy): see `DeviceKeys`.
   */
  'UNTRUSTED_DEVICE',
  /** Two leaves of one tree claim the same device. */
  'DUPLICATE_IDENTITY',
  /**
   * A commit this device's key signed that it keeps no pending state for (lost in a crash
   * between sending and saving, or its state cloned elsewhere): it cannot follow that branch
   * and should ask to be added again.
   */
  'OWN_COMMIT_LOST',
] as const;

export type DmlsErrorCode = (typeof DMLS_ERROR_CODES)[number];

export class DmlsError extends Error {
  override readonly name = 'DmlsError';
  constructor(
    readonly code: DmlsErrorCode,
    message: string,
  ) {
    super(message);
  }
}
