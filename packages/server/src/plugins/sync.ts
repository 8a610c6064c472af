import type { FastifyPluginAsync } from 'fastify';
import { GLOBAL, accountDataChanges } from '../accountData.js';
import type { ServerContext } from '../context.js';
import type { Db } from '../db/index.js';
import { invalidParam } from '../errors.js';
import { countOneTimeKeys, unusedFallbackKeyTypes } from '../keyPackages/store.js';
import { clientEvent, strippedEvent, type Viewer } from '../rooms/format.js';
import type { EventRow } from '../rooms/graph.js';
import { membersOf, stateAt } from '../rooms/state.js';
import { deviceListChanges } from '../deviceLists.js';
import { isForgotten } from '../rooms/forgotten.js';
import { visibleRange } from '../rooms/visibility.js';
import { bool, int, object, str } from '../schemas.js';
import {
  formatPaginationToken,
  formatSyncToken,
  parseSyncToken,
  type SyncToken,
} from '../tokens.js';
import { caller, requireAuth } from './auth.js';
import { storedFilter } from './misc.js';

/** To-device messages per sync response (the spec recommends 100). */
const TO_DEVICE_LIMIT = 100;
const DEFAULT_TIMELINE_LIMIT = 10;
const MAX_TIMELINE_LIMIT = 100;
const INVITE_STATE_TYPES = new Set([
  'm.room.create',
  'm.room.join_rules',
  'm.room.name',
  'm.room.avatar',
  'm.room.canonical_alias',
  'm.room.encryption',
]);

interface SyncOptions {
  timelineLimit: number;
  fullState: boolean;
}

interface MemberEvent {
  roomId: string;
  stream: number;
  membership: string | undefined;
}

type Json = Record<string, unknown>;

/** Reads `room.timeline.limit` from a filter given inline or by id; the rest is not applied. */
async function timelineLimit(db: Db, userId: string, filter: string | undefined): Promise<number> {
  if (filter === undefined) return DEFAULT_TIMELINE_LIMIT;
  let text = filter;
  if (!filter.trimStart().startsWith('{')) {
    const stored = await storedFilter(db, userId, filter);
    if (stored === undefined) throw invalidParam(`Unknown filter ${filter}`);
    text = stored;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalidParam('filter is not valid JSON');
  }
  const limit = (parsed as { room?: { timeline?: { limit?: unknown } } } | null)?.room?.timeline
    ?.limit;
  if (typeof limit === 'number' && Number.isInteger(limit) && limit > 0) {
    return Math.min(limit, MAX_TIMELINE_LIMIT);
  }
  return DEFAULT_TIMELINE_LIMIT;
}

/** One room's timeline: the latest `limit` visible events with lower < stream ≤ upper. */
async function timeline(db: Db, roomId: string, lower: number, upper: number, limit: number) {
  const rows = await db
    .selectFrom('events')
    .selectAll()
    .where('room_id', '=', roomId)
    .where('stream', '>', lower)
    .where('stream', '<=', upper)
    .orderBy('stream', 'desc')
    .limit(limit + 1)
    .execute();
  const limited = rows.length > limit;
  return { events: rows.slice(0, limit).reverse(), limited };
}

async function summary(db: Db, roomId: string, userId: string): Promise<Json> {
  const joined = await membersOf(db, roomId, ['join']);
  const invited = await membersOf(db, roomId, ['invite']);
  return {
    'm.heroes': [...joined, ...invited].filter((u) => u !== userId).slice(0, 5),
    'm.joined_member_count': joined.length,
    'm.invited_member_count': invited.length,
  };
}

/**
 * Everything for one sync response between `since` and stream position `now`, and whether it
 * carries anything new (a long-poll waits while it does not).
 */
