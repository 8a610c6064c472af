import type { FastifyPluginAsync } from 'fastify';
import type { ServerContext } from '../app.js';
import { forbidden, notFound } from '../errors.js';
import { anyObject, params, str } from '../schemas.js';
import { caller, requireAuth } from './auth.js';
import { DEFAULT_ROOM_VERSION, SUPPORTED_ROOM_VERSIONS } from './rooms.js';

/**
 * The few endpoints Matrix clients call on start-up besides the subset proper: filters (stored,
 * and their timeline limit honoured by sync), capabilities, and an empty push rule set.
 */
export const miscPlugin: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  const auth = requireAuth(ctx);

  app.post<{ Params: { userId: string }; Body: Record<string, unknown> }>(
    '/user/:userId/filter',
    { onRequest: auth, schema: { params: params({ userId: str() }), body: anyObject() } },
    async (request) => {
      const { userId } = caller(request);
      if (request.params.userId !== userId)
        throw forbidden('Cannot create filters for other users');
      const row = await ctx.store.db
        .insertInto('filters')
        .values({ user_id: userId, filter_json: JSON.stringify(request.body) })
        .returning('filter_id')
        .executeTakeFirstOrThrow();
      return { filter_id: String(row.filter_id) };
    },
  );

  app.get<{ Params: { userId: string; filterId: string } }>(
    '/user/:userId/filter/:filterId',
    { onRequest: auth, schema: { params: params({ userId: str(), filterId: str() }) } },
    async (request) => {
      const { userId } = caller(request);
      if (request.params.userId !== userId) throw forbidden('Cannot read filters of other users');
      const id = Number(request.params.filterId);
      const row = Number.isSafeInteger(id)
        ? await ctx.store.db
            .selectFrom('filters')
            .select('filter_json')
            .where('filter_id', '=', id)
            .where('user_id', '=', userId)
            .executeTakeFirst()
        : undefined;
      if (!row) throw notFound('No such filter');
      return JSON.parse(row.filter_json) as unknown;
    },
  );

  app.get('/capabilities', { onRequest: auth }, async () => ({
    capabilities: {
      'm.change_password': { enabled: false },
      'm.room_versions': {
        default: DEFAULT_ROOM_VERSION,
        available: Object.fromEntries(SUPPORTED_ROOM_VERSIONS.map((v) => [v, 'stable'])),
      },
    },
  }));

  app.get('/pushrules/', { onRequest: auth }, async () => ({
    global: { override: [], content: [], room: [], sender: [], underride: [] },
  }));
};
