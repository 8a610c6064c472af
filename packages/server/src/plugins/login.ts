import type { FastifyPluginAsync } from 'fastify';
import type { ServerContext } from '../context.js';
import { deleteDevices, startSession } from '../devices.js';
import { MatrixError, forbidden, invalidParam, missingParam } from '../errors.js';
import { checkDeviceId, localpartOf, userIdFor } from '../identifiers.js';
import { bool, object, str } from '../schemas.js';
import { verifyPassword } from '../passwords.js';
import { giveBack, limitExceeded, takeShared } from '../sharedRateLimit.js';
import { caller, requireAuth } from './auth.js';

interface LoginBody {
  type: string;
  identifier?: { type: string; user?: unknown };
  user?: string;
  password?: string;
  device_id?: string;
  initial_device_display_name?: string;
  refresh_token?: boolean;
}

const PASSWORD = 'm.login.password';

/**
 * Resolves `identifier` (or the deprecated `user`) and checks the password; the user id on
 * success. A wrong user and a wrong password are indistinguishable: same answer, same password
 * hashing work. Attempts are limited per client address, and failures per account named
 * (existing or not), in buckets every process on the database shares.
 */
export async function checkPassword(
  ctx: ServerContext,
  body: { identifier?: { type?: unknown; user?: unknown }; user?: unknown; password?: unknown },
  address: string,
): Promise<string> {
  let user: unknown;
  if (body.identifier !== undefined) {
    if (body.identifier.type !== 'm.id.user') {
      throw invalidParam(`Unsupported identifier type ${String(body.identifier.type)}`);
    }
    user = body.identifier.user;
  } else {
    user = body.user;
  }
  if (typeof user !== 'string' || user === '') throw missingParam('Missing user identifier');
  if (typeof body.password !== 'string') throw missingParam('Missing password');
  const serverName = ctx.config.serverName;
  const localpart = user.startsWith('@') ? localpartOf(user, serverName) : user.toLowerCase();
  const account = localpart === undefined ? user : userIdFor(localpart, serverName);

  const limits = ctx.config.authLimits;
  const byAddress = await takeShared(ctx.store, `login_address:${address}`, limits.loginPerAddress);
  if (!byAddress.ok) throw limitExceeded('login attempts', byAddress.retryAfterMs);
  // A failure token is taken before checking, so parallel guesses cannot overdraw the bucket,
  // and given back on success.
  const accountBucket = `login_account:${account}`;
  const failures = limits.loginFailuresPerAccount;
  const byAccount = await takeShared(ctx.store, accountBucket, failures);
  if (!byAccount.ok) throw limitExceeded('failed logins for this account', byAccount.retryAfterMs);

  const row =
    localpart === undefined
      ? undefined
      : await ctx.store.db
          .selectFrom('users')
          .select(['user_id', 'password_hash'])
          .where('user_id', '=', account)
          .executeTakeFirst();
  if (!(await verifyPassword(body.password, row?.password_hash)) || !row) {
    throw forbidden('Invalid username or password');
  }
  await giveBack(ctx.store, accountBucket, failures);
  return row.user_id;
}

export const loginPlugin: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  const auth = requireAuth(ctx);

  app.get('/login', async () => ({ flows: [{ type: PASSWORD }] }));

  app.post<{ Body: LoginBody }>(
    '/login',
    {
      schema: {
        body: object(
          {
            type: str(),
            identifier: object({ type: str() }, ['type']),
            user: str(),
            password: str(),
            device_id: str(),
            initial_device_display_name: str({ maxLength: 255 }),
            refresh_token: bool(),
          },
          ['type'],
        ),
      },
    },
    async (request) => {
      const body = request.body;
      if (body.type !== PASSWORD) throw new MatrixError(400, 'M_UNKNOWN', 'Bad login type.');
      if (body.device_id !== undefined) checkDeviceId(body.device_id);
      const userId = await checkPassword(ctx, body, request.ip);
      const session = await ctx.store.write((trx) =>
        startSession(trx, {
          userId,
          deviceId: body.device_id,
          displayName: body.initial_device_display_name,
        }),
      );
      return {
        user_id: userId,
        access_token: session.accessToken,
        device_id: session.deviceId,
        home_server: ctx.config.serverName,
      };
    },
  );

  app.post('/logout', { onRequest: auth }, async (request) => {
    const { userId, deviceId } = caller(request);
    await ctx.store.write((trx, wctx) => deleteDevices(trx, wctx, userId, [deviceId]));
    return {};
  });

  app.post('/logout/all', { onRequest: auth }, async (request) => {
    const { userId } = caller(request);
    await ctx.store.write(async (trx, wctx) => {
      const devices = await trx
        .selectFrom('devices')
        .select('device_id')
        .where('user_id', '=', userId)
        .execute();
      await deleteDevices(
        trx,
        wctx,
        userId,
        devices.map((d) => d.device_id),
      );
    });
    return {};
  });

  app.get('/account/whoami', { onRequest: auth }, async (request) => {
    const { userId, deviceId } = caller(request);
    return { user_id: userId, device_id: deviceId, is_guest: false };
  });
};
