import type { FastifyPluginAsync } from 'fastify';
import type { ExpressionBuilder, SelectQueryBuilder } from 'kysely';
import type { ServerContext } from '../context.js';
import type { Database } from '../db/index.js';
import { forbidden, invalidParam, notFound } from '../errors.js';
import { clientEvent } from '../rooms/format.js';
import { appendEvent, eventById } from '../rooms/graph.js';
import { requireRoom } from '../rooms/membership.js';
import { eventLevel, membershipOf, membersOf, powerLevels, userLevel } from '../rooms/state.js';
import { visibleRange } from '../rooms/visibility.js';
import { anyObject, int, object, params, roomIdParam, str } from '../schemas.js';
import { formatPaginationToken, parsePaginationToken } from '../tokens.js';
import { earlierResult, recordResult, type TxnKey } from '../txns.js';
import { caller, requireAuth } from './auth.js';
import { checkEventSize } from './rooms.js';

interface RoomEventFilter {
  types?: string[];
  not_types?: string[];
  senders?: string[];
  not_senders?: string[];
}

function parseFilter(text: string | undefined): RoomEventFilter {
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalidParam('filter is not valid JSON');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidParam('filter must be a JSON object');
  }
  const filter: RoomEventFilter = {};
  for (const key of ['types', 'not_types', 'senders', 'not_senders'] as const) {
    const list = (value as Record<string, unknown>)[key];
    if (list === undefined) continue;
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) {
      throw invalidParam(`filter.${key} must be a list of strings`);
    }
    filter[key] = list as string[];
  }
  return filter;
}

type EventQuery = SelectQueryBuilder<Database, 'events', Database['events']>;

/** Event type patterns allow a trailing `*`. */
function applyFilter(query: EventQuery, filter: RoomEventFilter): EventQuery {
  const typeCondition = (patterns: string[]) => (eb: ExpressionBuilder<Database, 'events'>) =>
    eb.or(
      patterns.map((p) =>
        p.endsWith('*')
          ? eb('type', 'like', `${p.slice(0, -1).replace(/[%_]/g, '')}%`)
          : eb('type', '=', p),
      ),
    );
  // An empty `types` list matches nothing: no pattern equals the empty type.
  if (filter.types) query = query.where(typeCondition(filter.types.length ? filter.types : ['']));
  if (filter.not_types && filter.not_types.length > 0) {
    const condition = typeCondition(filter.not_types);
    query = query.where((eb) => eb.not(condition(eb)));
  }
  if (filter.senders)
    query = query.where('sender', 'in', filter.senders.length ? filter.senders : ['']);
  if (filter.not_senders && filter.not_senders.length > 0)
    query = query.where('sender', 'not in', filter.not_senders);
  return query;
}

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
      const token = (value: string | undefined, name: string) => {
        if (value === undefined) return undefined;
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
        start: request.query.from ?? formatPaginationToken(start),
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
