import { createHash, randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { ServerContext } from '../context.js';
import { MatrixError } from '../errors.js';

export interface Auth {
  userId: string;
  deviceId: string;
  tokenHash: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    auth: Auth | null;
  }
}

export const newAccessToken = () => `trl_${randomBytes(32).toString('base64url')}`;
export const hashToken = (token: string) => createHash('sha256').update(token).digest('base64');

/** Device ids the server makes up: ten upper-case letters, as other homeservers do. */
export function newDeviceId(): string {
  const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  return Array.from(randomBytes(10), (b) => letters[b % 26]).join('');
}

function tokenOf(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match?.[1];
  }
  const query = request.query as Record<string, unknown> | undefined;
  const fromQuery = query?.access_token;
  return typeof fromQuery === 'string' ? fromQuery : undefined;
}

const LAST_SEEN_EVERY_MS = 60_000;

/**
 * An onRequest hook that resolves the access token (Authorization: Bearer, or the deprecated
 * `access_token` query parameter) before the body is even read.
 */
export function requireAuth(ctx: ServerContext) {
  const lastSeenWritten = new Map<string, number>();
  return async function authenticate(request: FastifyRequest): Promise<void> {
    const token = tokenOf(request);
    if (token === undefined) {
      throw new MatrixError(401, 'M_MISSING_TOKEN', 'Missing access token');
    }
    const tokenHash = hashToken(token);
    const row = await ctx.store.db
      .selectFrom('access_tokens')
      .select(['user_id', 'device_id'])
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst();
    if (!row) {
      throw new MatrixError(401, 'M_UNKNOWN_TOKEN', 'Unrecognised access token', {
        soft_logout: false,
      });
    }
    request.auth = { userId: row.user_id, deviceId: row.device_id, tokenHash };

    const now = Date.now();
    if ((lastSeenWritten.get(tokenHash) ?? 0) + LAST_SEEN_EVERY_MS < now) {
      lastSeenWritten.set(tokenHash, now);
      if (lastSeenWritten.size > 100_000) lastSeenWritten.clear();
      await ctx.store.db
        .updateTable('devices')
        .set({ last_seen_ts: now, last_seen_ip: request.ip })
        .where('user_id', '=', row.user_id)
        .where('device_id', '=', row.device_id)
        .execute();
    }
  };
}

/** The authenticated caller of a route guarded by `requireAuth`. */
export function caller(request: FastifyRequest): Auth {
  if (!request.auth) throw new MatrixError(401, 'M_MISSING_TOKEN', 'Missing access token');
  return request.auth;
}
