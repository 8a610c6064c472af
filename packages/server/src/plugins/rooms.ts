import type { FastifyPluginAsync } from 'fastify';
import type { ServerContext } from '../context.js';
import type { Tx, WriteContext } from '../db/index.js';
import { MatrixError, badJson, forbidden, invalidParam, notFound } from '../errors.js';
import { isUserId, newRoomId } from '../identifiers.js';
import { profileOf, withProfile } from '../profiles.js';
import { clientEvent, type Viewer } from '../rooms/format.js';
import { appendEvent, type EventRow } from '../rooms/graph.js';
import { forgetRoom, isForgotten } from '../rooms/forgotten.js';
import { changeMembership, requireRoom } from '../rooms/membership.js';
import { membershipHistory } from '../rooms/visibility.js';
import {
  currentState,
  eventLevel,
  membershipOf,
  membersOf,
  powerLevels,
  roomsOf,
  stateAt,
  userLevel,
} from '../rooms/state.js';
import {
  anyObject,
  arrayOf,
  bool,
  object,
  params,
  roomIdParam,
  str,
  userIdSchema,
} from '../schemas.js';
import { caller, requireAuth } from './auth.js';

export const SUPPORTED_ROOM_VERSIONS = ['10', '11'];
export const DEFAULT_ROOM_VERSION = '10';

interface CreateRoomBody {
  visibility?: 'public' | 'private';
  room_alias_name?: string;
  name?: string;
  topic?: string;
  invite?: string[];
  invite_3pid?: unknown[];
  room_version?: string;
  creation_content?: Record<string, unknown>;
  initial_state?: { type: string; state_key?: string; content: Record<string, unknown> }[];
  preset?: 'private_chat' | 'public_chat' | 'trusted_private_chat';
  is_direct?: boolean;
  power_level_content_override?: Record<string, unknown>;
}

const createRoomSchema = object({
  visibility: str({ enum: ['public', 'private'] }),
  room_alias_name: str(),
  name: str(),
  topic: str(),
  invite: arrayOf(userIdSchema()),
  invite_3pid: arrayOf(anyObject()),
  room_version: str(),
  creation_content: anyObject(),
  initial_state: arrayOf(
    object({ type: str(), state_key: str(), content: anyObject() }, ['type', 'content']),
  ),
  preset: str({ enum: ['private_chat', 'public_chat', 'trusted_private_chat'] }),
  is_direct: bool(),
  power_level_content_override: anyObject(),
});

const PRESETS = {
  private_chat: { join_rule: 'invite', history_visibility: 'shared', guest_access: 'can_join' },
  trusted_private_chat: {
    join_rule: 'invite',
    history_visibility: 'shared',
    guest_access: 'can_join',
  },
  public_chat: { join_rule: 'public', history_visibility: 'shared', guest_access: 'forbidden' },
} as const;

/** Rejects content larger than a room event may be. */
export function checkEventSize(ctx: ServerContext, content: unknown): void {
  if (Buffer.byteLength(JSON.stringify(content)) > ctx.config.maxEventBytes) {
    throw new MatrixError(413, 'M_TOO_LARGE', 'Event content is too large');
  }
}

async function requireLocalUser(trx: Tx, userId: string): Promise<void> {
  const user = await trx
    .selectFrom('users')
    .select('user_id')
    .where('user_id', '=', userId)
    .executeTakeFirst();
  if (!user) throw notFound(`Unknown user ${userId}`);
}

/**
 * What the caller may read of a room's state: the current state while joined; the state when
 * they left if they were a member and have not forgotten the room; nothing otherwise (403).
 */
export async function readableStatePosition(
  ctx: ServerContext,
  roomId: string,
  userId: string,
): Promise<number | 'current'> {
  const db = ctx.store.db;
  const membership = await membershipOf(db, roomId, userId);
  if (membership === 'join') return 'current';
  if (membership === 'leave' || membership === 'ban') {
    const events = await membershipHistory(db, roomId, userId);
    const wasJoined = events.some((e) => e.membership === 'join');
    const last = events.at(-1);
    if (wasJoined && last && !(await isForgotten(db, roomId, userId, last.stream))) {
      return last.stream;
    }
  }
  throw forbidden(`You are not in room ${roomId}`);
}

async function stateFor(ctx: ServerContext, roomId: string, userId: string): Promise<EventRow[]> {
  const at = await readableStatePosition(ctx, roomId, userId);
  return at === 'current' ? currentState(ctx.store.db, roomId) : stateAt(ctx.store.db, roomId, at);
}

