/**
 * @trellis/dmls: decentralised MLS. Epochs may fork when commits cross; every branch stays
 * readable and forks are merged again by resolving commits (ARCHITECTURE.md).
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
export { backoffMs, chooseBase } from './base.js';
export { DEFAULT_RETENTION, retentionStage, type RetentionPolicy } from './retention.js';
export {
  DmlsGroup,
  type DmlsGroupOptions,
  type DmlsSnapshot,
  type EpochNode,
  type EpochRecord,
  type HeldSecrets,
  type Received,
  type ResolutionPlan,
  type RoomEvent,
} from './group.js';
export {
  fromBase64,
  parsePlaintext,
  parseRoomEvent,
  parseWelcome,
  ROOM_EVENT_TYPE,
  toBase64,
  type Plaintext,
  type RoomEventContent,
  type WelcomeContent,
} from './wire.js';
