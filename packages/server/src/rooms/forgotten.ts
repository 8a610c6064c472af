import type { Db, Tx } from '../db/index.js';
import { MatrixError, notFound } from '../errors.js';

/**
 * Forgetting a room (POST /rooms/{roomId}/forget): a user who has left stops seeing its
 * history. The forget holds until their membership changes again (a new invite or join), so it
 * is stored with the stream position of the membership event it was made at.
 */
export async function forgetRoom(trx: Tx, roomId: string, userId: string): Promise<void> {
  const member = await trx
    .selectFrom('current_state')
    .select(['membership', 'stream'])
    .where('room_id', '=', roomId)
    .where('type', '=', 'm.room.member')
    .where('state_key', '=', userId)
    .executeTakeFirst();
  if (!member) throw notFound(`You have no membership in room ${roomId}`);
  if (member.membership !== 'leave' && member.membership !== 'ban') {
    // The spec's answer to forgetting a room one has not left.
    throw new MatrixError(400, 'M_UNKNOWN', `User ${userId} is in room ${roomId}`);
  }
  await trx
    .insertInto('forgotten_rooms')
    .values({ user_id: userId, room_id: roomId, stream: member.stream })
    .onConflict((oc) => oc.columns(['user_id', 'room_id']).doUpdateSet({ stream: member.stream }))
    .execute();
}

/** Whether the user forgot the room at their latest membership event (at `membershipStream`). */
export async function isForgotten(
  db: Db | Tx,
  roomId: string,
  userId: string,
  membershipStream: number,
): Promise<boolean> {
  const row = await db
    .selectFrom('forgotten_rooms')
    .select('stream')
    .where('user_id', '=', userId)
    .where('room_id', '=', roomId)
    .executeTakeFirst();
  return row !== undefined && row.stream === membershipStream;
}
