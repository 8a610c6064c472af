import type { FastifyPluginAsync } from 'fastify';
import type { ServerContext } from '../context.js';
import type { Tx } from '../db/index.js';
import type { BackupVersionsTable } from '../db/schema.js';
import { MatrixError, invalidParam, notFound } from '../errors.js';
import { BACKUP_ALGORITHM, BACKUP_ALGORITHM_UNSTABLE } from '../mls.js';
import { anyObject, bool, int, mapOf, object, params, str } from '../schemas.js';
import { caller, requireAuth } from './auth.js';

/** Backup algorithms accepted: Megolm's (the spec's) and Trellis's MLS one (MSC4038). */
export const BACKUP_ALGORITHMS = [
  'm.megolm_backup.v1.curve25519-aes-sha2',
  BACKUP_ALGORITHM,
  BACKUP_ALGORITHM_UNSTABLE,
];

interface KeyBackupData {
  first_message_index: number;
  forwarded_count: number;
  is_verified: boolean;
  session_data: Record<string, unknown>;
}

interface StoredKey {
  first_message_index: number;
  forwarded_count: number;
  is_verified: number;
  session_data: string;
}

type VersionRow = Omit<BackupVersionsTable, 'version'> & { version: number };

const keyBackupDataSchema = object(
  {
    first_message_index: int({ minimum: 0 }),
    forwarded_count: int({ minimum: 0 }),
    is_verified: bool(),
    session_data: anyObject(),
  },
  ['first_message_index', 'forwarded_count', 'is_verified', 'session_data'],
);
const roomKeyBackupSchema = object({ sessions: mapOf(keyBackupDataSchema) }, ['sessions']);
const versionQuery = object({ version: str() }, ['version']);
const versionBody = object({ algorithm: str(), auth_data: anyObject(), version: str() }, [
  'algorithm',
  'auth_data',
]);

/**
 * The spec's rule for two keys of one session: the verified one; then the lower
 * first_message_index; then the lower forwarded_count. On a full tie the stored key stays.
 */
export function isBetterKey(candidate: KeyBackupData, stored: StoredKey): boolean {
  const storedVerified = stored.is_verified === 1;
  if (candidate.is_verified !== storedVerified) return candidate.is_verified;
  if (candidate.first_message_index !== stored.first_message_index) {
    return candidate.first_message_index < stored.first_message_index;
  }
  return candidate.forwarded_count < stored.forwarded_count;
}

const versionNumber = (version: string) =>
  /^\d{1,15}$/.test(version) ? Number(version) : undefined;

function versionInfo(row: VersionRow) {
  return {
    algorithm: row.algorithm,
    auth_data: JSON.parse(row.auth_data) as unknown,
    count: row.key_count,
    etag: String(row.etag),
    version: String(row.version),
  };
}

const keyData = (k: StoredKey): KeyBackupData => ({
  first_message_index: k.first_message_index,
  forwarded_count: k.forwarded_count,
  is_verified: k.is_verified === 1,
  session_data: JSON.parse(k.session_data) as Record<string, unknown>,
});

