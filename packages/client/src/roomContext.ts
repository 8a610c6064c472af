/**
 * What a room needs from its client: the shared parts (store, HTTP, device, directory, backup,
 * events) and the settings of its background work. The modules of a room take this or a part.
 */
import type { RetentionPolicy } from '@trellis/dmls';
import type { CryptoProvider } from '@trellis/mls';
import { randomBytes } from 'node:crypto';
import type { KeyBackup } from './backup.js';
import type { DeviceKeyLookup } from './deviceKeyLookup.js';
import type { DeviceDirectory } from './devices.js';
import type { ClientEvents, Emitter } from './events.js';
import type { MatrixHttp } from './http.js';
import type { DeviceIdentity } from './keyPackages.js';
import type { Store } from './store.js';

/** What a room needs from its client. */
export interface RoomContext {
  readonly store: Store;
  readonly http: MatrixHttp;
  readonly device: DeviceIdentity;
  /** `userId|deviceId` of this device. */
  readonly identity: string;
  readonly provider: CryptoProvider;
  readonly retention: RetentionPolicy | undefined;
  /** Time for the retention policy (ms). */
  readonly clock: () => number;
  /** Back-off slot for resolving commits (`backoffMs(rank, slot)`). */
  readonly slotMs: number;
  /** Most commit events fetched for one backfill. */
  readonly maxBackfill: number;
  /** Most devices one commit adds. */
  readonly maxAddsPerCommit: number;
  readonly directory: DeviceDirectory;
  /** Published device keys, for dMLS to check leaves against. */
  readonly keyLookup: DeviceKeyLookup;
  /** Least time between two rejoin requests of this device in one room. */
  readonly rejoinIntervalMs: number;
  /** How long a joined device without a group waits for a Welcome before asking to rejoin. */
  readonly welcomeWaitMs: number;
  /** A KeyPackage of this device for a rejoin request: stored, not uploaded. */
  localKeyPackage(): { ref: string; value: string; expiresAt: number };
  readonly backup: KeyBackup;
  readonly events: Emitter<ClientEvents>;
  /** Fetches device lists that are out of date. */
  refreshDevices(): Promise<void>;
  /** Something was sealed for the backup: upload it soon. */
  backupChanged(): void;
  reportError(error: unknown, context: string): void;
}

/** A transaction id for a room event: unique per device, so a repeated send is one event. */
export function newTxnId(): string {
  return `trellis.${Date.now().toString(36)}.${randomBytes(8).toString('hex')}`;
}
