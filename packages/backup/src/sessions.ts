/**
 * Backed-up sessions as the Matrix key backup API carries them (`KeyBackupData`), and the JSON
 * each one encrypts.
 *
 * An epoch's `session_data` decrypts to (MSC4038)
 *   `{"algorithm": "m.dmls_backup.v1.aes-hmac-sha2", "room_id": …,
 *     "epoch": [<number>, [<user>, <device>]], "group_export": <unpadded base64 GroupExport>}`
 * and a member set's to
 *   `{"algorithm": "m.dmls_backup.v1.aes-hmac-sha2", "room_id": …, "member_set": <base64>}`.
 * On input the MSC's unstable backup name is accepted too, and so is the room algorithm
 * `m.dmls.v1.<suite>` that the MSC's prose puts there, in which case the suite must match.
 *
 * Opening a session checks everything that binds it to where it was found: the MAC (under the
 * session id, so an entry cannot be moved to another id), the room, the epoch and creator of
 * the session id, and the cipher suite named by the algorithm against the one inside.
 */
import {
  BACKUP_ALGORITHM,
  BACKUP_ALGORITHM_UNSTABLE,
  parseAlgorithm,
  type CipherSuiteId,
} from '@trellis/mls';
import type { BackupKey } from './backupVersion.js';
import { decodeBase64, encodeBase64, fromUtf8, utf8 } from './encoding.js';
import { BackupError, describeValue } from './errors.js';
import { decodeGroupExport, encodeGroupExport, type GroupExport } from './groupExport.js';
import { decodeMemberSet, type MemberSet } from './memberSet.js';
import {
  decryptAesHmacSha2,
  encryptAesHmacSha2,
  parseAesHmacSha2Json,
  toAesHmacSha2Json,
  type AesHmacSha2Json,
} from './sessionCrypto.js';
import { checkCreator, parseSessionId, type EpochCreator } from './sessionId.js';

/** `KeyBackupData` (key_backup_data.yaml) with MSC4038's aes-hmac-sha2 `session_data`. */
export interface KeyBackupData {
  /** Meaningless for MLS; the API requires it and MSC4038 sets it to 0. */
  first_message_index: number;
  forwarded_count: number;
  is_verified: boolean;
  session_data: AesHmacSha2Json;
}

/** `RoomKeyBackup`: the sessions of one room. */
export interface RoomKeyBackup {
  sessions: Record<string, KeyBackupData>;
}

/** The body of `PUT /room_keys/keys` (and of `GET`). */
export interface RoomKeysBody {
  rooms: Record<string, RoomKeyBackup>;
}

export function roomKeysBody(
  roomId: string,
  sessions: Record<string, KeyBackupData>,
): RoomKeysBody {
  return { rooms: { [roomId]: { sessions } } };
}

/** Encrypts a session's JSON under the backup key for its session id. */
export function sealSession(
  key: BackupKey,
  sessionId: string,
  payload: object,
  isVerified: boolean,
): KeyBackupData {
  const encrypted = encryptAesHmacSha2(key, sessionId, utf8(JSON.stringify(payload)));
  return {
    first_message_index: 0,
    forwarded_count: 0,
    is_verified: isVerified,
    session_data: toAesHmacSha2Json(encrypted),
  };
}

export function epochPayload(
  roomId: string,
  creator: EpochCreator,
  groupExport: GroupExport,
): object {
  const epoch = groupExport.context.epoch;
  if (epoch > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new BackupError('INVALID_ARGUMENT', `epoch ${epoch} does not fit a JSON number`);
  }
  checkCreator(creator);
  return {
    algorithm: BACKUP_ALGORITHM,
    room_id: roomId,
    epoch: [Number(epoch), [creator.userId, creator.deviceId]],
    group_export: encodeBase64(encodeGroupExport(groupExport)),
  };
}

export function memberSetPayload(roomId: string, encoded: Uint8Array): object {
  return {
    algorithm: BACKUP_ALGORITHM,
    room_id: roomId,
    member_set: encodeBase64(encoded),
  };
}

/** A decrypted session: an epoch's export, or a member set with its encoding (for its id). */
export type OpenedSession =
  | {
      readonly kind: 'epoch';
      readonly epoch: bigint;
      readonly creator: EpochCreator;
      readonly groupExport: GroupExport;
    }
  | {
      readonly kind: 'member_set';
      readonly id: Uint8Array;
      readonly set: MemberSet;
      readonly encoded: Uint8Array;
    };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Decrypts and checks one backed-up session found under `roomId` and `sessionId`. Errors:
 * `INVALID_SESSION_ID`; `MALFORMED_SESSION` for a `KeyBackupData` or JSON of the wrong shape;
 * `INVALID_BASE64`; `BAD_MAC` (wrong key, wrong session id, altered data); `UNSUPPORTED_ALGORITHM`;
 * `SESSION_MISMATCH` when the content names another room, epoch, creator or suite than where it
 * was found; the group export's and member set's own errors (including `MlsError`s).
 */
