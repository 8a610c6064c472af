import { bytesEqual, CredentialType, type GroupState, type LeafNode } from '@trellis/mls';
import { DmlsError } from './errors.js';
import { identityFromBytes } from './ids.js';

/**
 * The signature keys users published for their devices, as the application knows them:
 * the key for `userId|deviceId`, `null` when the user's published device list (fetched again
 * since the question came up) has no such device, or `undefined` when it is not known yet and
 * must be fetched. A device once seen keeps its key (pinned), so a leaf of a device that has
 * since logged out is still recognised in older epochs, and a ghost in its name is refused.
 * (Answering `null` for it once it logged out, like a device never seen, was tried: every
 * device that processes a ghost after the logout then lets it in while the others refused it,
 * a wider split than that of devices that never saw the device; simulation seed 115.)
 *
 * A published device the application does not trust (cross-signing: its user did not sign it)
 * answers `{ untrusted }`, with the reason: a leaf of it is refused `UNTRUSTED_DEVICE`, and the
 * resolver removes it. The application gives that answer only from a device list fetched
 * since the question came up, like `null`, so that a signature uploaded a moment ago is seen.
 */
export type DeviceKeys = (identity: string) => Uint8Array | null | undefined | UntrustedDevice;

export interface UntrustedDevice {
  /** Why the device is not trusted, for the refusal's message. */
  readonly untrusted: string;
}

export function credentialIdentity(leaf: LeafNode): string {
  if (leaf.credential.credentialType !== CredentialType.basic) {
    throw new DmlsError('SENDER_MISMATCH', 'a member without a basic credential');
  }
  return identityFromBytes(leaf.credential.identity);
}

export function identityAt(state: GroupState, leafIndex: number): string {
  const leaf = state.tree.leaf(leafIndex);
  if (!leaf) throw new DmlsError('SENDER_MISMATCH', `leaf ${leafIndex} is blank`);
  return credentialIdentity(leaf);
}

/**
 * Members as identity → leaf index. One leaf per device: a tree where two leaves claim the same
 * device is refused (`DUPLICATE_IDENTITY`), since the room rule ("is this device present?")
 * would otherwise be fooled by a second, foreign leaf.
 */
export function membersOf(state: GroupState): Map<string, number> {
  const out = new Map<string, number>();
  for (const [leafIndex, leaf] of state.tree.members()) {
    const identity = credentialIdentity(leaf);
    if (out.has(identity)) {
      throw new DmlsError('DUPLICATE_IDENTITY', `two leaves claim ${identity}`);
    }
    out.set(identity, leafIndex);
  }
  return out;
}

export function isUntrusted(answer: ReturnType<DeviceKeys>): answer is UntrustedDevice {
  return answer !== null && answer !== undefined && !(answer instanceof Uint8Array);
}

/** The outcome of checking leaves against published device keys. */
export interface LeafCheck {
  /** Devices whose keys must be fetched before the leaves can be judged. */
  readonly unknown: string[];
}

/**
 * Checks that each leaf of a published device carries that device's signature key: a member
 * cannot add a leaf in another device's name ("ghost leaf"). Throws `KEY_MISMATCH`; returns
 * the devices still to look up.
 *
 * A leaf of a device its user does not publish (now) is let in: device lists change (a device
 * logs out after it was added), and devices that look at different moments must not decide
 * the same commit differently, or the group splits. Such a leaf is an offending leaf, which the
 * next commit removes (`offendingLeaves`). A device once seen keeps its key, so a leaf in its
 * name with another key is refused whenever it comes.
 */
export function checkLeaves(leaves: Iterable<LeafNode>, keys: DeviceKeys): LeafCheck {
  const unknown: string[] = [];
  for (const leaf of leaves) {
    const identity = credentialIdentity(leaf);
    const published = keys(identity);
    if (published === undefined) unknown.push(identity);
    else if (isUntrusted(published)) {
      throw new DmlsError('UNTRUSTED_DEVICE', `${identity}: ${published.untrusted}`);
    } else if (published !== null && !bytesEqual(published, leaf.signatureKey)) {
      throw new DmlsError(
        'KEY_MISMATCH',
        `the leaf of ${identity} is not signed with the key its user published`,
      );
    }
  }
  return { unknown };
}

/** Leaves of a tree that fail the device check (untrusted ones too): the resolver removes them. */
export function offendingLeaves(state: GroupState, keys: DeviceKeys): number[] {
  const out: number[] = [];
  const seen = new Set<string>();
  for (const [leafIndex, leaf] of state.tree.members()) {
    let identity: string;
    try {
      identity = credentialIdentity(leaf);
      const published = keys(identity);
      const bad =
        published === null ||
        isUntrusted(published) ||
        (published !== undefined && !bytesEqual(published, leaf.signatureKey));
      if (bad || seen.has(identity)) out.push(leafIndex);
      seen.add(identity);
    } catch {
      out.push(leafIndex);
    }
  }
  return out;
}