const CHUNK = 400;
function chunks<T>(items: T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export const roomKeysPlugin: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  const auth = requireAuth(ctx);
  const db = ctx.store.db;

  const current = async (q: typeof db | Tx, userId: string, lock = false) => {
    let query = q
      .selectFrom('backup_versions')
      .selectAll()
      .where('user_id', '=', userId)
      .where('deleted', '=', 0)
      .orderBy('version', 'desc')
      .limit(1);
    if (lock && ctx.store.dialect === 'postgres') query = query.forUpdate();
    return (await query.executeTakeFirst()) as VersionRow | undefined;
  };

  /** A live version of the caller's, or 404 (another user's version is as unknown as none). */
  const existing = async (q: typeof db | Tx, userId: string, version: string, lock = false) => {
    const n = versionNumber(version);
    if (n === undefined) throw notFound('Unknown backup version');
    let query = q
      .selectFrom('backup_versions')
      .selectAll()
      .where('version', '=', n)
      .where('user_id', '=', userId)
      .where('deleted', '=', 0);
    if (lock && ctx.store.dialect === 'postgres') query = query.forUpdate();
    const row = (await query.executeTakeFirst()) as VersionRow | undefined;
    if (!row) throw notFound('Unknown backup version');
    return row;
  };

  const checkAlgorithm = (algorithm: string) => {
    if (!BACKUP_ALGORITHMS.includes(algorithm))
      throw invalidParam(`Unsupported backup algorithm ${algorithm}`);
  };

  app.post<{ Body: { algorithm: string; auth_data: Record<string, unknown> } }>(
    '/room_keys/version',
    { onRequest: auth, schema: { body: versionBody } },
    async (request) => {
      const { userId } = caller(request);
      checkAlgorithm(request.body.algorithm);
      const row = await db
        .insertInto('backup_versions')
        .values({
          user_id: userId,
          algorithm: request.body.algorithm,
          auth_data: JSON.stringify(request.body.auth_data),
          etag: 0,
          key_count: 0,
          deleted: 0,
        })
        .returning('version')
        .executeTakeFirstOrThrow();
      return { version: String(row.version) };
    },
  );

  app.get('/room_keys/version', { onRequest: auth }, async (request) => {
    const row = await current(db, caller(request).userId);
    if (!row) throw notFound('No current backup version');
    return versionInfo(row);
  });

  const versionParams = params({ version: str() });

  app.get<{ Params: { version: string } }>(
    '/room_keys/version/:version',
    { onRequest: auth, schema: { params: versionParams } },
    async (request) =>
      versionInfo(await existing(db, caller(request).userId, request.params.version)),
  );

  app.put<{
    Params: { version: string };
    Body: { algorithm: string; auth_data: Record<string, unknown>; version?: string };
  }>(
    '/room_keys/version/:version',
    { onRequest: auth, schema: { params: versionParams, body: versionBody } },
    async (request) => {
      const { userId } = caller(request);
      const { algorithm, auth_data: authData, version } = request.body;
      await ctx.store.write(async (trx) => {
        const row = await existing(trx, userId, request.params.version, true);
        if (version !== undefined && version !== request.params.version) {
          throw invalidParam('version does not match the path');
        }
        if (algorithm !== row.algorithm) throw invalidParam('Algorithm does not match');
        await trx
          .updateTable('backup_versions')
          .set({ auth_data: JSON.stringify(authData) })
          .where('version', '=', row.version)
          .execute();
      });
      return {};
    },
  );

  app.delete<{ Params: { version: string } }>(
    '/room_keys/version/:version',
    { onRequest: auth, schema: { params: versionParams } },
    async (request) => {
      const { userId } = caller(request);
      const n = versionNumber(request.params.version);
      await ctx.store.write(async (trx) => {
        const row =
          n === undefined
            ? undefined
            : await trx
                .selectFrom('backup_versions')
                .select(['version', 'deleted'])
                .where('version', '=', n)
                .where('user_id', '=', userId)
                .executeTakeFirst();
        if (!row) throw notFound('Unknown backup version');
        if (row.deleted === 1) return; // deleted before: still a success
        await trx.deleteFrom('backup_keys').where('version', '=', row.version).execute();
        await trx
          .updateTable('backup_versions')
          .set({ deleted: 1, key_count: 0 })
          .where('version', '=', row.version)
          .execute();
      });
      return {};
    },
  );

  // ---- Keys: PUT stores (current version only), GET reads, DELETE removes. ----

  interface Upload {
    roomId: string;
    sessionId: string;
    data: KeyBackupData;
  }

  /** Stores keys that beat what is stored; bumps the etag when anything changed. */
  const putKeys = async (userId: string, version: string, uploads: Upload[]) =>
    ctx.store.write(async (trx) => {
      const live = await current(trx, userId, true);
      if (!live) throw notFound('No current backup version');
      if (String(live.version) !== version) {
        throw new MatrixError(403, 'M_WRONG_ROOM_KEYS_VERSION', 'Wrong backup version.', {
          current_version: String(live.version),
        });
      }
      let inserted = 0;
      let changed = 0;
      const byRoom = new Map<string, Upload[]>();
      for (const u of uploads) byRoom.set(u.roomId, [...(byRoom.get(u.roomId) ?? []), u]);
      for (const [roomId, roomUploads] of byRoom) {
        for (const batch of chunks(roomUploads)) {
          const stored = await trx
            .selectFrom('backup_keys')
            .select([
              'session_id',
              'first_message_index',
              'forwarded_count',
              'is_verified',
              'session_data',
            ])
            .where('version', '=', live.version)
            .where('room_id', '=', roomId)
            .where(
              'session_id',
              'in',
              batch.map((u) => u.sessionId),
            )
            .execute();
          const storedBySession = new Map(stored.map((s) => [s.session_id, s]));
          const fresh: Upload[] = [];
          for (const u of batch) {
            const old = storedBySession.get(u.sessionId);
            if (!old) {
              fresh.push(u);
              continue;
            }
            if (!isBetterKey(u.data, old)) continue;
            await trx
              .updateTable('backup_keys')
              .set({
                first_message_index: u.data.first_message_index,
                forwarded_count: u.data.forwarded_count,
                is_verified: u.data.is_verified ? 1 : 0,
                session_data: JSON.stringify(u.data.session_data),
              })
              .where('version', '=', live.version)
              .where('room_id', '=', roomId)
              .where('session_id', '=', u.sessionId)
              .execute();
            changed++;
          }
          if (fresh.length > 0) {
            await trx
              .insertInto('backup_keys')
              .values(
                fresh.map((u) => ({
                  version: live.version,
                  room_id: roomId,
                  session_id: u.sessionId,
                  first_message_index: u.data.first_message_index,
                  forwarded_count: u.data.forwarded_count,
                  is_verified: u.data.is_verified ? 1 : 0,
                  session_data: JSON.stringify(u.data.session_data),
                })),
              )
              .execute();
            inserted += fresh.length;
          }
        }
      }
      let { etag, key_count: count } = live;
      if (inserted + changed > 0) {
        etag += 1;
        count += inserted;
        await trx
          .updateTable('backup_versions')
          .set({ etag, key_count: count })
          .where('version', '=', live.version)
          .execute();
      }
      return { etag: String(etag), count };
    });

  const deleteKeys = async (userId: string, version: string, roomId?: string, sessionId?: string) =>
    ctx.store.write(async (trx) => {
      const row = await existing(trx, userId, version, true);
      let query = trx.deleteFrom('backup_keys').where('version', '=', row.version);
      if (roomId !== undefined) query = query.where('room_id', '=', roomId);
      if (sessionId !== undefined) query = query.where('session_id', '=', sessionId);
      const deleted = Number((await query.executeTakeFirst()).numDeletedRows);
      let { etag, key_count: count } = row;
      if (deleted > 0) {
        etag += 1;
        count -= deleted;
        await trx
          .updateTable('backup_versions')
          .set({ etag, key_count: count })
          .where('version', '=', row.version)
          .execute();
      }
      return { etag: String(etag), count };
    });

  const readKeys = async (userId: string, version: string, roomId?: string, sessionId?: string) => {
    const row = await existing(db, userId, version);
    let query = db
      .selectFrom('backup_keys')
      .select([
        'room_id',
        'session_id',
        'first_message_index',
        'forwarded_count',
        'is_verified',
        'session_data',
      ])
      .where('version', '=', row.version);
    if (roomId !== undefined) query = query.where('room_id', '=', roomId);
    if (sessionId !== undefined) query = query.where('session_id', '=', sessionId);
    return query.orderBy('room_id').orderBy('session_id').execute();
  };

  const roomParam = str({ minLength: 1 });
  const sessionParam = str({ minLength: 1 });

  app.put<{
    Querystring: { version: string };
    Body: { rooms: Record<string, { sessions: Record<string, KeyBackupData> }> };
  }>(
    '/room_keys/keys',
    {
      onRequest: auth,
      schema: {
        querystring: versionQuery,
        body: object(
          {
            rooms: {
              type: 'object',
              propertyNames: { pattern: '^!' },
              additionalProperties: roomKeyBackupSchema,
            },
          },
          ['rooms'],
        ),
      },
    },
    async (request) => {
      const uploads = Object.entries(request.body.rooms).flatMap(([roomId, room]) =>
        Object.entries(room.sessions).map(([sessionId, data]) => ({ roomId, sessionId, data })),
      );
      return putKeys(caller(request).userId, request.query.version, uploads);
    },
  );

  app.put<{
    Params: { roomId: string };
    Querystring: { version: string };
    Body: { sessions: Record<string, KeyBackupData> };
  }>(
    '/room_keys/keys/:roomId',
    {
      onRequest: auth,
      schema: {
        params: params({ roomId: roomParam }),
        querystring: versionQuery,
        body: roomKeyBackupSchema,
      },
    },
    async (request) => {
      const { roomId } = request.params;
      const uploads = Object.entries(request.body.sessions).map(([sessionId, data]) => ({
        roomId,
        sessionId,
        data,
      }));
      return putKeys(caller(request).userId, request.query.version, uploads);
    },
  );

  app.put<{
    Params: { roomId: string; sessionId: string };
    Querystring: { version: string };
    Body: KeyBackupData;
  }>(
    '/room_keys/keys/:roomId/:sessionId',
    {
      onRequest: auth,
      schema: {
        params: params({ roomId: roomParam, sessionId: sessionParam }),
        querystring: versionQuery,
        body: keyBackupDataSchema,
      },
    },
    async (request) => {
      const { roomId, sessionId } = request.params;
      return putKeys(caller(request).userId, request.query.version, [
        { roomId, sessionId, data: request.body },
      ]);
    },
  );

  app.get<{ Querystring: { version: string } }>(
    '/room_keys/keys',
    { onRequest: auth, schema: { querystring: versionQuery } },
    async (request) => {
      const rows = await readKeys(caller(request).userId, request.query.version);
      const rooms: Record<string, { sessions: Record<string, KeyBackupData> }> = {};
      for (const r of rows)
        (rooms[r.room_id] ??= { sessions: {} }).sessions[r.session_id] = keyData(r);
      return { rooms };
    },
  );

  app.get<{ Params: { roomId: string }; Querystring: { version: string } }>(
    '/room_keys/keys/:roomId',
    {
      onRequest: auth,
      schema: { params: params({ roomId: roomParam }), querystring: versionQuery },
    },
    async (request) => {
      const rows = await readKeys(
        caller(request).userId,
        request.query.version,
        request.params.roomId,
      );
      const sessions: Record<string, KeyBackupData> = {};
      for (const r of rows) sessions[r.session_id] = keyData(r);
      return { sessions };
    },
  );

  app.get<{ Params: { roomId: string; sessionId: string }; Querystring: { version: string } }>(
    '/room_keys/keys/:roomId/:sessionId',
    {
      onRequest: auth,
      schema: {
        params: params({ roomId: roomParam, sessionId: sessionParam }),
        querystring: versionQuery,
      },
    },
    async (request) => {
      const { roomId, sessionId } = request.params;
      const rows = await readKeys(caller(request).userId, request.query.version, roomId, sessionId);
      const row = rows[0];
      if (!row) throw notFound('Key not found.');
      return keyData(row);
    },
  );

  app.delete<{ Querystring: { version: string } }>(
    '/room_keys/keys',
    { onRequest: auth, schema: { querystring: versionQuery } },
    async (request) => deleteKeys(caller(request).userId, request.query.version),
  );

  app.delete<{ Params: { roomId: string }; Querystring: { version: string } }>(
    '/room_keys/keys/:roomId',
    {
      onRequest: auth,
      schema: { params: params({ roomId: roomParam }), querystring: versionQuery },
    },
    async (request) =>
      deleteKeys(caller(request).userId, request.query.version, request.params.roomId),
  );

  app.delete<{ Params: { roomId: string; sessionId: string }; Querystring: { version: string } }>(
    '/room_keys/keys/:roomId/:sessionId',
    {
      onRequest: auth,
      schema: {
        params: params({ roomId: roomParam, sessionId: sessionParam }),
        querystring: versionQuery,
      },
    },
    async (request) =>
      deleteKeys(
        caller(request).userId,
        request.query.version,
        request.params.roomId,
        request.params.sessionId,
      ),
  );
};
