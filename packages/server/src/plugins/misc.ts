import type { FastifyPluginAsync } from 'fastify';
import type { ServerContext } from '../context.js';
import type { Db } from '../db/index.js';
import { forbidden, notFound } from '../errors.js';
import { anyObject, params, str } from '../schemas.js';
import { caller, requireAuth } from './auth.js';
import { DEFAULT_ROOM_VERSION, SUPPORTED_ROOM_VERSIONS } from './rooms.js';

/** The JSON of a filter the user stored, by its id; undefined if there is none. */
export async function storedFilter(
  db: Db,
  userId: string,
  filterId: string,
): Promise<string | undefined> {
  const id = Number(filterId);
  if (!Number.isSafeInteger(id)) return undefined;
  const row = await db
    .selectFrom('filters')
    .select('filter_json')
    .where('filter_id', '=', id)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return row?.filter_json;
}

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
      const json = await storedFilter(ctx.store.db, userId, request.params.filterId);
      if (json === undefined) throw notFound('No such filter');
      return JSON.parse(json) as unknown;
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
