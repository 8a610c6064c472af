/**
 * Backing up epochs: from a group state to the `KeyBackupData` entries to upload.
 *
 * With deduplication (the default) an epoch's members go into member sets (memberSet.ts), each
 * its own entry `members|<id>`; the epoch's export lists their ids. Sets already in the backup
 * are not uploaded again, so backing up the next epoch of a large group costs its secrets and
 * the one or two sets that changed, not every leaf node again.
 */
import type { GroupState } from '@trellis/mls';
import type { BackupKey } from './backupVersion.js';
import { BackupError } from './errors.js';
import { exportGroupState, type GroupExport, type MemberSetSource } from './groupExport.js';
import {
  DEFAULT_MEMBERS_PER_SET,
  encodeMemberSet,
  memberSetId,
  memberSetIdKey,
  membersOf,
  splitMembers,
} from './memberSet.js';
import { epochPayload, memberSetPayload, sealSession, type KeyBackupData } from './sessions.js';
import { epochSessionId, memberSetSessionId, type EpochCreator } from './sessionId.js';

export interface BackupEpochOptions {
  readonly roomId: string;
  /** Who created the epoch (dMLS names an epoch by its number and creator). */
  readonly creator: EpochCreator;
  /** Store members in member sets shared between epochs (default), or inline in the export. */
  readonly dedupe?: boolean;
  /** Leaves per member set; DEFAULT_MEMBERS_PER_SET by default. */
  readonly membersPerSet?: number;
  /** Session ids of member sets already in the backup: they are not sealed again. */
  readonly stored?: ReadonlySet<string>;
  /**
   * `is_verified` of the entries: whether this device vouches for the epoch's members. The
   * server prefers verified entries; false unless the caller says so.
   */
  readonly isVerified?: boolean;
  /** The export's `authenticated_data`. */
  readonly authenticatedData?: Uint8Array;
}

export interface EpochBackup {
  /** The epoch's session id. */
  readonly sessionId: string;
  /** Entries to upload: the epoch's and each member set not in `stored`. */
  readonly sessions: Record<string, KeyBackupData>;
  /** Session ids of every member set the export refers to, new or not. */
  readonly memberSets: readonly string[];
}

/** The entries that back up `state`'s current epoch. */
export function backupEpoch(
  key: BackupKey,
  state: GroupState,
  options: BackupEpochOptions,
): EpochBackup {
  const inline = exportGroupState(
    state,
    options.authenticatedData ? { authenticatedData: options.authenticatedData } : {},
  );
  return backupGroupExport(key, inline, options);
}

/** The entries that back up an export (its members inline; they are split here if deduping). */
export function backupGroupExport(
  key: BackupKey,
  groupExport: GroupExport,
  options: BackupEpochOptions,
): EpochBackup {
  const { roomId, creator } = options;
  if (typeof roomId !== 'string' || roomId.length === 0) {
    throw new BackupError('INVALID_ARGUMENT', 'a room id is a non-empty string');
  }
  const isVerified = options.isVerified ?? false;
  const sessionId = epochSessionId(groupExport.context.epoch, creator);
  const sessions: Record<string, KeyBackupData> = {};
  const memberSets: string[] = [];
  let sealed = groupExport;

  if (options.dedupe ?? true) {
    const inlineSets = groupExport.members.map((source) => {
      if (source.kind !== 'inline') {
        throw new BackupError('INVALID_ARGUMENT', 'the export already refers to member sets');
      }
      return source.set;
    });
    const { cipherSuite, leafCount } = groupExport;
    const sets = splitMembers(
      cipherSuite,
      leafCount,
      membersOf(inlineSets, cipherSuite, leafCount),
      options.membersPerSet ?? DEFAULT_MEMBERS_PER_SET,
    );
    const idKey = memberSetIdKey(key);
    const references: MemberSetSource[] = [];
    for (const set of sets) {
      const encoded = encodeMemberSet(set);
      const id = memberSetId(idKey, encoded);
      const setSessionId = memberSetSessionId(id);
      references.push({ kind: 'reference', id });
      memberSets.push(setSessionId);
      if (!options.stored?.has(setSessionId)) {
        sessions[setSessionId] = sealSession(
          key,
          setSessionId,
          memberSetPayload(roomId, encoded),
          isVerified,
        );
      }
    }
    sealed = { ...groupExport, members: references };
  }

  sessions[sessionId] = sealSession(
    key,
    sessionId,
    epochPayload(roomId, creator, sealed),
    isVerified,
  );
  return { sessionId, sessions, memberSets };
}
