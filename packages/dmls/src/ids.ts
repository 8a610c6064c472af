import { IDENTITY_SEPARATOR } from '@trellis/mls';
import { DmlsError } from './errors.js';

/**
 * A device, as Matrix names it and as its MLS credential does: the basic credential's identity
 * is the UTF-8 string `userId|deviceId` (ARCHITECTURE.md). The server refuses device ids with
 * `|`, and Matrix user ids cannot contain one, so the string splits back unambiguously.
 */
export interface Device {
  readonly userId: string;
  readonly deviceId: string;
}

export function identityOf(device: Device): string {
  return `${device.userId}${IDENTITY_SEPARATOR}${device.deviceId}`;
}

export function deviceOf(identity: string): Device {
  const at = identity.lastIndexOf(IDENTITY_SEPARATOR);
  if (at <= 0 || at === identity.length - 1) {
    throw new DmlsError(
      'MALFORMED_EVENT',
      `identity ${JSON.stringify(identity)} is not user|device`,
    );
  }
  return { userId: identity.slice(0, at), deviceId: identity.slice(at + 1) };
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

export function identityBytes(device: Device): Uint8Array {
  return utf8.encode(identityOf(device));
}

export function identityFromBytes(bytes: Uint8Array): string {
  try {
    return fromUtf8.decode(bytes);
  } catch {
    throw new DmlsError('MALFORMED_EVENT', 'credential identity is not UTF-8');
  }
}

/**
 * An epoch of a decentralised group: its MLS epoch number and the device whose commit created
 * it (the group's creator for the first epoch). Two commits on one epoch give two epochs of the
 * same number with different creators.
 */
export interface EpochId {
  readonly epoch: bigint;
  /** `userId|deviceId` of the creator. */
  readonly creator: string;
}

/** A string naming an epoch, for maps. */
export function epochKey(id: EpochId): string {
  return `${id.epoch} ${id.creator}`;
}

export function sameEpoch(a: EpochId, b: EpochId): boolean {
  return a.epoch === b.epoch && a.creator === b.creator;
}
