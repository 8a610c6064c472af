import { parseCrossSigningKey, type CrossSigningKey } from '@trellis/matrix';
import type { FastifyPluginAsync } from 'fastify';
import type { ServerContext } from '../context.js';
import type { Tx } from '../db/index.js';
import { recordDeviceListChange } from '../devices.js';
import { forbidden, invalidParam } from '../errors.js';
import { planKeyUpload } from '../crossSigning/keyUpload.js';
import {
  checkSignedObject,
  type SignatureContext,
  type SignatureFailure,
} from '../crossSigning/signatureUpload.js';
import {
  crossSigningKeysOf,
  deleteCrossSigningKey,
  forgetSignaturesOfKey,
  putCrossSigningKey,
  putSignature,
  type StoredSignature,
} from '../crossSigning/store.js';
import { anyObject, mapOf, object } from '../schemas.js';
import { passwordStage, type UiaAuth } from '../uia.js';
import { caller, requireAuth } from './auth.js';

type Json = Record<string, unknown>;

/** Signed objects one POST /keys/signatures/upload may carry. */
const MAX_SIGNED_OBJECTS = 1000;

interface KeyUploadBody {
  master_key?: unknown;
  self_signing_key?: unknown;
  user_signing_key?: unknown;
  auth?: UiaAuth;
}

async function deviceIdsOf(db: Tx | ServerContext['store']['db'], userId: string) {
  const rows = await db
    .selectFrom('devices')
    .select('device_id')
    .where('user_id', '=', userId)
    .execute();
  return new Set(rows.map((r) => r.device_id));
}

async function deviceKeysOf(trx: Tx, userId: string): Promise<Map<string, Json>> {
  const rows = await trx
    .selectFrom('device_keys')
    .select(['device_id', 'key_json'])
    .where('user_id', '=', userId)
    .execute();
  return new Map(rows.map((r) => [r.device_id, JSON.parse(r.key_json) as Json]));
}

/** POST /keys/device_signing/upload and POST /keys/signatures/upload (api/cross_signing.yaml). */
export const crossSigningPlugin: FastifyPluginAsync<{ ctx: ServerContext }> = async (
  app,
  { ctx },
) => {
  const auth = requireAuth(ctx);

  app.post<{ Body: KeyUploadBody }>(
    '/keys/device_signing/upload',
    {
      onRequest: auth,
      schema: {
        body: object({
          master_key: anyObject(),
          self_signing_key: anyObject(),
          user_signing_key: anyObject(),
          auth: anyObject(),
        }),
      },
    },
    async (request, reply) => {
      const { userId } = caller(request);
      const body = request.body;
      const plan = async (db: Tx | ServerContext['store']['db']) =>
        planKeyUpload(
          userId,
          body,
          (await crossSigningKeysOf(db, [userId])).get(userId) ?? {},
          await deviceIdsOf(db, userId),
        );
      // Checked before asking for the password, so that a bad upload is refused as such.
      const first = await plan(ctx.store.db);
      let authenticated = false;
      if (first.needsAuth) {
        if (!(await passwordStage(ctx, userId, body.auth, reply))) return reply;
        authenticated = true;
      }
      await ctx.store.write(async (trx, wctx) => {
        await wctx.lock();
        // Planned again under the stream lock: another upload may have landed meanwhile.
        const { changed, dropped, needsAuth } = await plan(trx);
        if (needsAuth && !authenticated) {
          throw forbidden(
            'Cross-signing keys were uploaded meanwhile; authenticate to replace them',
          );
        }
        if (changed.length === 0) return;
        for (const old of dropped) {
          await forgetSignaturesOfKey(trx, userId, old.keyId);
          await deleteCrossSigningKey(trx, userId, old.usage);
        }
        for (const key of changed) {
          await putCrossSigningKey(trx, {
            userId,
            usage: key.usage,
            keyId: key.keyId,
            json: key.json as unknown as Json,
          });
        }
        await recordDeviceListChange(trx, wctx, userId);
      });
      return {};
    },
  );

  app.post<{ Body: Record<string, Record<string, Json>> }>(
    '/keys/signatures/upload',
    {
      onRequest: auth,
      schema: {
        body: {
          type: 'object',
          propertyNames: { pattern: '^@', maxLength: 255 },
          additionalProperties: mapOf(anyObject()),
        },
      },
    },
    async (request) => {
      const me = caller(request).userId;
      const entries = Object.entries(request.body);
      const count = entries.reduce((n, [, byKey]) => n + Object.keys(byKey).length, 0);
      if (count > MAX_SIGNED_OBJECTS) {
        throw invalidParam(`At most ${MAX_SIGNED_OBJECTS} signed objects per upload`);
      }
      const failures: Record<string, Record<string, SignatureFailure>> = {};
      await ctx.store.write(async (trx, wctx) => {
        await wctx.lock();
        const keys = await crossSigningKeysOf(trx, entries.map(([u]) => u).concat(me));
        const myDevices = await deviceKeysOf(trx, me);
        const context = (userId: string): SignatureContext => {
          const master = userId === me ? undefined : keys.get(userId)?.master;
          let theirMaster: CrossSigningKey | undefined;
          if (master) theirMaster = parseCrossSigningKey(master.json, userId, 'master');
          return { me, mine: keys.get(me) ?? {}, myDevices, theirMaster };
        };
        const accepted: StoredSignature[] = [];
        for (const [userId, byKey] of entries) {
          const ctxFor = context(userId);
          for (const [keyId, signed] of Object.entries(byKey)) {
            const result = checkSignedObject(ctxFor, userId, keyId, signed);
            if (result.ok) accepted.push(...result.signatures);
            else (failures[userId] ??= {})[keyId] = result.failure;
          }
        }
        for (const s of accepted) await putSignature(trx, s);
        // My own keys: everyone sharing a room re-queries me. Another user's master key: only
        // I see my signature of it, so only I am told to re-query them.
        if (accepted.some((s) => s.targetUserId === me)) {
          await recordDeviceListChange(trx, wctx, me);
        }
        const others = new Set(accepted.map((s) => s.targetUserId).filter((u) => u !== me));
        for (const other of others) await recordDeviceListChange(trx, wctx, other, me);
      });
      return { failures };
    },
  );
};
