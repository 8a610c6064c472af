import type { Db } from '../db/index.js';
import { isForgotten } from './forgotten.js';
import { stateContent } from './state.js';

/**
 * The stream range of a room's events a user may read (history visibility, simplified to one
 * range): from the room's start (`shared`, `world_readable`) or from the user's first join
 * (`joined`) or invite (`invited`), up to and including their leave if they are no longer in it.
 * Null when the user may read nothing (never joined, or forgot the room after leaving).
 */
export interface VisibleRange {
  from: number;
  to: number;
}

/** A user's membership events in a room, oldest first. */
export async function membershipHistory(
  db: Db,
  roomId: string,
  userId: string,
): Promise<{ stream: number; membership: string | undefined }[]> {
  const rows = await db
    .selectFrom('events')
    .select(['stream', 'content'])
    .where('room_id', '=', roomId)
    .where('type', '=', 'm.room.member')
    .where('state_key', '=', userId)
    .orderBy('stream')
    .execute();
  return rows.map((e) => ({
    stream: e.stream,
    membership: (JSON.parse(e.content) as { membership?: string }).membership,
  }));
}

export async function visibleRange(
  db: Db,
  roomId: string,
  userId: string,
): Promise<VisibleRange | null> {
  const memberships = await membershipHistory(db, roomId, userId);
  const firstJoin = memberships.find((m) => m.membership === 'join');
  if (!firstJoin) return null;
  const last = memberships.at(-1)!;
  if (await isForgotten(db, roomId, userId, last.stream)) return null;
  const to = last.membership === 'join' ? Number.MAX_SAFE_INTEGER : last.stream;
  const visibility = (await stateContent(db, roomId, 'm.room.history_visibility'))
    ?.history_visibility;
  let from = 0;
  if (visibility === 'joined') from = firstJoin.stream;
  else if (visibility === 'invited') {
    from = memberships.find((m) => m.membership === 'invite' || m.membership === 'join')!.stream;
  }
  return { from, to };
}