export function openSession(
  key: BackupKey,
  roomId: string,
  sessionId: string,
  data: unknown,
): OpenedSession {
  const parsedId = parseSessionId(sessionId);
  if (!isObject(data)) throw new BackupError('MALFORMED_SESSION', 'KeyBackupData is not an object');
  if (!isCount(data.first_message_index) || !isCount(data.forwarded_count)) {
    throw new BackupError(
      'MALFORMED_SESSION',
      'first_message_index and forwarded_count must be non-negative integers',
    );
  }
  if (typeof data.is_verified !== 'boolean') {
    throw new BackupError('MALFORMED_SESSION', 'is_verified must be a boolean');
  }
  const encrypted = parseAesHmacSha2Json(data.session_data, 'session_data', 'MALFORMED_SESSION');
  const plaintext = decryptAesHmacSha2(key, sessionId, encrypted);

  const text = fromUtf8(plaintext);
  let payload: unknown;
  try {
    payload = text === undefined ? undefined : JSON.parse(text);
  } catch {
    payload = undefined;
  }
  if (!isObject(payload)) {
    // With a MAC that verified, this means an altered IV (the MAC does not cover it) or a writer
    // that is not MSC4038.
    throw new BackupError('MALFORMED_SESSION', 'session_data does not decrypt to a JSON object');
  }
  const suite = suiteOf(payload.algorithm);
  if (payload.room_id !== roomId) {
    throw new BackupError(
      'SESSION_MISMATCH',
      `the session is for room ${describeValue(payload.room_id)}, found under ${JSON.stringify(roomId)}`,
    );
  }

  if (parsedId.kind === 'member_set') {
    if (typeof payload.member_set !== 'string') {
      throw new BackupError('MALFORMED_SESSION', 'a member set session has no `member_set`');
    }
    const encoded = decodeBase64(payload.member_set, 'member_set');
    const set = decodeMemberSet(encoded);
    if (suite !== undefined && set.cipherSuite !== suite) {
      throw new BackupError('SESSION_MISMATCH', 'the member set is not of the algorithm’s suite');
    }
    return { kind: 'member_set', id: parsedId.id, set, encoded };
  }

  const named = parseEpochField(payload.epoch);
  if (
    named.epoch !== parsedId.epoch ||
    named.userId !== parsedId.creator.userId ||
    named.deviceId !== parsedId.creator.deviceId
  ) {
    throw new BackupError('SESSION_MISMATCH', `the session's epoch is not ${sessionId}`);
  }
  if (typeof payload.group_export !== 'string') {
    throw new BackupError('MALFORMED_SESSION', 'an epoch session has no `group_export`');
  }
  const groupExport = decodeGroupExport(decodeBase64(payload.group_export, 'group_export'));
  if (suite !== undefined && groupExport.cipherSuite !== suite) {
    throw new BackupError('SESSION_MISMATCH', 'the group export is not of the algorithm’s suite');
  }
  if (groupExport.context.epoch !== parsedId.epoch) {
    throw new BackupError(
      'SESSION_MISMATCH',
      `the group export is of epoch ${groupExport.context.epoch}, not ${parsedId.epoch}`,
    );
  }
  return { kind: 'epoch', epoch: parsedId.epoch, creator: parsedId.creator, groupExport };
}

/** The suite a session's `algorithm` pins, if it names one; anything unknown is refused. */
function suiteOf(algorithm: unknown): CipherSuiteId | undefined {
  if (algorithm === BACKUP_ALGORITHM || algorithm === BACKUP_ALGORITHM_UNSTABLE) return undefined;
  const parsed = typeof algorithm === 'string' ? parseAlgorithm(algorithm) : undefined;
  if (!parsed || parsed.kind !== '') {
    throw new BackupError(
      'UNSUPPORTED_ALGORITHM',
      `session algorithm ${describeValue(algorithm)} is not ${BACKUP_ALGORITHM}`,
    );
  }
  return parsed.suite;
}

/** `[<epoch number>, [<user id>, <device id>]]` */
function parseEpochField(value: unknown): EpochCreator & { epoch: bigint } {
  const shape = new BackupError(
    'MALFORMED_SESSION',
    '`epoch` is not [<epoch number>, [<user id>, <device id>]]',
  );
  if (!Array.isArray(value) || value.length !== 2) throw shape;
  const [epoch, creator] = value as unknown[];
  if (!isCount(epoch) || !Array.isArray(creator) || creator.length !== 2) throw shape;
  const [userId, deviceId] = creator as unknown[];
  if (typeof userId !== 'string' || typeof deviceId !== 'string') throw shape;
  return { epoch: BigInt(epoch as number), userId, deviceId };
}

/** `openSession` for an id that must name an epoch (else `INVALID_SESSION_ID`). */
export function openEpochSession(
  key: BackupKey,
  roomId: string,
  sessionId: string,
  data: unknown,
): Extract<OpenedSession, { kind: 'epoch' }> {
  const opened = openSession(key, roomId, sessionId, data);
  if (opened.kind !== 'epoch') {
    throw new BackupError('INVALID_SESSION_ID', `${sessionId} names a member set, not an epoch`);
  }
  return opened;
}

/** `openSession` for an id that must name a member set (else `INVALID_SESSION_ID`). */
export function openMemberSetSession(
  key: BackupKey,
  roomId: string,
  sessionId: string,
  data: unknown,
): Extract<OpenedSession, { kind: 'member_set' }> {
  const opened = openSession(key, roomId, sessionId, data);
  if (opened.kind !== 'member_set') {
    throw new BackupError('INVALID_SESSION_ID', `${sessionId} names an epoch, not a member set`);
  }
  return opened;
}
