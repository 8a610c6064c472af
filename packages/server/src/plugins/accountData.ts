import type { FastifyPluginAsync } from 'fastify';
import { GLOBAL, getAccountData, putAccountData } from '../accountData.js';
import type { ServerContext } from '../context.js';
import { MatrixError, forbidden, notFound } from '../errors.js';
import { anyObject, params, roomIdParam, str, userIdSchema } from '../schemas.js';
import { caller, requireAuth } from './auth.js';

interface Params {
  userId: string;
  roomId?: string;
  type: string;
}

/**
 * Account data (api/account-data.yaml): PUT and GET of `/user/{userId}/account_data/{type}` and
 * `/user/{userId}/rooms/{roomId}/account_data/{type}`, each only for the authenticated user.
 * Secret storage keeps its key descriptions and encrypted secrets here.
 */
export const accountDataPlugin: FastifyPluginAsync<{ ctx: ServerContext }> = async (
  app,
  { ctx },
) => {
  const auth = requireAuth(ctx);
  const globalParams = params({ userId: userIdSchema(), type: str({ maxLength: 255 }) });
  const roomParams = params({
    userId: userIdSchema(),
    roomId: roomIdParam(),
    type: str({ maxLength: 255 }),
  });

  const owner = (request: { params: Params }, userId: string, verb: string) => {
    if (request.params.userId !== userId) {
      throw forbidden(`Cannot ${verb} account data for other users`);
    }
  };

  for (const [path, schema] of [
    ['/user/:userId/account_data/:type', globalParams],
    ['/user/:userId/rooms/:roomId/account_data/:type', roomParams],
  ] as const) {
    app.put<{ Params: Params; Body: Record<string, unknown> }>(
      path,
      { onRequest: auth, schema: { params: schema, body: anyObject() } },
      async (request) => {
        const { userId } = caller(request);
        owner(request, userId, 'add');
        // "The server will reject the request with 405 M_BAD_JSON": m.fully_read belongs to
        // the read-markers API, which this server does not have.
        if (request.params.type === 'm.fully_read') {
          throw new MatrixError(405, 'M_BAD_JSON', 'Cannot set m.fully_read through this API.');
        }
        const { roomId = GLOBAL, type } = request.params;
        await ctx.store.write((trx, wctx) =>
          putAccountData(trx, wctx, userId, roomId, type, request.body),
        );
        return {};
      },
    );

    app.get<{ Params: Params }>(
      path,
      { onRequest: auth, schema: { params: schema } },
      async (request) => {
        const { userId } = caller(request);
        owner(request, userId, 'get');
        const { roomId = GLOBAL, type } = request.params;
        const content = await getAccountData(ctx.store.db, userId, roomId, type);
        if (content === undefined) throw notFound('Account data not found.');
        return content;
      },
    );
  }
};
