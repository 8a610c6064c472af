/**
 * What a client keeps about a room besides its group: the Matrix side (this user's membership,
 * everyone's, the cipher suite, the create event), the group's name and topic, and the
 * bookkeeping of metadata changes and rejoin requests. Stored as JSON per room.
 */
import { parseAlgorithm } from '@trellis/mls';
import type { ClientEvent } from './clientEvent.js';
import type { GroupMetadata } from './metadata.js';
import type { RejoinRecord } from './rejoin.js';

export interface RoomRecord {
  suite?: number;
  /** This user's membership. */
  membership: string;
  members: Record<string, string>;
  /** Display names members gave themselves (`displayname` of their member events). */
  names?: Record<string, string>;
  createEventId?: string;
  metadata: GroupMetadata;
  /**
   * Metadata this device set, and the epoch its commit created: if that commit ends up on a
   * branch that a resolution merged away, the change is made again (roomMetadata.ts).
   */
  metadataIntent?: {
    epoch: string;
    metadata: GroupMetadata;
    /** The metadata the change was made on (absent in records of older versions). */
    from?: GroupMetadata;
  };
  /** Rejoin requests of other devices (rejoin.ts). */
  rejoins?: RejoinRecord;
}

/** What a state event changed in the record. */
export interface StateChange {
  /** The record changed: write it. */
  readonly changed: boolean;
  /** Someone's membership changed: who made the change, and the reason given, if any. */
  readonly member?: {
    readonly userId: string;
    readonly membership: string;
    readonly sender: string;
    readonly reason?: string;
  };
}

/** Longest display name kept; a longer one is cut (it is only shown). */
const MAX_NAME = 256;

const UNCHANGED: StateChange = { changed: false };

/** Applies a state event to the record (`ownUserId`: this user, whose membership is kept apart). */
export function applyStateEvent(
  record: RoomRecord,
  event: ClientEvent,
  ownUserId: string,
): StateChange {
  if (event.type === 'm.room.member' && event.state_key !== undefined) {
    const membership =
      typeof event.content.membership === 'string' ? event.content.membership : 'leave';
    const userId = event.state_key;
    const renamed = applyDisplayName(record, userId, event.content.displayname);
    if (record.members[userId] === membership) return renamed ? { changed: true } : UNCHANGED;
    record.members[userId] = membership;
    if (userId === ownUserId) record.membership = membership;
    const reason = event.content.reason;
    return {
      changed: true,
      member: {
        userId,
        membership,
        sender: event.sender,
        ...(typeof reason === 'string' && reason !== '' && { reason }),
      },
    };
  }
  if (event.type === 'm.room.encryption' && event.state_key === '') {
    const algorithm = event.content.algorithm;
    const parsed = typeof algorithm === 'string' ? parseAlgorithm(algorithm) : undefined;
    // The first algorithm stays: a later state event cannot switch a room to another suite.
    if (parsed?.kind === '' && record.suite === undefined) {
      record.suite = parsed.suite;
      return { changed: true };
    }
  } else if (event.type === 'm.room.create' && event.state_key === '') {
    if (record.createEventId === undefined) {
      record.createEventId = event.event_id;
      return { changed: true };
    }
  }
  return UNCHANGED;
}

/** Users whose membership is `join`. */
export function joinedUsers(record: RoomRecord): string[] {
  return Object.entries(record.members)
    .filter(([, m]) => m === 'join')
    .map(([u]) => u);
}

/** Keeps a member's display name; returns whether it changed. */
function applyDisplayName(record: RoomRecord, userId: string, value: unknown): boolean {
  const name = typeof value === 'string' && value !== '' ? value.slice(0, MAX_NAME) : undefined;
  if (record.names?.[userId] === name) return false;
  if (name === undefined) delete record.names![userId];
  else (record.names ??= {})[userId] = name;
  return true;
}
