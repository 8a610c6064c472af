/**
 * @trellis/backup: key backup for MLS (MSC4038) on the Matrix key backup API. A user whose only
 * device is lost can read old messages from the backup with a recovery key or passphrase; the
 * server stores only ciphertext it cannot read. See docs/backup-format.md.
 */
export { BackupError, BACKUP_ERROR_CODES, type BackupErrorCode } from './errors.js';

// Keys
export { BACKUP_KEY_SIZE, decodeRecoveryKey, encodeRecoveryKey } from './recoveryKey.js';
export {
  DEFAULT_PBKDF2_ITERATIONS,
  MAX_PBKDF2_ITERATIONS,
  PBKDF2_ALGORITHM,
  deriveKeyFromPassphrase,
  newPassphraseInfo,
  parsePassphraseInfo,
  type PassphraseInfo,
} from './passphrase.js';
export {
  passphraseAuthFields,
  readAuthDataPassphrase,
  type PrivateKeyPassphraseFields,
} from './authDataPassphrase.js';
export { computeKeyCheck, verifyKeyCheck, type KeyCheck } from './keyCheck.js';
export {
  createBackup,
  parseBackupVersion,
  unlockWithKey,
  unlockWithPassphrase,
  unlockWithRecoveryKey,
  type BackupAuthData,
  type BackupKey,
  type BackupVersionBody,
  type NewBackup,
} from './backupVersion.js';

// Matrix's base64 (unpadded out, strict in)
export { decodeBase64, encodeBase64 } from './encoding.js';

// aes-hmac-sha2
export {
  decryptAesHmacSha2,
  encryptAesHmacSha2,
  parseAesHmacSha2Json,
  toAesHmacSha2Json,
  type AesHmacSha2Data,
  type AesHmacSha2Json,
} from './sessionCrypto.js';

// Sessions and their contents
export {
  creatorIdentity,
  epochSessionId,
  memberSetSessionId,
  parseCreatorIdentity,
  parseSessionId,
  type EpochCreator,
  type ParsedSessionId,
} from './sessionId.js';
export {
  GROUP_EXPORT_VERSION,
  decodeGroupExport,
  encodeGroupExport,
  exportGroupState,
  groupExportCodec,
  readerForExport,
  type GroupExport,
  type MemberSetSource,
} from './groupExport.js';
export {
  DEFAULT_MEMBERS_PER_SET,
  MEMBER_SET_VERSION,
  decodeMemberSet,
  encodeMemberSet,
  memberSetCodec,
  splitMembers,
  type MemberSet,
} from './memberSet.js';
export {
  openEpochSession,
  openMemberSetSession,
  openSession,
  roomKeysBody,
  type KeyBackupData,
  type OpenedSession,
  type RoomKeyBackup,
  type RoomKeysBody,
} from './sessions.js';

// Backing up and restoring
export {
  backupEpoch,
  backupGroupExport,
  type BackupEpochOptions,
  type EpochBackup,
} from './backup.js';
export {
  restoreEpoch,
  restoreRoom,
  restoredEpochFor,
  type MemberSetCache,
  type RestoreOptions,
  type RestoredEpoch,
  type RestoredRoom,
  type SessionLookup,
} from './restore.js';
