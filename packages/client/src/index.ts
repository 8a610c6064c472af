/**
 * @trellis/client: the Trellis client SDK. A `Client` is one device: it logs in, keeps its
 * KeyPackage stock, follows encrypted rooms over dMLS, syncs, joins by Welcome, backfills,
 * backs up epochs and restores history, and cross-signs its user's devices with the keys kept in
 * secret storage under the backup's recovery key. The SQLite store is `@trellis/client/sqlite`.
 */
export {
  Client,
  DEFAULT_SUITE,
  type ClientOptions,
  type CreateRoomOptions,
  type Credentials,
  type RestoreProgress,
  type RestoreReport,
} from './client.js';
export { ClientError, CLIENT_ERROR_CODES, isMatrixError, type ClientErrorCode } from './errors.js';
export type { ClientEvents, MessageSource } from './events.js';
export { MatrixHttp } from './http.js';
export type { ClientEvent } from './clientEvent.js';
export type { HttpOptions, RetryInfo } from './httpTransport.js';
export { backoffDelay, DEFAULT_RETRY, type RetryPolicy } from './retry.js';
export { MemoryStore, type Store } from './store.js';
export {
  CAP_MS,
  QUIET_MS,
  waitForProgress,
  WaitFailure,
  type WaitLimits,
  type Watched,
} from './progress.js';
export type { BackupInfo, EnableBackupOptions } from './backup.js';
export {
  ClientCrossSigning,
  type CrossSigningState,
  type SetUpCrossSigningOptions,
} from './clientCrossSigning.js';
export {
  checkDeviceSignature,
  type DeviceSignatureCheck,
  type DeviceSignatureFault,
} from './crossSigning.js';
export type { KeysQueryAnswer } from './http.js';
export { DEFAULT_STOCK, type StockPolicy } from './keyPackages.js';
export { GROUP_METADATA_EXTENSION, type GroupMetadata } from './metadata.js';
export { SIGNATURE_KEY_ALGORITHM } from './devices.js';
export type { DeviceTrust, DeviceTrustState, TrustPolicy, UntrustedReason } from './deviceTrust.js';
export type { Room } from './rooms.js';
export { REJOIN_EVENT_TYPE, type RejoinContent } from './rejoin.js';
