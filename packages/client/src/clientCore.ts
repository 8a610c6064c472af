/**
 * The parts of a client that its modules share (sync processing, Welcomes, room membership,
 * backup): what the `Client` class builds once and hands to them.
 */
import type { CipherSuite } from '@trellis/mls';
import type { DeviceDirectory } from './devices.js';
import type { ClientEvents, Emitter } from './events.js';
import type { ReportError } from './guard.js';
import type { MatrixHttp } from './http.js';
import type { KeyPackageStock } from './keyPackages.js';
import type { RoomRegistry } from './roomRegistry.js';
import type { Store } from './store.js';

export interface ClientCore {
  readonly userId: string;
  readonly suite: CipherSuite;
  readonly store: Store;
  readonly http: MatrixHttp;
  readonly events: Emitter<ClientEvents>;
  readonly directory: DeviceDirectory;
  readonly stock: KeyPackageStock;
  readonly rooms: RoomRegistry;
  /** Whether the client runs (rooms made while it does not start paused). */
  running(): boolean;
  /** Fetches out-of-date device lists (one fetch at a time). */
  refreshDevices(): Promise<void>;
  readonly reportError: ReportError;
}
