import { randomBytes } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import type { ServerContext } from './context.js';
import { forbidden } from './errors.js';
import { checkPassword } from './plugins/login.js';

/** The `auth` member of a request body (client-server API, "User-interactive authentication"). */
export interface UiaAuth {
  type?: string;
  session?: string;
  identifier?: { type?: unknown; user?: unknown };
  user?: unknown;
  password?: unknown;
}

/** The one flow this server offers where it asks for authentication again. */
export const PASSWORD_FLOWS = [{ stages: ['m.login.password'] }];

/**
 * User-Interactive Authentication with one `m.login.password` stage, for endpoints that ask for
 * the account password again (device deletion, replacing cross-signing keys). Returns true when
 * `authData` proves `userId`'s password; otherwise answers 401 with the flows and returns false.
 * A wrong password or another user's is refused (M_FORBIDDEN) by throwing.
 */
export async function passwordStage(
  ctx: ServerContext,
  userId: string,
  authData: UiaAuth | undefined,
  reply: FastifyReply,
): Promise<boolean> {
  if (authData?.type !== 'm.login.password') {
    await reply.status(401).send({
      flows: PASSWORD_FLOWS,
      params: {},
      session: authData?.session ?? randomBytes(12).toString('base64url'),
    });
    return false;
  }
  const authenticated = await checkPassword(ctx, authData, reply.request.ip);
  if (authenticated !== userId) throw forbidden('Authenticated as a different user');
  return true;
}
