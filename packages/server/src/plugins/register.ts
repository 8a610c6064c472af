import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import type { ServerContext } from '../context.js';
import { startSession } from '../devices.js';
import { MatrixError, forbidden, missingParam } from '../errors.js';
import { checkDeviceId, checkLocalpart, newLocalpart, userIdFor } from '../identifiers.js';
import { anyObject, bool, object, str } from '../schemas.js';
import { hashPassword } from '../passwords.js';
import { limitExceeded, takeShared } from '../sharedRateLimit.js';

interface RegisterBody {
  auth?: { type?: string; session?: string; token?: unknown };
  username?: string;
  password?: string;
  device_id?: string;
  initial_device_display_name?: string;
  inhibit_login?: boolean;
  refresh_token?: boolean;
}

const DUMMY = 'm.login.dummy';
const TOKEN = 'm.login.registration_token';

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** Whether `token` is one of the configured tokens, compared without timing hints. */
function isRegistrationToken(ctx: ServerContext, token: unknown): boolean {
  if (typeof token !== 'string') return false;
  const offered = digest(token);
  let found = false;
  for (const known of ctx.config.registration.tokens) {
    if (timingSafeEqual(offered, digest(known))) found = true;
  }
  return found;
}

/** Takes one registration request from the client address's bucket, or answers 429. */
async function limitAddress(ctx: ServerContext, address: string): Promise<void> {
  const rate = ctx.config.authLimits.registerPerAddress;
  const taken = await takeShared(ctx.store, `register_address:${address}`, rate);
  if (!taken.ok) throw limitExceeded('registration requests', taken.retryAfterMs);
}

/**
 * POST /register: password accounts behind a one-stage interactive flow, `m.login.dummy` when
 * registration is open, `m.login.registration_token` when it needs a token; refused when closed.
 */
export const registerPlugin: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  const { serverName } = ctx.config;
  const { mode } = ctx.config.registration;

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
      if (mode === 'closed') throw forbidden('Registration is disabled');
      if (request.query.kind === 'guest') throw forbidden('Guest accounts are not supported');
      await limitAddress(ctx, request.ip);
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

      const stage = mode === 'token' ? TOKEN : DUMMY;
      const uiaSession = body.auth?.session ?? randomBytes(12).toString('base64url');
      const uia: Record<string, unknown> = {
        flows: [{ stages: [stage] }],
        params: {},
        session: uiaSession,
      };
      if (body.auth?.type !== stage) {
        if (body.auth?.type !== undefined) {
          uia.errcode = 'M_UNRECOGNIZED';
          uia.error = `Unknown authentication type ${body.auth.type}`;
        }
        return reply.status(401).send(uia);
      }
      // Each attempt at the stage counts against the user id asked for (token guessing).
      const rate = ctx.config.authLimits.registerPerAccount;
      const byAccount = await takeShared(ctx.store, `register_account:${userId}`, rate);
      if (!byAccount.ok) throw limitExceeded('registration attempts', byAccount.retryAfterMs);
      if (stage === TOKEN && !isRegistrationToken(ctx, body.auth.token)) {
        return reply
          .status(401)
          .send({ ...uia, errcode: 'M_FORBIDDEN', error: 'Invalid registration token' });
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
      if (mode === 'closed') throw forbidden('Registration is disabled');
      await limitAddress(ctx, request.ip);
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

/**
 * GET /_matrix/client/v1/register/m.login.registration_token/validity: whether a token would be
 * accepted now (limited like registration requests, as it is a way to guess tokens).
 */
export const registrationTokenPlugin: FastifyPluginAsync<{ ctx: ServerContext }> = async (
  app,
  { ctx },
) => {
  app.get<{ Querystring: { token: string } }>(
    `/_matrix/client/v1/register/${TOKEN}/validity`,
    { schema: { querystring: object({ token: str() }, ['token']) } },
    async (request) => {
      if (ctx.config.registration.mode === 'closed') {
        throw forbidden('Registration is disabled, so no token is valid');
      }
      await limitAddress(ctx, request.ip);
      return {
        valid:
          ctx.config.registration.mode === 'token' && isRegistrationToken(ctx, request.query.token),
      };
    },
  );
};
