import type { Db } from './db/index.js';
import { membersOf, usersSharingRooms } from './rooms/state.js';

/**
 * Whose device lists `me` should refresh for the stream window (from, to]: users sharing a room
 * with `me` who changed their device keys or cross-signing keys, users whose master key `me`
 * signed, and users who newly share a room (`changed`); users
 * with whom `me` no longer shares any room (`left`). Rooms of any kind count, encrypted or not.
 */
export async function deviceListChanges(
  db: Db,
  me: string,
  from: number,
  to: number,
): Promise<{ changed: string[]; left: string[] }> {
  const changed = new Set<string>();
  const left = new Set<string>();

  const keyChanges = await db
    .selectFrom('device_list_changes')
    .select(['user_id', 'audience'])
    .distinct()
    .where('stream', '>', from)
    .where('stream', '<=', to)
    .where((eb) => eb.or([eb('audience', 'is', null), eb('audience', '=', me)]))
    .execute();

  // Every room `me` has been in: membership changes there move people in and out of view.
  const myRooms = (
    await db
      .selectFrom('current_state')
      .select('room_id')
      .where('type', '=', 'm.room.member')
      .where('state_key', '=', me)
      .execute()
  ).map((r) => r.room_id);
  const memberChanges =
    myRooms.length === 0
      ? []
      : await db
          .selectFrom('events')
          .select(['room_id', 'state_key', 'content'])
          .where('type', '=', 'm.room.member')
          .where('room_id', 'in', myRooms)
          .where('stream', '>', from)
          .where('stream', '<=', to)
          .orderBy('stream')
          .execute();
  // Who shares a room with `me` matters only when something changed.
  if (keyChanges.length === 0 && memberChanges.length === 0) return { changed: [], left: [] };
  const sharing = await usersSharingRooms(db, me);
  for (const { user_id, audience } of keyChanges) {
    // A change told to `me` alone (a signature `me` made) is `me`'s to see, shared room or not.
    if (audience === me || sharing.has(user_id)) changed.add(user_id);
  }
  for (const e of memberChanges) {
    const target = e.state_key!;
    const membership = (JSON.parse(e.content) as { membership?: string }).membership;
    if (target === me) {
      for (const u of await membersOf(db, e.room_id, ['join'])) {
        if (u === me) continue;
        if (membership === 'join') changed.add(u);
        else if (!sharing.has(u)) left.add(u);
      }
    } else if (membership === 'join' && sharing.has(target)) {
      changed.add(target);
    } else if ((membership === 'leave' || membership === 'ban') && !sharing.has(target)) {
      left.add(target);
    }
  }
  for (const u of changed) left.delete(u);
  return { changed: [...changed], left: [...left] };
}
