/** What the trust policy (deviceTrust.ts) makes of a device, and why it refuses one. */

export type TrustPolicy = 'strict' | 'tofu';

/** Why a device is not trusted (stable codes). */
export type UntrustedReason =
  /** Not signed by its user (no cross-signing, or no valid chain to the master key): strict. */
  | 'UNSIGNED'
  /** Signed under a master key that replaced one this client verified, not yet accepted. */
  | 'MASTER_KEY_CHANGED';

export type DeviceTrustState =
  | { readonly trusted: true; readonly signed: boolean }
  | { readonly trusted: false; readonly reason: UntrustedReason; readonly message: string };
