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
  createEventId?: string;
  metadata: GroupMetadata;
  /**
   * Metadata this device set, and the epoch its commit created: if that commit ends up on a
   * branch that a resolution merged away, the change is made again (roomMetadata.ts).
   */
  metadataIntent?: { epoch: string; metadata: GroupMetadata };
  /** Rejoin requests of other devices (rejoin.ts). */
  rejoins?: RejoinRecord;
}

/** What a state event changed in the record. */
export interface StateChange {
  /** The record changed: write it. */
  readonly changed: boolean;
  /** Someone's membership changed. */
  readonly member?: { readonly userId: string; readonly membership: string };
}

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
    if (record.members[userId] === membership) return UNCHANGED;
    record.members[userId] = membership;
    if (userId === ownUserId) record.membership = membership;
    return { changed: true, member: { userId, membership } };
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
