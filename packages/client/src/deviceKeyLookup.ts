/**
 * The published signature keys dMLS checks every leaf against (`DmlsGroupOptions.deviceKeys`),
 * answered from the device directory:
 *
 * - the pinned key, for a device ever seen in its user's device list (a device that has since
 *   logged out keeps it: older epochs still have its leaf);
 * - `null`, once a query started after the question came up answered for the user without
 *   that device: its user never published it;
 * - `{ untrusted }`, for a listed device the trust policy does not trust (deviceTrust.ts),
 *   once a query started after the question came up still shows it so;
 * - `undefined` otherwise: the user is marked for fetching, and the group is asked again
 *   (`retry`) after the next refresh.
 */
import { deviceOf, type DeviceKeys } from '@trellis/dmls';
import type { DeviceDirectory } from './devices.js';

/** Unknown devices remembered at most; beyond, the oldest questions are asked afresh. */
const MAX_ASKED = 10_000;

export class DeviceKeyLookup {
  /** Device → the directory's query count when the question first came up. */
  private readonly asked = new Map<string, number>();

  constructor(private readonly directory: DeviceDirectory) {}

  /** The lookup in the form dMLS takes. */
  readonly keys: DeviceKeys = (identity) => this.lookup(identity);

  lookup(identity: string): ReturnType<DeviceKeys> {
    let userId: string;
    let deviceId: string;
    try {
      ({ userId, deviceId } = deviceOf(identity));
    } catch {
      return null; // not a device name at all
    }
    const pinned = this.directory.pinnedKey(identity);
    if (pinned) {
      const trust = this.directory.trustOf(userId, deviceId);
      if (trust === undefined || trust.trusted) return pinned;
      // A signature uploaded a moment ago may not be in the answer this one came from.
      return this.answeredSinceAsked(identity, userId) ? { untrusted: trust.message } : undefined;
    }
    return this.answeredSinceAsked(identity, userId) ? null : undefined;
  }

  /**
   * Whether the user's device list was fetched since the question about `identity` first came
   * up; if not, the user is marked for fetching.
   */
  private answeredSinceAsked(identity: string, userId: string): boolean {
    const since = this.asked.get(identity);
    if (since === undefined) {
      this.asked.set(identity, this.directory.queries);
      if (this.asked.size > MAX_ASKED) this.asked.delete(this.asked.keys().next().value!);
      this.directory.markDirty([userId]);
      return false;
    }
    if (this.directory.answeredSince(userId, since) && this.directory.isKnown(userId)) return true;
    if (this.directory.isKnown(userId)) this.directory.markDirty([userId]);
    return false;
  }
}
