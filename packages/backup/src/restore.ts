/**
 * Restoring: from the backup key and the backed-up sessions of a room, a decrypt-only reader
 * (`EpochReader` of @trellis/mls) for each epoch. Each member set is fetched, decrypted and
 * checked once per restore, however many epochs refer to it.
 */
import {
  MlsError,
  type CryptoProvider,
  type EpochReader,
  type EpochReaderOptions,
} from '@trellis/mls';
import type { BackupKey } from './backupVersion.js';
import { BackupError } from './errors.js';
import { readerForExport, type GroupExport } from './groupExport.js';
import { checkMemberSetId, memberSetIdKey, type MemberSet } from './memberSet.js';
import { openEpochSession, openMemberSetSession } from './sessions.js';
import {
  epochSessionId,
  memberSetSessionId,
  parseSessionId,
  type EpochCreator,
} from './sessionId.js';

export interface RestoredEpoch {
  readonly roomId: string;
  readonly sessionId: string;
  readonly epoch: bigint;
  readonly creator: EpochCreator;
  /** The export with its members resolved and inline. */
  readonly groupExport: GroupExport;
  /** Decrypts the epoch's application messages; refuses handshake messages. */
  readonly reader: EpochReader;
}

/** The `KeyBackupData` stored under a session id of the room being restored, if any. */
export type SessionLookup = (sessionId: string) => unknown;

/** Member sets met so far in a restore, and failures, so that each is fetched only once. */
export type MemberSetCache = Map<string, MemberSet | BackupError | MlsError>;

export interface RestoreOptions {
  readonly provider?: CryptoProvider;
  /** The readers' secret-tree window; the engine's default spans a whole epoch. */
  readonly reader?: EpochReaderOptions;
  /** Shared between calls to fetch each member set once; a fresh one per call otherwise. */
  readonly memberSets?: MemberSetCache;
}

/**
 * Restores one epoch. Throws `BackupError` or `MlsError` (see `openSession`), and
 * `MISSING_MEMBER_SET` / `MEMBER_SET_MISMATCH` for a member set that is absent or not the one
 * its id names.
 */
export function restoreEpoch(
  key: BackupKey,
  roomId: string,
  sessionId: string,
  lookup: SessionLookup,
  options: RestoreOptions = {},
): RestoredEpoch {
  if (parseSessionId(sessionId).kind !== 'epoch') {
    throw new BackupError('INVALID_SESSION_ID', `${sessionId} names a member set, not an epoch`);
  }
  const data = lookup(sessionId);
  if (data === undefined) {
    throw new BackupError('MISSING_SESSION', `the backup has no session ${sessionId}`);
  }
  const opened = openEpochSession(key, roomId, sessionId, data);
  const cache = options.memberSets ?? new Map();
  let idKey: Uint8Array | undefined;

  const resolved: MemberSet[] = opened.groupExport.members.map((source) => {
    if (source.kind === 'inline') return source.set;
    const setSessionId = memberSetSessionId(source.id);
    let entry = cache.get(setSessionId);
    if (entry === undefined) {
      idKey ??= memberSetIdKey(key);
      entry = fetchMemberSet(key, idKey, roomId, setSessionId, lookup);
      cache.set(setSessionId, entry);
    }
    if (entry instanceof BackupError || entry instanceof MlsError) throw entry;
    return entry;
  });
  const groupExport: GroupExport = {
    ...opened.groupExport,
    members: resolved.map((set) => ({ kind: 'inline', set })),
  };
  const reader = readerForExport(groupExport, undefined, {
    ...(options.provider && { provider: options.provider }),
    ...(options.reader && { reader: options.reader }),
  });
  return { roomId, sessionId, epoch: opened.epoch, creator: opened.creator, groupExport, reader };
}

/** A member set, or the error that refuses it (kept, so it is not fetched again). */
function fetchMemberSet(
  key: BackupKey,
  idKey: Uint8Array,
  roomId: string,
  sessionId: string,
  lookup: SessionLookup,
): MemberSet | BackupError | MlsError {
  try {
    const data = lookup(sessionId);
    if (data === undefined) {
      return new BackupError('MISSING_MEMBER_SET', `the backup has no member set ${sessionId}`);
    }
    const opened = openMemberSetSession(key, roomId, sessionId, data);
    checkMemberSetId(idKey, opened.encoded, opened.id);
    return opened.set;
  } catch (error) {
    if (error instanceof BackupError || error instanceof MlsError) return error;
    throw error;
  }
}

export interface RestoredRoom {
  /** Restored epochs by session id. */
  readonly epochs: ReadonlyMap<string, RestoredEpoch>;
  /** Epoch sessions that were refused, by session id, with why. */
  readonly failures: ReadonlyMap<string, BackupError | MlsError>;
  /** How many member sets were fetched (each once). */
  readonly memberSetsFetched: number;
}

/**
 * Restores every epoch of a room from its `RoomKeyBackup` (`{"sessions": {…}}`). One bad entry
 * does not stop the others: it is reported in `failures`, so that a server cannot deny the
 * whole history by spoiling one session. Member set entries are read when an epoch refers to
 * them.
 */
export function restoreRoom(
  key: BackupKey,
  roomId: string,
  room: unknown,
  options: RestoreOptions = {},
): RestoredRoom {
  const sessions =
    typeof room === 'object' && room !== null
      ? (room as { sessions?: unknown }).sessions
      : undefined;
  if (typeof sessions !== 'object' || sessions === null || Array.isArray(sessions)) {
    throw new BackupError('MALFORMED_SESSION', 'a room backup is {"sessions": {…}}');
  }
  const lookup: SessionLookup = (id) =>
    Object.hasOwn(sessions, id) ? (sessions as Record<string, unknown>)[id] : undefined;
  const cache: MemberSetCache = options.memberSets ?? new Map();
  const epochs = new Map<string, RestoredEpoch>();
  const failures = new Map<string, BackupError | MlsError>();
  for (const sessionId of Object.keys(sessions)) {
    try {
      if (parseSessionId(sessionId).kind !== 'epoch') continue;
      epochs.set(
        sessionId,
        restoreEpoch(key, roomId, sessionId, lookup, { ...options, memberSets: cache }),
      );
    } catch (error) {
      if (error instanceof BackupError || error instanceof MlsError) failures.set(sessionId, error);
      else throw error;
    }
  }
  return { epochs, failures, memberSetsFetched: cache.size };
}

/** The restored epoch named by an epoch number and creator (as a room event names it). */
export function restoredEpochFor(
  room: RestoredRoom,
  epoch: bigint,
  creator: EpochCreator,
): RestoredEpoch | undefined {
  return room.epochs.get(epochSessionId(epoch, creator));
}