/**
 * The one m.room.member change made through the state API: a joined member updating their own
 * event while staying joined (a per-room display name or avatar), which the authorisation rules
 * allow. Every other membership change goes through its endpoint (invite, join, leave, kick).
 */
function checkOwnMemberUpdate(
  sender: string,
  stateKey: string,
  content: Record<string, unknown>,
): void {
  if (stateKey !== sender || content.membership !== 'join') {
    throw forbidden(
      'Through the state API a member may only update its own join event; membership changes use the invite, join, leave and kick endpoints',
    );
  }
  for (const field of ['displayname', 'avatar_url']) {
    const value = content[field];
    if (value !== undefined && value !== null && typeof value !== 'string') {
      throw badJson(`${field} must be a string`);
    }
  }
}

/**
 * Appends a state event sent by a user after the room-authorisation checks this server makes:
 * the sender is joined and has the power level the event type needs.
 */
export async function sendStateEvent(
  trx: Tx,
  wctx: WriteContext,
  args: {
    roomId: string;
    sender: string;
    senderDevice?: string;
    type: string;
    stateKey: string;
    content: Record<string, unknown>;
  },
): Promise<EventRow> {
  await wctx.lock();
  const { roomId, sender, type, stateKey, content } = args;
  await requireRoom(trx, roomId);
  if ((await membershipOf(trx, roomId, sender)) !== 'join') {
    throw forbidden(`You are not in room ${roomId}`);
  }
  if (type === 'm.room.create') throw forbidden('m.room.create cannot be sent again');
  if (type === 'm.room.member') checkOwnMemberUpdate(sender, stateKey, content);
  if (stateKey.startsWith('@') && stateKey !== sender) {
    throw forbidden('State keys naming a user can only be set by that user');
  }
  const pl = await powerLevels(trx, roomId);
  const level = userLevel(pl, sender);
  // Member events follow the membership rules (above), not the power level of their type.
  if (type !== 'm.room.member' && level < eventLevel(pl, type, true)) {
    throw forbidden(`You do not have a high enough power level to send ${type}`);
  }
  if (type === 'm.room.power_levels') {
    const users = content.users;
    if (users && typeof users === 'object') {
      for (const value of Object.values(users as Record<string, unknown>)) {
        if (typeof value === 'number' && value > level) {
          throw forbidden('You cannot raise a user above your own power level');
        }
      }
    }
  }
  const event = await appendEvent(trx, wctx, {
    roomId,
    type,
    stateKey,
    sender,
    content,
    ...(args.senderDevice !== undefined ? { senderDevice: args.senderDevice } : {}),
  });
  wctx.wake(await membersOf(trx, roomId, ['join', 'invite']));
  return event;
}