async function buildSync(
  ctx: ServerContext,
  viewer: Viewer,
  since: SyncToken | undefined,
  now: number,
  options: SyncOptions,
): Promise<{ body: Json; empty: boolean }> {
  const db = ctx.store.db;
  const me = viewer.userId;
  const sinceStream = since?.stream ?? 0;
  const wallClock = Date.now();
  const format = (rows: EventRow[]) => rows.map((e) => clientEvent(e, viewer, false, wallClock));

  // My membership history decides which rooms appear and how.
  const mine: MemberEvent[] = (
    await db
      .selectFrom('events')
      .select(['room_id', 'stream', 'content'])
      .where('type', '=', 'm.room.member')
      .where('state_key', '=', me)
      .where('stream', '<=', now)
      .orderBy('stream')
      .execute()
  ).map((e) => ({
    roomId: e.room_id,
    stream: e.stream,
    membership: (JSON.parse(e.content) as { membership?: string }).membership,
  }));
  const atNow = new Map<string, MemberEvent>();
  const atSince = new Map<string, MemberEvent>();
  for (const m of mine) {
    atNow.set(m.roomId, m);
    if (since && m.stream <= sinceStream) atSince.set(m.roomId, m);
  }

  // Account data that changed in the window (all of it in an initial sync), by room.
  const accountData = await accountDataChanges(db, me, sinceStream, now);
  const accountDataOf = (roomId: string) => ({ events: accountData.get(roomId) ?? [] });

  // Rooms with events or account data in the window, to skip quiet rooms in an incremental sync.
  const active = new Set<string>(accountData.keys());
  if (since && atNow.size > 0) {
    const rows = await db
      .selectFrom('events')
      .select('room_id')
      .distinct()
      .where('room_id', 'in', [...atNow.keys()])
      .where('stream', '>', sinceStream)
      .where('stream', '<=', now)
      .execute();
    for (const r of rows) active.add(r.room_id);
  }

  const join: Record<string, Json> = {};
  const invite: Record<string, Json> = {};
  const leave: Record<string, Json> = {};
  for (const [roomId, current] of atNow) {
    const before = atSince.get(roomId)?.membership;
    if (current.membership === 'join') {
      const fresh = !since || before !== 'join' || options.fullState;
      if (!fresh && !active.has(roomId)) continue;
      const lower = fresh
        ? Math.max(0, ((await visibleRange(db, roomId, me))?.from ?? 1) - 1)
        : sinceStream;
      const t = await timeline(db, roomId, lower, now, options.timelineLimit);
      const first = t.events[0]?.stream ?? now + 1;
      let state: EventRow[] = [];
      if (fresh) state = await stateAt(db, roomId, first - 1);
      else if (t.limited) state = await stateAt(db, roomId, first - 1, sinceStream);
      // The summary may be left out when unchanged: sent when the room is new to the client
      // or its membership changed.
      const membershipChanged =
        fresh || t.limited || t.events.some((e) => e.type === 'm.room.member');
      join[roomId] = {
        ...(membershipChanged ? { summary: await summary(db, roomId, me) } : {}),
        state: { events: format(state) },
        timeline: {
          events: format(t.events),
          limited: t.limited,
          prev_batch: formatPaginationToken(first - 1),
        },
        ephemeral: { events: [] },
        account_data: accountDataOf(roomId),
        unread_notifications: { highlight_count: 0, notification_count: 0 },
      };
    } else if (current.membership === 'invite') {
      if (since && before === 'invite' && current.stream <= sinceStream) continue;
      const state = await stateAt(db, roomId, current.stream);
      const inviteEvent = state.find((e) => e.type === 'm.room.member' && e.state_key === me);
      const stripped = state.filter(
        (e) =>
          INVITE_STATE_TYPES.has(e.type) ||
          e === inviteEvent ||
          (e.type === 'm.room.member' && e.state_key === inviteEvent?.sender),
      );
      invite[roomId] = { invite_state: { events: stripped.map(strippedEvent) } };
    } else if (
      since &&
      current.stream > sinceStream &&
      (before === 'join' || before === 'invite') &&
      !(await isForgotten(db, roomId, me, current.stream))
    ) {
      // Left (or was kicked, or rejected an invite) within the window, and not forgotten since.
      const t = await timeline(db, roomId, sinceStream, current.stream, options.timelineLimit);
      const first = t.events[0]?.stream ?? current.stream;
      const state = t.limited ? await stateAt(db, roomId, first - 1, sinceStream) : [];
      leave[roomId] = {
        state: { events: format(state) },
        timeline: {
          events: format(t.events),
          limited: t.limited,
          prev_batch: formatPaginationToken(first - 1),
        },
        account_data: { events: [] },
      };
    }
  }

  // To-device: what the token acknowledged is gone; the rest is delivered in order.
  const acknowledged = since?.toDevice ?? 0;
  const toDeviceOf = () =>
    db.selectFrom('to_device').where('user_id', '=', me).where('device_id', '=', viewer.deviceId);
  // Delete only when there is something to delete: most syncs then write nothing.
  if (
    acknowledged > 0 &&
    (await toDeviceOf()
      .select('stream')
      .where('stream', '<=', acknowledged)
      .limit(1)
      .executeTakeFirst())
  ) {
    await db
      .deleteFrom('to_device')
      .where('user_id', '=', me)
      .where('device_id', '=', viewer.deviceId)
      .where('stream', '<=', acknowledged)
      .execute();
  }
  const toDeviceRows = await db
    .selectFrom('to_device')
    .select(['stream', 'sender', 'type', 'content'])
    .where('user_id', '=', me)
    .where('device_id', '=', viewer.deviceId)
    .where('stream', '>', acknowledged)
    .where('stream', '<=', now)
    .orderBy('stream')
    .limit(TO_DEVICE_LIMIT)
    .execute();
  const toDeviceUpTo =
    toDeviceRows.length === TO_DEVICE_LIMIT
      ? toDeviceRows.at(-1)!.stream
      : Math.max(now, acknowledged);

  // Device lists: only in an incremental sync.
  const deviceLists = since ? await deviceListChanges(db, me, sinceStream, now) : undefined;

  const body: Json = {
    next_batch: formatSyncToken({ stream: now, toDevice: toDeviceUpTo }),
    rooms: { join, invite, leave, knock: {} },
    to_device: {
      events: toDeviceRows.map((r) => ({
        sender: r.sender,
        type: r.type,
        content: JSON.parse(r.content) as unknown,
      })),
    },
    device_one_time_keys_count: await countOneTimeKeys(db, me, viewer.deviceId, wallClock),
    device_unused_fallback_key_types: await unusedFallbackKeyTypes(
      db,
      me,
      viewer.deviceId,
      wallClock,
    ),
    account_data: accountDataOf(GLOBAL),
    presence: { events: [] },
  };
  if (deviceLists) body.device_lists = deviceLists;
  const empty =
    Object.keys(join).length === 0 &&
    Object.keys(invite).length === 0 &&
    Object.keys(leave).length === 0 &&
    toDeviceRows.length === 0 &&
    !accountData.has(GLOBAL) &&
    (deviceLists?.changed.length ?? 0) === 0 &&
    (deviceLists?.left.length ?? 0) === 0;
  return { body, empty };
}

