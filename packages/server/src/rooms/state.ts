import type { Db, Tx } from '../db/index.js';
import type { EventRow } from './graph.js';

type Reader = Db | Tx;

export type Membership = 'join' | 'invite' | 'leave' | 'ban' | 'knock';

/** The content of one current state event, or undefined. */
export async function stateContent(
  db: Reader,
  roomId: string,
  type: string,
  stateKey = '',
): Promise<Record<string, unknown> | undefined> {
  const row = await db
    .selectFrom('current_state')
    .innerJoin('events', 'events.event_id', 'current_state.event_id')
    .select('events.content')
    .where('current_state.room_id', '=', roomId)
    .where('current_state.type', '=', type)
    .where('current_state.state_key', '=', stateKey)
    .executeTakeFirst();
  return row ? (JSON.parse(row.content) as Record<string, unknown>) : undefined;
}

export async function membershipOf(
  db: Reader,
  roomId: string,
  userId: string,
): Promise<Membership | undefined> {
  const row = await db
    .selectFrom('current_state')
    .select('membership')
    .where('room_id', '=', roomId)
    .where('type', '=', 'm.room.member')
    .where('state_key', '=', userId)
    .executeTakeFirst();
  return (row?.membership ?? undefined) as Membership | undefined;
}

/** Users whose current membership is one of `memberships`. */
export async function membersOf(
  db: Reader,
  roomId: string,
  memberships: Membership[] = ['join'],
): Promise<string[]> {
  const rows = await db
    .selectFrom('current_state')
    .select('state_key')
    .where('room_id', '=', roomId)
    .where('type', '=', 'm.room.member')
    .where('membership', 'in', memberships)
    .execute();
  return rows.map((r) => r.state_key);
}

/** Rooms where `userId` currently has one of `memberships`. */
export async function roomsOf(
  db: Reader,
  userId: string,
  memberships: Membership[] = ['join'],
): Promise<string[]> {
  const rows = await db
    .selectFrom('current_state')
    .select('room_id')
    .where('type', '=', 'm.room.member')
    .where('state_key', '=', userId)
    .where('membership', 'in', memberships)
    .execute();
  return rows.map((r) => r.room_id);
}

/** Every user who is joined to at least one room `userId` is joined to (and `userId`). */
export async function usersSharingRooms(db: Reader, userId: string): Promise<Set<string>> {
  const rows = await db
    .selectFrom('current_state as mine')
    .innerJoin('current_state as theirs', 'theirs.room_id', 'mine.room_id')
    .select('theirs.state_key')
    .distinct()
    .where('mine.type', '=', 'm.room.member')
    .where('mine.state_key', '=', userId)
    .where('mine.membership', '=', 'join')
    .where('theirs.type', '=', 'm.room.member')
    .where('theirs.membership', '=', 'join')
    .execute();
  const users = new Set(rows.map((r) => r.state_key));
  users.add(userId);
  return users;
}

/** All current state events of a room. */
export async function currentState(db: Reader, roomId: string): Promise<EventRow[]> {
  return db
    .selectFrom('current_state')
    .innerJoin('events', 'events.event_id', 'current_state.event_id')
    .selectAll('events')
    .where('current_state.room_id', '=', roomId)
    .orderBy('events.stream')
    .execute();
}

/**
 * The state of a room just after stream position `position`: for each (type, state_key), the
 * latest state event at or before it. With `after`, only state events later than `after` (the
 * state that changed in a gap).
 */
export async function stateAt(
  db: Reader,
  roomId: string,
  position: number,
  after = -1,
): Promise<EventRow[]> {
  return db
    .selectFrom('events as e')
    .selectAll('e')
    .where('e.room_id', '=', roomId)
    .where('e.state_key', 'is not', null)
    .where('e.stream', '<=', position)
    .where('e.stream', '>', after)
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('events as later')
            .select('later.stream')
            .whereRef('later.room_id', '=', 'e.room_id')
            .whereRef('later.type', '=', 'e.type')
            .whereRef('later.state_key', '=', 'e.state_key')
            .whereRef('later.stream', '>', 'e.stream')
            .where('later.stream', '<=', position),
        ),
      ),
    )
    .orderBy('e.stream')
    .execute();
}

// ---- Power levels (m.room.power_levels), with the spec's defaults when absent. ----

export interface PowerLevels {
  users: Record<string, number>;
  users_default: number;
  events: Record<string, number>;
  events_default: number;
  state_default: number;
  invite: number;
  kick: number;
  ban: number;
  redact: number;
}

const num = (v: unknown, fallback: number) =>
  typeof v === 'number' && Number.isInteger(v) ? v : fallback;

export function readPowerLevels(content: Record<string, unknown> | undefined): PowerLevels {
  const c = content ?? {};
  const record = (v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).filter(([, n]) => Number.isInteger(n)),
        )
      : {};
  return {
    users: record(c.users) as Record<string, number>,
    users_default: num(c.users_default, 0),
    events: record(c.events) as Record<string, number>,
    events_default: num(c.events_default, 0),
    state_default: num(c.state_default, 50),
    invite: num(c.invite, 0),
    kick: num(c.kick, 50),
    ban: num(c.ban, 50),
    redact: num(c.redact, 50),
  };
}

export const userLevel = (pl: PowerLevels, userId: string) => pl.users[userId] ?? pl.users_default;

export const eventLevel = (pl: PowerLevels, type: string, isState: boolean) =>
  pl.events[type] ?? (isState ? pl.state_default : pl.events_default);

export async function powerLevels(db: Reader, roomId: string): Promise<PowerLevels> {
  return readPowerLevels(await stateContent(db, roomId, 'm.room.power_levels'));
}