export const roomsPlugin: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  const auth = requireAuth(ctx);
  const { serverName } = ctx.config;
  const viewerOf = (request: Parameters<typeof caller>[0]): Viewer => caller(request);

  app.post<{ Body: CreateRoomBody }>(
    '/createRoom',
    { onRequest: auth, schema: { body: createRoomSchema } },
    async (request) => {
      const { userId, deviceId } = caller(request);
      const body = request.body;
      const roomVersion = body.room_version ?? DEFAULT_ROOM_VERSION;
      if (!SUPPORTED_ROOM_VERSIONS.includes(roomVersion)) {
        throw new MatrixError(
          400,
          'M_UNSUPPORTED_ROOM_VERSION',
          `Room version ${roomVersion} is not supported`,
        );
      }
      if (body.invite_3pid && body.invite_3pid.length > 0) {
        throw invalidParam('Third-party invites are not supported');
      }
      for (const state of body.initial_state ?? []) {
        if (state.type === 'm.room.create' || state.type === 'm.room.member') {
          throw new MatrixError(
            400,
            'M_INVALID_ROOM_STATE',
            `initial_state may not contain ${state.type}`,
          );
        }
        checkEventSize(ctx, state.content);
      }
      let alias: string | undefined;
      if (body.room_alias_name !== undefined) {
        if (!/^[^:\s#]+$/.test(body.room_alias_name)) {
          throw invalidParam('room_alias_name must be a local part without ":", "#" or spaces');
        }
        alias = `#${body.room_alias_name}:${serverName}`;
      }
      const preset = body.preset ?? (body.visibility === 'public' ? 'public_chat' : 'private_chat');
      const invitees = [...new Set(body.invite ?? [])].filter((u) => u !== userId);
      for (const invitee of invitees)
        if (!isUserId(invitee)) throw invalidParam(`Invalid user id ${invitee}`);

      const roomId = newRoomId(serverName);
      await ctx.store.write(async (trx, wctx) => {
        await wctx.lock();
        for (const invitee of invitees) await requireLocalUser(trx, invitee);
        if (alias) {
          const taken = await trx
            .selectFrom('room_aliases')
            .select('alias')
            .where('alias', '=', alias)
            .executeTakeFirst();
          if (taken)
            throw new MatrixError(400, 'M_ROOM_IN_USE', `Alias ${alias} is already in use`);
          await trx.insertInto('room_aliases').values({ alias, room_id: roomId }).execute();
        }
        const now = Date.now();
        await trx
          .insertInto('rooms')
          .values({ room_id: roomId, creator: userId, room_version: roomVersion, created_ts: now })
          .execute();
        const state = (type: string, content: Record<string, unknown>, stateKey = '') =>
          appendEvent(trx, wctx, {
            roomId,
            type,
            stateKey,
            sender: userId,
            senderDevice: deviceId,
            content,
          });

        // The order createRoom prescribes: create, creator's join, power levels, alias, preset,
        // initial_state, name and topic, invites.
        const createContent: Record<string, unknown> = {
          ...body.creation_content,
          room_version: roomVersion,
        };
        if (roomVersion === '10') createContent.creator = userId;
        else delete createContent.creator;
        await state('m.room.create', createContent);
        await state(
          'm.room.member',
          withProfile({ membership: 'join' }, await profileOf(trx, userId)),
          userId,
        );
        const users: Record<string, number> = { [userId]: 100 };
        if (preset === 'trusted_private_chat') for (const i of invitees) users[i] = 100;
        await state('m.room.power_levels', {
          users,
          users_default: 0,
          events: {
            'm.room.name': 50,
            'm.room.power_levels': 100,
            'm.room.history_visibility': 100,
            'm.room.canonical_alias': 50,
            'm.room.avatar': 50,
            'm.room.tombstone': 100,
            'm.room.encryption': 100,
          },
          events_default: 0,
          state_default: 50,
          ban: 50,
          kick: 50,
          redact: 50,
          invite: 0,
          ...body.power_level_content_override,
        });
        if (alias) await state('m.room.canonical_alias', { alias });
        const p = PRESETS[preset];
        await state('m.room.join_rules', { join_rule: p.join_rule });
        await state('m.room.history_visibility', { history_visibility: p.history_visibility });
        await state('m.room.guest_access', { guest_access: p.guest_access });
        for (const s of body.initial_state ?? []) await state(s.type, s.content, s.state_key ?? '');
        if (body.name !== undefined) await state('m.room.name', { name: body.name });
        if (body.topic !== undefined) await state('m.room.topic', { topic: body.topic });
        for (const invitee of invitees) {
          const content: Record<string, unknown> = { membership: 'invite' };
          if (body.is_direct) content.is_direct = true;
          await state(
            'm.room.member',
            withProfile(content, await profileOf(trx, invitee)),
            invitee,
          );
        }
        wctx.wake([userId, ...invitees]);
      });
      return { room_id: roomId };
    },
  );

  const reasonBody = object({ reason: str() });

  app.post<{ Params: { roomId: string }; Body: { user_id: string; reason?: string } }>(
    '/rooms/:roomId/invite',
    {
      onRequest: auth,
      schema: {
        params: params({ roomId: roomIdParam() }),
        body: object({ user_id: userIdSchema(), reason: str() }, ['user_id']),
      },
    },
    async (request) => {
      const { userId, deviceId } = caller(request);
      const { user_id: target, reason } = request.body;
      await ctx.store.write(async (trx, wctx) => {
        await wctx.lock();
        await requireRoom(trx, request.params.roomId);
        await requireLocalUser(trx, target);
        await changeMembership(trx, wctx, {
          roomId: request.params.roomId,
          sender: userId,
          senderDevice: deviceId,
          target,
          membership: 'invite',
          ...(reason !== undefined ? { reason } : {}),
        });
      });
      return {};
    },
  );

  const join = async (
    request: { auth: unknown } & Parameters<typeof caller>[0],
    roomId: string,
    reason?: string,
  ) => {
    const { userId, deviceId } = caller(request);
    await ctx.store.write((trx, wctx) =>
      changeMembership(trx, wctx, {
        roomId,
        sender: userId,
        senderDevice: deviceId,
        target: userId,
        membership: 'join',
        ...(reason !== undefined ? { reason } : {}),
      }),
    );
    return { room_id: roomId };
  };

  app.post<{ Params: { roomId: string }; Body: { reason?: string } }>(
    '/rooms/:roomId/join',
    { onRequest: auth, schema: { params: params({ roomId: roomIdParam() }), body: reasonBody } },
    async (request) => join(request, request.params.roomId, request.body.reason),
  );

  app.post<{ Params: { roomIdOrAlias: string }; Body: { reason?: string } }>(
    '/join/:roomIdOrAlias',
    {
      onRequest: auth,
      schema: { params: params({ roomIdOrAlias: str({ pattern: '^[!#]' }) }), body: reasonBody },
    },
    async (request) => {
      let roomId = request.params.roomIdOrAlias;
      if (roomId.startsWith('#')) {
        const row = await ctx.store.db
          .selectFrom('room_aliases')
          .select('room_id')
          .where('alias', '=', roomId)
          .executeTakeFirst();
        if (!row) throw notFound(`Unknown room alias ${roomId}`);
        roomId = row.room_id;
      }
      return join(request, roomId, request.body.reason);
    },
  );

  app.post<{ Params: { roomId: string }; Body: { reason?: string } }>(
    '/rooms/:roomId/leave',
    { onRequest: auth, schema: { params: params({ roomId: roomIdParam() }), body: reasonBody } },
    async (request) => {
      const { userId, deviceId } = caller(request);
      const reason = request.body.reason;
      await ctx.store.write((trx, wctx) =>
        changeMembership(trx, wctx, {
          roomId: request.params.roomId,
          sender: userId,
          senderDevice: deviceId,
          target: userId,
          membership: 'leave',
          ...(reason !== undefined ? { reason } : {}),
        }),
      );
      return {};
    },
  );

  app.post<{ Params: { roomId: string } }>(
    '/rooms/:roomId/forget',
    { onRequest: auth, schema: { params: params({ roomId: roomIdParam() }) } },
    async (request) => {
      const { userId } = caller(request);
      await ctx.store.write(async (trx, wctx) => {
        await wctx.lock();
        await requireRoom(trx, request.params.roomId);
        await forgetRoom(trx, request.params.roomId, userId);
      });
      return {};
    },
  );

  app.post<{ Params: { roomId: string }; Body: { user_id: string; reason?: string } }>(
    '/rooms/:roomId/kick',
    {
      onRequest: auth,
      schema: {
        params: params({ roomId: roomIdParam() }),
        body: object({ user_id: userIdSchema(), reason: str() }, ['user_id']),
      },
    },
    async (request) => {
      const { userId, deviceId } = caller(request);
      const { user_id: target, reason } = request.body;
      if (target === userId) throw forbidden('Use leave to leave a room');
      await ctx.store.write((trx, wctx) =>
        changeMembership(trx, wctx, {
          roomId: request.params.roomId,
          sender: userId,
          senderDevice: deviceId,
          target,
          membership: 'leave',
          ...(reason !== undefined ? { reason } : {}),
        }),
      );
      return {};
    },
  );

  app.get<{ Params: { roomId: string } }>(
    '/rooms/:roomId/state',
    { onRequest: auth, schema: { params: params({ roomId: roomIdParam() }) } },
    async (request) => {
      const viewer = viewerOf(request);
      const state = await stateFor(ctx, request.params.roomId, viewer.userId);
      const now = Date.now();
      return state.map((e) => clientEvent(e, viewer, true, now));
    },
  );

  const getStateEvent = async (
    request: Parameters<typeof caller>[0],
    roomId: string,
    type: string,
    stateKey: string,
    format: 'content' | 'event' | undefined,
  ) => {
    const viewer = viewerOf(request);
    const state = await stateFor(ctx, roomId, viewer.userId);
    const event = state.find((e) => e.type === type && e.state_key === stateKey);
    if (!event) throw notFound(`No ${type} state with key "${stateKey}" in ${roomId}`);
    return format === 'event' ? clientEvent(event, viewer) : (JSON.parse(event.content) as unknown);
  };
  const formatQuery = object({ format: str({ enum: ['content', 'event'] }) });

  app.get<{
    Params: { roomId: string; eventType: string; stateKey: string };
    Querystring: { format?: 'content' | 'event' };
  }>(
    '/rooms/:roomId/state/:eventType/:stateKey',
    {
      onRequest: auth,
      schema: {
        params: params({ roomId: roomIdParam(), eventType: str(), stateKey: str() }),
        querystring: formatQuery,
      },
    },
    async (request) => {
      const { roomId, eventType, stateKey } = request.params;
      return getStateEvent(request, roomId, eventType, stateKey, request.query.format);
    },
  );
  app.get<{
    Params: { roomId: string; eventType: string };
    Querystring: { format?: 'content' | 'event' };
  }>(
    '/rooms/:roomId/state/:eventType',
    {
      onRequest: auth,
      schema: {
        params: params({ roomId: roomIdParam(), eventType: str() }),
        querystring: formatQuery,
      },
    },
    async (request) =>
      getStateEvent(
        request,
        request.params.roomId,
        request.params.eventType,
        '',
        request.query.format,
      ),
  );

  const putState = async (
    request: Parameters<typeof caller>[0],
    roomId: string,
    type: string,
    stateKey: string,
    content: Record<string, unknown>,
  ) => {
    const { userId, deviceId } = caller(request);
    checkEventSize(ctx, content);
    const event = await ctx.store.write((trx, wctx) =>
      sendStateEvent(trx, wctx, {
        roomId,
        sender: userId,
        senderDevice: deviceId,
        type,
        stateKey,
        content,
      }),
    );
    return { event_id: event.event_id };
  };
  app.put<{
    Params: { roomId: string; eventType: string; stateKey: string };
    Body: Record<string, unknown>;
  }>(
    '/rooms/:roomId/state/:eventType/:stateKey',
    {
      onRequest: auth,
      schema: {
        params: params({
          roomId: roomIdParam(),
          eventType: str({ minLength: 1 }),
          stateKey: str(),
        }),
        body: anyObject(),
      },
    },
    async (request) => {
      const { roomId, eventType, stateKey } = request.params;
      return putState(request, roomId, eventType, stateKey, request.body);
    },
  );
  app.put<{ Params: { roomId: string; eventType: string }; Body: Record<string, unknown> }>(
    '/rooms/:roomId/state/:eventType',
    {
      onRequest: auth,
      schema: {
        params: params({ roomId: roomIdParam(), eventType: str({ minLength: 1 }) }),
        body: anyObject(),
      },
    },
    async (request) =>
      putState(request, request.params.roomId, request.params.eventType, '', request.body),
  );

  const membershipEnum = str({ enum: ['join', 'invite', 'knock', 'leave', 'ban'] });
  app.get<{
    Params: { roomId: string };
    Querystring: { membership?: string; not_membership?: string };
  }>(
    '/rooms/:roomId/members',
    {
      onRequest: auth,
      schema: {
        params: params({ roomId: roomIdParam() }),
        querystring: object({
          membership: membershipEnum,
          not_membership: membershipEnum,
          at: str(),
        }),
      },
    },
    async (request) => {
      const viewer = viewerOf(request);
      const { membership, not_membership: notMembership } = request.query;
      const state = await stateFor(ctx, request.params.roomId, viewer.userId);
      const now = Date.now();
      const chunk = state
        .filter((e) => e.type === 'm.room.member')
        .filter((e) => {
          const m = (JSON.parse(e.content) as { membership?: string }).membership;
          if (membership === undefined && notMembership === undefined) return true;
          return (
            (membership !== undefined && m === membership) ||
            (notMembership !== undefined && m !== notMembership)
          );
        })
        .map((e) => clientEvent(e, viewer, true, now));
      return { chunk };
    },
  );

  app.get<{ Params: { roomId: string } }>(
    '/rooms/:roomId/joined_members',
    { onRequest: auth, schema: { params: params({ roomId: roomIdParam() }) } },
    async (request) => {
      const { userId } = caller(request);
      const roomId = request.params.roomId;
      if ((await membershipOf(ctx.store.db, roomId, userId)) !== 'join') {
        throw forbidden(`You are not in room ${roomId}`);
      }
      const members = await ctx.store.db
        .selectFrom('current_state')
        .innerJoin('events', 'events.event_id', 'current_state.event_id')
        .select(['current_state.state_key', 'events.content'])
        .where('current_state.room_id', '=', roomId)
        .where('current_state.type', '=', 'm.room.member')
        .where('current_state.membership', '=', 'join')
        .execute();
      const joined: Record<string, Record<string, unknown>> = {};
      for (const m of members) {
        const content = JSON.parse(m.content) as { displayname?: unknown; avatar_url?: unknown };
        // display_name is sent even when the member has none (null), as Synapse does: clients
        // such as matrix-nio refuse the answer without it.
        const info: Record<string, unknown> = {
          display_name: typeof content.displayname === 'string' ? content.displayname : null,
        };
        if (typeof content.avatar_url === 'string') info.avatar_url = content.avatar_url;
        joined[m.state_key] = info;
      }
      return { joined };
    },
  );

  app.get('/joined_rooms', { onRequest: auth }, async (request) => ({
    joined_rooms: await roomsOf(ctx.store.db, caller(request).userId),
  }));
};
