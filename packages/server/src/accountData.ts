/**
 * Account data (client-server API, "Client Config"): per user, global (room_id '') or per room,
 * each row stamped with the stream position of its last change, so that /sync sends what
 * changed since its token the way it sends events.
 */
import type { Db, Tx, WriteContext } from './db/index.js';

/** Global account data is stored under this room id. */
export const GLOBAL = '';

export interface AccountDataEvent {
  type: string;
  content: unknown;
}

export async function putAccountData(
  trx: Tx,
  wctx: WriteContext,
  userId: string,
  roomId: string,
  type: string,
  content: Record<string, unknown>,
): Promise<void> {
  const stream = await wctx.nextPosition();
  const text = JSON.stringify(content);
  await trx
    .insertInto('account_data')
    .values({ user_id: userId, room_id: roomId, type, content: text, stream })
    .onConflict((oc) =>
      oc.columns(['user_id', 'room_id', 'type']).doUpdateSet({ content: text, stream }),
    )
    .execute();
  wctx.wake([userId]);
}

export async function getAccountData(
  db: Db,
  userId: string,
  roomId: string,
  type: string,
): Promise<unknown> {
  const row = await db
    .selectFrom('account_data')
    .select('content')
    .where('user_id', '=', userId)
    .where('room_id', '=', roomId)
    .where('type', '=', type)
    .executeTakeFirst();
  return row === undefined ? undefined : (JSON.parse(row.content) as unknown);
}

/**
 * The account data that changed in the stream window (from, to], as events by room id (GLOBAL
 * for global account data), oldest change first.
 */
export async function accountDataChanges(
  db: Db,
  userId: string,
  from: number,
  to: number,
): Promise<Map<string, AccountDataEvent[]>> {
  const rows = await db
    .selectFrom('account_data')
    .select(['room_id', 'type', 'content'])
    .where('user_id', '=', userId)
    .where('stream', '>', from)
    .where('stream', '<=', to)
    .orderBy('stream')
    .execute();
  const out = new Map<string, AccountDataEvent[]>();
  for (const row of rows) {
    const events = out.get(row.room_id) ?? [];
    events.push({ type: row.type, content: JSON.parse(row.content) as unknown });
    out.set(row.room_id, events);
  }
  return out;
}
