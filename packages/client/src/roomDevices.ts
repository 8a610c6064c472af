/**
 * The devices a room's group should hold: every Trellis device of every joined user (this one
 * included, while joined). A device whose KeyPackage could not be claimed lately is left out of
 * resolutions for a while, unless it is a member already, so that one bad device does not stop
 * the others from being added.
 */
import type { DeviceDirectory } from './devices.js';
import { joinedUsers, type RoomRecord } from './roomRecord.js';

/** How long a device whose KeyPackage could not be claimed is left out of resolutions. */
const UNAVAILABLE_MS = 60_000;

export class RoomDevices {
  /** Devices left out, and until when (ms). */
  private readonly unavailable = new Map<string, number>();

  constructor(
    private readonly directory: DeviceDirectory,
    /** `userId|deviceId` of this device. */
    private readonly identity: string,
  ) {}

  /** The room's devices; `members`: those of the current epoch, kept even if unavailable. */
  of(record: RoomRecord, members: ReadonlyMap<string, number> | undefined): string[] {
    const out = new Set<string>();
    for (const userId of joinedUsers(record)) {
      for (const d of this.directory.devicesOf(userId)) out.add(d.identity);
    }
    if (record.membership === 'join') out.add(this.identity);
    const now = Date.now();
    for (const [identity, until] of this.unavailable) {
      if (until < now) this.unavailable.delete(identity);
      else if (!members?.has(identity)) out.delete(identity);
    }
    return [...out];
  }

  /** Whether every joined user's device list is known (else the room's devices are not). */
  known(record: RoomRecord): boolean {
    return joinedUsers(record).every((u) => this.directory.isKnown(u));
  }

  markUnavailable(identity: string): void {
    this.unavailable.set(identity, Date.now() + UNAVAILABLE_MS);
  }
}
