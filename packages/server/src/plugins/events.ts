import type { FastifyPluginAsync } from 'fastify';
import type { ServerContext } from '../context.js';
import { forbidden, invalidParam, notFound } from '../errors.js';
import { applyFilter, matchesFilter, parseFilter } from '../rooms/eventFilter.js';
import { clientEvent } from '../rooms/format.js';
import { appendEvent, eventById } from '../rooms/graph.js';
import { requireRoom } from '../rooms/membership.js';
import {
  eventLevel,
  membershipOf,
  membersOf,
  powerLevels,
  stateAt,
  userLevel,
} from '../rooms/state.js';
import { visibleRange } from '../rooms/visibility.js';
import { anyObject, int, object, params, roomIdParam, str } from '../schemas.js';
import { formatPaginationToken, parsePaginationToken } from '../tokens.js';
import { earlierResult, recordResult, type TxnKey } from '../txns.js';
import { caller, requireAuth } from './auth.js';
import { checkEventSize } from './rooms.js';

/** Most events /context returns around the one asked for. */
const MAX_CONTEXT_EVENTS = 100;

export const eventsPlugin: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  const auth = requireAuth(ctx);

  app.put<{
    Params: { roomId: string; eventType: string; txnId: string };
    Body: Record<string, unknown>;
  }>(
    '/rooms/:roomId/send/:eventType/:txnId',
    {
      onRequest: auth,
      schema: {
        params: params({
          roomId: roomIdParam(),
          eventType: str({ minLength: 1, maxLength: 255 }),
          txnId: str({ minLength: 1, maxLength: 255 }),
        }),
        body: anyObject(),
      },
    },
    async (request) => {
      const { userId, deviceId } = caller(request);
      const { roomId, eventType, txnId } = request.params;
      checkEventSize(ctx, request.body);
      const txnKey: TxnKey = { user_id: userId, device_id: deviceId, kind: 'send', txn_id: txnId };
      const earlier = await earlierResult(ctx.store.db, txnKey);
      if (earlier !== undefined) return { event_id: earlier };

      const eventId = await ctx.store.write(async (trx, wctx) => {
        await wctx.lock();
        // Checked again under the lock: a retry may have raced the first attempt.
        const raced = await earlierResult(trx, txnKey);
        if (raced !== undefined) return raced;
        await requireRoom(trx, roomId);
        if ((await membershipOf(trx, roomId, userId)) !== 'join') {
          throw forbidden(`You are not in room ${roomId}`);
        }
        const pl = await powerLevels(trx, roomId);
        if (userLevel(pl, userId) < eventLevel(pl, eventType, false)) {
          throw forbidden(`You do not have a high enough power level to send ${eventType}`);
        }
        const event = await appendEvent(trx, wctx, {
          roomId,
          type: eventType,
          sender: userId,
          senderDevice: deviceId,
          txnId,
          content: request.body,
        });
        await recordResult(trx, txnKey, event.event_id);
        wctx.wake(await membersOf(trx, roomId, ['join']));
        return event.event_id;
      });
      return { event_id: eventId };
    },
  );

  app.get<{ Params: { roomId: string; eventId: string } }>(
    '/rooms/:roomId/event/:eventId',
    {
      onRequest: auth,
      schema: { params: params({ roomId: roomIdParam(), eventId: str({ pattern: '^\\$' }) }) },
    },
    async (request) => {
      const viewer = caller(request);
      const { roomId, eventId } = request.params;
      const event = await eventById(ctx.store.db, eventId);
      const range =
        event && event.room_id === roomId
          ? await visibleRange(ctx.store.db, roomId, viewer.userId)
          : null;
      if (!event || !range || event.stream < range.from || event.stream > range.to) {
        throw notFound('Event not found');
      }
      return clientEvent(event, viewer);
    },
  );

  app.get<{
    Params: { roomId: string; eventId: string };
    Querystring: { limit?: number; filter?: string };
  }>(
    '/rooms/:roomId/context/:eventId',
    {
      onRequest: auth,
      schema: {
        params: params({ roomId: roomIdParam(), eventId: str({ pattern: '^\\$' }) }),
        querystring: object({ limit: int({ minimum: 0 }), filter: str() }),
      },
    },
    async (request) => {
      const viewer = caller(request);
      const { roomId, eventId } = request.params;
      const filter = parseFilter(request.query.filter);
      const limit = Math.min(request.query.limit ?? 10, MAX_CONTEXT_EVENTS);
      const db = ctx.store.db;
      const event = await eventById(db, eventId);
      const range =
        event && event.room_id === roomId ? await visibleRange(db, roomId, viewer.userId) : null;
      if (!event || !range || event.stream < range.from || event.stream > range.to) {
        throw notFound('Event not found');
      }
      const current = await ctx.store.currentPosition();
      // The limit is shared between both sides, half each (the later side gets an odd one).
      const beforeCount = Math.floor(limit / 2);
      const afterCount = limit - beforeCount;
      const inRoom = () =>
        applyFilter(db.selectFrom('events').selectAll().where('room_id', '=', roomId), filter);
      const before =
        beforeCount === 0
          ? []
          : await inRoom()
              .where('stream', '<', event.stream)
              .where('stream', '>=', range.from)
              .orderBy('stream', 'desc')
              .limit(beforeCount)
              .execute();
      const after =
        afterCount === 0
          ? []
          : await inRoom()
              .where('stream', '>', event.stream)
              .where('stream', '<=', Math.min(range.to, current))
              .orderBy('stream', 'asc')
              .limit(afterCount)
              .execute();
      const oldest = before.at(-1) ?? event;
      const newest = after.at(-1) ?? event;
      const state = await stateAt(db, roomId, newest.stream);
      const now = Date.now();
      const format = (rows: typeof before) => rows.map((e) => clientEvent(e, viewer, true, now));
      return {
        // Pagination tokens name the point after an event: /messages from `start` backwards
        // continues before the oldest event here, from `end` forwards after the newest.
        start: formatPaginationToken(oldest.stream - 1),
        end: formatPaginationToken(newest.stream),
        event: clientEvent(event, viewer, true, now),
        events_before: format(before),
        events_after: format(after),
        state: format(state.filter((e) => matchesFilter(e, filter))),
      };
    },
  );

  app.get<{
    Params: { roomId: string };
    Querystring: { dir: 'b' | 'f'; from?: string; to?: string; limit?: number; filter?: string };
  }>(
    '/rooms/:roomId/messages',
    {
      onRequest: auth,
      schema: {
        params: params({ roomId: roomIdParam() }),
        querystring: object(
          {
            dir: str({ enum: ['b', 'f'] }),
            from: str(),
            to: str(),
            limit: int({ minimum: 0 }),
            filter: str(),
          },
          ['dir'],
        ),
      },
    },
    async (request) => {
      const viewer = caller(request);
      const { roomId } = request.params;
      const { dir, limit: rawLimit } = request.query;
      // An empty token is no token: clients (matrix-nio) send `from=` to mean the latest events.
      const token = (value: string | undefined, name: string) => {
        if (value === undefined || value === '') return undefined;
        const position = parsePaginationToken(value);
        if (position === undefined) throw invalidParam(`Invalid ${name} token`);
        return position;
      };
      const from = token(request.query.from, 'from');
      const to = token(request.query.to, 'to');
      const filter = parseFilter(request.query.filter);
      const limit = Math.min(Math.max(rawLimit ?? 10, 1), 1000);

      const db = ctx.store.db;
      const range = await visibleRange(db, roomId, viewer.userId);
      if (!range) throw forbidden(`You are not in room ${roomId}`);
      const current = await ctx.store.currentPosition();

      let query = applyFilter(
        db.selectFrom('events').selectAll().where('room_id', '=', roomId),
        filter,
      );
      let start: number;
      if (dir === 'b') {
        start = Math.min(from ?? current, current);
        const upper = Math.min(start, range.to);
        const lower = Math.max(to ?? -1, range.from - 1);
        query = query
          .where('stream', '<=', upper)
          .where('stream', '>', lower)
          .orderBy('stream', 'desc');
      } else {
        start = from ?? 0;
        const lower = Math.max(start, range.from - 1);
        const upper = Math.min(to ?? current, current, range.to);
        query = query
          .where('stream', '>', lower)
          .where('stream', '<=', upper)
          .orderBy('stream', 'asc');
      }
      const rows = await query.limit(limit + 1).execute();
      const more = rows.length > limit;
      const chunkRows = rows.slice(0, limit);
      const now = Date.now();
      const response: Record<string, unknown> = {
        start: from !== undefined ? request.query.from : formatPaginationToken(start),
        chunk: chunkRows.map((e) => clientEvent(e, viewer, true, now)),
      };
      const last = chunkRows.at(-1);
      if (more && last) {
        response.end = formatPaginationToken(dir === 'b' ? last.stream - 1 : last.stream);
      }
      return response;
    },
  );
};
