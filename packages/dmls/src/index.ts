/**
 * @trellis/dmls: decentralised MLS. Epochs may fork when commits cross; every branch stays
 * readable and forks are merged again by resolving commits (docs/dmls.md).
 */
export { DmlsError, DMLS_ERROR_CODES, type DmlsErrorCode } from './errors.js';
export {
  deviceOf,
  epochKey,
  identityBytes,
  identityOf,
  sameEpoch,
  type Device,
  type EpochId,
} from './ids.js';
export { backoffMs, chooseBase, crossedRounds } from './base.js';
export { DEFAULT_RETENTION, retentionStage, type RetentionPolicy } from './retention.js';
export {
  COMMIT_DATA_EXTENSION,
  commitDataOf,
  encodeCommitData,
  type CommitData,
  type CommitDataInput,
  type EpochRef,
} from './commitData.js';
export { isUntrusted, type DeviceKeys, type UntrustedDevice } from './membership.js';
export type { EpochNode, HeldSecrets } from './graph.js';
export type { RoomEvent } from './waiting.js';
export type { DmlsSnapshot, EpochRecord } from './snapshot.js';
export {
  DmlsGroup,
  type DmlsGroupOptions,
  type Received,
  type ResolutionPlan,
  type RoomView,
} from './group.js';
export {
  fromBase64,
  parsePlaintext,
  parseRoomEvent,
  parseWelcome,
  ROOM_EVENT_TYPE,
  roomEventContent,
  toBase64,
  type Plaintext,
  type RoomEventContent,
  type WelcomeContent,
} from './wire.js';
