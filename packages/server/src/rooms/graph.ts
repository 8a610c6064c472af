import { createHash, randomBytes } from 'node:crypto';
import type { Db, Tx, WriteContext } from '../db/index.js';
import type { EventsTable } from '../db/schema.js';

export type EventRow = EventsTable;

export interface NewEvent {
  roomId: string;
  type: string;
  /** Present exactly for state events. */
  stateKey?: string;
  sender: string;
  senderDevice?: string;
  txnId?: string;
  content: Record<string, unknown>;
}

/**
 * Appends an event to its room's graph: its parents are the room's forward extremities, its
 * depth one more than the deepest parent, and it becomes the room's only extremity. The caller
 * holds the stream lock (through `ctx.nextPosition()`), so appends to a room are serialised.
 */
export async function appendEvent(trx: Tx, ctx: WriteContext, event: NewEvent): Promise<EventRow> {
  const stream = await ctx.nextPosition();
  const extremities = await trx
    .selectFrom('room_extremities')
    .innerJoin('events', 'events.event_id', 'room_extremities.event_id')
    .select(['events.event_id', 'events.depth'])
    .where('room_extremities.room_id', '=', event.roomId)
    .orderBy('events.stream')
    .execute();
  const prevEvents = extremities.map((e) => e.event_id);
  const depth = extremities.reduce((max, e) => Math.max(max, e.depth), 0) + 1;
  const originServerTs = Date.now();
  const content = JSON.stringify(event.content);

  let replacesState: string | null = null;
  if (event.stateKey !== undefined) {
    const previous = await trx
      .selectFrom('current_state')
      .select('event_id')
      .where('room_id', '=', event.roomId)
      .where('type', '=', event.type)
      .where('state_key', '=', event.stateKey)
      .executeTakeFirst();
    replacesState = previous?.event_id ?? null;
  }

  // A reference hash over what makes the event, with a nonce so two identical sends differ.
  const eventId =
    '$' +
    createHash('sha256')
      .update(
        JSON.stringify([
          event.roomId,
          event.type,
          event.stateKey ?? null,
          event.sender,
          content,
          originServerTs,
          prevEvents,
          depth,
          randomBytes(16).toString('base64'),
        ]),
      )
      .digest('base64url');

  const row: EventRow = {
    stream,
    event_id: eventId,
    room_id: event.roomId,
    type: event.type,
    state_key: event.stateKey ?? null,
    sender: event.sender,
    sender_device: event.senderDevice ?? null,
    txn_id: event.txnId ?? null,
    content,
    origin_server_ts: originServerTs,
    depth,
    prev_events: JSON.stringify(prevEvents),
    replaces_state: replacesState,
  };
  await trx.insertInto('events').values(row).execute();
  await trx.deleteFrom('room_extremities').where('room_id', '=', event.roomId).execute();
  await trx
    .insertInto('room_extremities')
    .values({ room_id: event.roomId, event_id: eventId })
    .execute();

  if (event.stateKey !== undefined) {
    const membership =
      event.type === 'm.room.member' && typeof event.content.membership === 'string'
        ? event.content.membership
        : null;
    const state = { event_id: eventId, stream, membership };
    if (replacesState) {
      await trx
        .updateTable('current_state')
        .set(state)
        .where('room_id', '=', event.roomId)
        .where('type', '=', event.type)
        .where('state_key', '=', event.stateKey)
        .execute();
    } else {
      await trx
        .insertInto('current_state')
        .values({ room_id: event.roomId, type: event.type, state_key: event.stateKey, ...state })
        .execute();
    }
  }
  return row;
}

/** One event by id. */
export async function eventById(db: Db | Tx, eventId: string): Promise<EventRow | undefined> {
  return db.selectFrom('events').selectAll().where('event_id', '=', eventId).executeTakeFirst();
}
