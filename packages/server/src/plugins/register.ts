import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import type { ServerContext } from '../context.js';
import { startSession } from '../devices.js';
import { MatrixError, forbidden, missingParam } from '../errors.js';
import { checkDeviceId, checkLocalpart, newLocalpart, userIdFor } from '../identifiers.js';
import { anyObject, bool, object, str } from '../schemas.js';
import { hashPassword } from './auth.js';

interface RegisterBody {
  auth?: { type?: string; session?: string };
  username?: string;
  password?: string;
  device_id?: string;
  initial_device_display_name?: string;
  inhibit_login?: boolean;
  refresh_token?: boolean;
}

const DUMMY = 'm.login.dummy';

/** POST /register: password accounts behind the one-stage `m.login.dummy` interactive flow. */
export const registerPlugin: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  const { serverName } = ctx.config;

  app.post<{ Body: RegisterBody; Querystring: { kind?: 'user' | 'guest' } }>(
    '/register',
    {
      schema: {
        querystring: object({ kind: str({ enum: ['user', 'guest'] }) }),
        body: object({
          auth: anyObject(),
          username: str(),
          password: str({ maxLength: 512 }),
          device_id: str(),
          initial_device_display_name: str({ maxLength: 255 }),
          inhibit_login: bool(),
          refresh_token: bool(),
        }),
      },
    },
    async (request, reply) => {
      if (!ctx.config.registrationEnabled) throw forbidden('Registration is disabled');
      if (request.query.kind === 'guest') throw forbidden('Guest accounts are not supported');
      const body = request.body;

      // The spec wants these answered before interactive authentication.
      const localpart = body.username ?? newLocalpart();
      checkLocalpart(localpart, serverName);
      const userId = userIdFor(localpart, serverName);
      if (body.device_id !== undefined) checkDeviceId(body.device_id);
      const taken = await ctx.store.db
        .selectFrom('users')
        .select('user_id')
        .where('user_id', '=', userId)
        .executeTakeFirst();
      if (taken) throw new MatrixError(400, 'M_USER_IN_USE', 'Desired user ID is already taken.');

      if (body.auth?.type !== DUMMY) {
        const session = body.auth?.session ?? randomBytes(12).toString('base64url');
        const uia: Record<string, unknown> = { flows: [{ stages: [DUMMY] }], params: {}, session };
        if (body.auth?.type !== undefined) {
          uia.errcode = 'M_UNRECOGNIZED';
          uia.error = `Unknown authentication type ${body.auth.type}`;
        }
        return reply.status(401).send(uia);
      }
      if (body.password === undefined || body.password === '')
        throw missingParam('Missing password');

      const passwordHash = await hashPassword(body.password);
      const session = await ctx.store.write(async (trx) => {
        const inserted = await trx
          .insertInto('users')
          .values({
            user_id: userId,
            localpart,
            password_hash: passwordHash,
            created_ts: Date.now(),
          })
          .onConflict((oc) => oc.doNothing())
          .returning('user_id')
          .executeTakeFirst();
        if (!inserted)
          throw new MatrixError(400, 'M_USER_IN_USE', 'Desired user ID is already taken.');
        if (body.inhibit_login) return undefined;
        return startSession(trx, {
          userId,
          deviceId: body.device_id,
          displayName: body.initial_device_display_name,
        });
      });
      if (!session) return { user_id: userId, home_server: serverName };
      return {
        user_id: userId,
        access_token: session.accessToken,
        device_id: session.deviceId,
        home_server: serverName,
      };
    },
  );

  app.get<{ Querystring: { username: string } }>(
    '/register/available',
    { schema: { querystring: object({ username: str() }, ['username']) } },
    async (request) => {
      checkLocalpart(request.query.username, serverName);
      const taken = await ctx.store.db
        .selectFrom('users')
        .select('user_id')
        .where('user_id', '=', userIdFor(request.query.username, serverName))
        .executeTakeFirst();
      if (taken) throw new MatrixError(400, 'M_USER_IN_USE', 'Desired user ID is already taken.');
      return { available: true };
    },
  );
};