export const syncPlugin: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  const auth = requireAuth(ctx);

  app.get<{
    Querystring: {
      since?: string;
      timeout?: number;
      full_state?: boolean;
      filter?: string;
      set_presence?: string;
    };
  }>(
    '/sync',
    {
      onRequest: auth,
      schema: {
        querystring: object({
          since: str(),
          timeout: int({ minimum: 0 }),
          full_state: bool(),
          filter: str(),
          set_presence: str({ enum: ['offline', 'online', 'unavailable'] }),
          use_state_after: bool(),
        }),
      },
    },
    async (request, reply) => {
      const viewer = caller(request);
      const { since: sinceText, full_state: fullState = false } = request.query;
      let since: SyncToken | undefined;
      if (sinceText !== undefined) {
        since = parseSyncToken(sinceText);
        if (!since) throw invalidParam('Invalid since token');
      }
      const options: SyncOptions = {
        timelineLimit: await timelineLimit(ctx.store.db, viewer.userId, request.query.filter),
        fullState,
      };
      const timeout = Math.min(request.query.timeout ?? 0, ctx.config.syncTimeoutMaxMs);
      const deadline = Date.now() + timeout;

      // Subscribe before looking, so a write that lands in between still wakes us.
      let woken = false;
      let wake: (() => void) | undefined;
      const unsubscribe = ctx.store.notifier.subscribe(viewer.userId, () => {
        woken = true;
        wake?.();
      });
      const onGone = () => wake?.();
      reply.raw.on('close', onGone);
      ctx.shutdown.addEventListener('abort', onGone);
      try {
        for (;;) {
          woken = false;
          const now = await ctx.store.currentPosition();
          const result = await buildSync(ctx, viewer, since, now, options);
          const remaining = deadline - Date.now();
          if (
            !result.empty ||
            !since ||
            fullState ||
            remaining <= 0 ||
            reply.raw.destroyed ||
            ctx.shutdown.aborted
          ) {
            return result.body;
          }
          if (!woken) {
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, remaining);
              wake = () => {
                clearTimeout(timer);
                resolve();
              };
            });
            wake = undefined;
          }
          if (reply.raw.destroyed) return result.body;
        }
      } finally {
        unsubscribe();
        reply.raw.off('close', onGone);
        ctx.shutdown.removeEventListener('abort', onGone);
      }
    },
  );
};
