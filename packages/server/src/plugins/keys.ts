import type { FastifyPluginAsync } from 'fastify';
import type { ServerContext } from '../context.js';
import { crossSigningKeysOf, visibleSignatures, withSignatures } from '../crossSigning/store.js';
import { deviceListChanges } from '../deviceLists.js';
import { recordDeviceListChange } from '../devices.js';
import { MatrixError, invalidParam } from '../errors.js';
import { claimKey, countOneTimeKeys, storeKeys, type KeyToStore } from '../keyPackages/store.js';
import {
  checkDistinctInitKeys,
  isKeyPackageAlgorithm,
  verifyKeyPackage,
} from '../keyPackages/verify.js';
import { anyObject, arrayOf, int, mapOf, object, str, userIdSchema } from '../schemas.js';
import { parsePaginationToken } from '../tokens.js';
import { caller, requireAuth } from './auth.js';

interface DeviceKeys {
  user_id: string;
  device_id: string;
  algorithms: string[];
  keys: Record<string, string>;
  signatures: Record<string, Record<string, string>>;
  [other: string]: unknown;
}

interface UploadBody {
  device_keys?: DeviceKeys;
  one_time_keys?: Record<string, unknown>;
  fallback_keys?: Record<string, unknown>;
}

/** Keys per upload, one-time and fallback together. */
const MAX_KEYS_PER_UPLOAD = 5000;

/**
 * Longest stretch of KeyPackage verification between two turns of the event loop. Short,
 * because a request served meanwhile needs a turn for each of its database round trips.
 */
const VERIFY_SLICE_MS = 5;
/** Uploads up to this many one-time keys (a client's usual refill) are verified in one go. */
const VERIFY_AT_ONCE = 50;
const yieldToOthers = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Keys one claim may ask for when claims are not rate-limited (else the claim burst). */
const MAX_KEYS_PER_CLAIM = 1000;

const keyObject = {
  oneOf: [
    str(),
    object({ key: str(), signatures: anyObject(), fallback: { type: 'boolean' } }, [
      'key',
      'signatures',
    ]),
  ],
};

const deviceKeysSchema = object(
  {
    user_id: userIdSchema(),
    device_id: str(),
    algorithms: arrayOf(str()),
    keys: mapOf(str()),
    signatures: mapOf(mapOf(str())),
  },
  ['user_id', 'device_id', 'algorithms', 'keys', 'signatures'],
);

/** `<algorithm>:<key_id>`, split at the first colon. */
function splitKeyName(name: string): { algorithm: string; keyId: string } {
  const colon = name.indexOf(':');
  if (colon <= 0 || colon === name.length - 1) {
    throw invalidParam(`Key name "${name}" is not <algorithm>:<key_id>`);
  }
  return { algorithm: name.slice(0, colon), keyId: name.slice(colon + 1) };
}

export const keysPlugin: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  const auth = requireAuth(ctx);
  const { config } = ctx;

  app.post<{ Body: UploadBody }>(
    '/keys/upload',
    {
      onRequest: auth,
      schema: {
        body: object({
          device_keys: deviceKeysSchema,
          one_time_keys: mapOf(keyObject),
          fallback_keys: mapOf(keyObject),
        }),
      },
    },
    async (request) => {
      const { userId, deviceId } = caller(request);
      const body = request.body;
      const deviceKeys = body.device_keys;
      if (deviceKeys && (deviceKeys.user_id !== userId || deviceKeys.device_id !== deviceId)) {
        throw invalidParam('device_keys must be for the calling user and device');
      }
      const oneTime = Object.entries(body.one_time_keys ?? {});
      const fallback = Object.entries(body.fallback_keys ?? {});
      if (oneTime.length + fallback.length > MAX_KEYS_PER_UPLOAD) {
        throw invalidParam(`At most ${MAX_KEYS_PER_UPLOAD} keys per upload`);
      }

      // Everything is verified before anything is stored.
      const now = Date.now();
      const rules = {
        userId,
        deviceId,
        now,
        maxLifetimeSeconds: config.keyPackageMaxLifetimeSeconds,
        clockSkewSeconds: config.keyPackageClockSkewSeconds,
      };
      const prepare = ([name, value]: [string, unknown], isFallback: boolean): KeyToStore => {
        const { algorithm, keyId } = splitKeyName(name);
        if (!isKeyPackageAlgorithm(algorithm)) return { algorithm, keyId, value };
        return {
          algorithm,
          keyId,
          value,
          keyPackage: verifyKeyPackage(algorithm, keyId, value, isFallback, rules),
        };
      };
      // Verifying thousands of KeyPackages takes a while: let other requests run in between.
      const oneTimeKeys: KeyToStore[] = [];
      let sliceStart = performance.now();
      for (const [i, entry] of oneTime.entries()) {
        if (i >= VERIFY_AT_ONCE && performance.now() - sliceStart > VERIFY_SLICE_MS) {
          await yieldToOthers();
          sliceStart = performance.now();
        }
        oneTimeKeys.push(prepare(entry, false));
      }
      const fallbackKeys = fallback.map((entry) => prepare(entry, true));
      const seenAlgorithms = new Set<string>();
      for (const key of fallbackKeys) {
        if (seenAlgorithms.has(key.algorithm))
          throw invalidParam(`More than one fallback key for ${key.algorithm}`);
        seenAlgorithms.add(key.algorithm);
      }
      checkDistinctInitKeys(
        [...oneTimeKeys, ...fallbackKeys]
          .filter((k) => k.keyPackage)
          .map((k) => ({ name: `${k.algorithm}:${k.keyId}`, initKey: k.keyPackage!.initKey })),
      );

      const counts = await ctx.store.write(async (trx, wctx) => {
        if (deviceKeys) {
          await wctx.lock();
          const json = JSON.stringify(deviceKeys);
          const stored = await trx
            .selectFrom('device_keys')
            .select('key_json')
            .where('user_id', '=', userId)
            .where('device_id', '=', deviceId)
            .executeTakeFirst();
          if (stored?.key_json !== json) {
            if (stored) {
              await trx
                .updateTable('device_keys')
                .set({ key_json: json })
                .where('user_id', '=', userId)
                .where('device_id', '=', deviceId)
                .execute();
            } else {
              await trx
                .insertInto('device_keys')
                .values({ user_id: userId, device_id: deviceId, key_json: json })
                .execute();
            }
            // Signatures of the old keys (by the self-signing key) do not hold for new ones.
            await trx
              .deleteFrom('cross_signing_signatures')
              .where('target_user_id', '=', userId)
              .where('target_key_id', '=', deviceId)
              .execute();
            await recordDeviceListChange(trx, wctx, userId);
          }
        }
        await storeKeys(trx, userId, deviceId, oneTimeKeys, fallbackKeys);
        return countOneTimeKeys(trx, userId, deviceId, now);
      });
      return { one_time_key_counts: counts };
    },
  );

  app.post<{ Body: { device_keys: Record<string, string[]>; timeout?: number } }>(
    '/keys/query',
    {
      onRequest: auth,
      schema: {
        body: object(
          {
            timeout: int(),
            device_keys: {
              type: 'object',
              propertyNames: { pattern: '^@' },
              additionalProperties: arrayOf(str()),
            },
          },
          ['device_keys'],
        ),
      },
    },
    async (request) => {
      const me = caller(request).userId;
      const users = Object.entries(request.body.device_keys);
      const userIds = users.map(([u]) => u);
      const result: Record<string, Record<string, unknown>> = {};
      const signatures = await visibleSignatures(ctx.store.db, userIds, me);
      const signaturesOf = (userId: string, keyId: string) =>
        signatures.filter((s) => s.targetUserId === userId && s.targetKeyId === keyId);
      if (users.length > 0) {
        const rows = await ctx.store.db
          .selectFrom('device_keys')
          .leftJoin('devices', (join) =>
            join
              .onRef('devices.user_id', '=', 'device_keys.user_id')
              .onRef('devices.device_id', '=', 'device_keys.device_id'),
          )
          .select([
            'device_keys.user_id',
            'device_keys.device_id',
            'device_keys.key_json',
            'devices.display_name',
          ])
          .where(
            'device_keys.user_id',
            'in',
            users.map(([u]) => u),
          )
          .execute();
        const wanted = new Map(users.map(([u, devices]) => [u, new Set(devices)]));
        for (const [u] of users) result[u] = {};
        for (const row of rows) {
          const devices = wanted.get(row.user_id)!;
          if (devices.size > 0 && !devices.has(row.device_id)) continue;
          const keys = JSON.parse(row.key_json) as Record<string, unknown>;
          const unsigned: Record<string, unknown> = {};
          if (row.display_name !== null) unsigned.device_display_name = row.display_name;
          result[row.user_id]![row.device_id] = {
            ...withSignatures(keys, signaturesOf(row.user_id, row.device_id)),
            unsigned,
          };
        }
      }
      // Cross-signing keys (client-server API, "Cross-signing"): master and self-signing keys
      // of everyone queried; the user-signing key only of the one asking.
      const masterKeys: Record<string, unknown> = {};
      const selfSigningKeys: Record<string, unknown> = {};
      const userSigningKeys: Record<string, unknown> = {};
      for (const [userId, keys] of await crossSigningKeysOf(ctx.store.db, userIds)) {
        if (keys.master) {
          masterKeys[userId] = withSignatures(
            keys.master.json,
            signaturesOf(userId, keys.master.keyId),
          );
        }
        if (keys.self_signing) selfSigningKeys[userId] = keys.self_signing.json;
        if (userId === me && keys.user_signing) userSigningKeys[userId] = keys.user_signing.json;
      }
      return {
        device_keys: result,
        failures: {},
        master_keys: masterKeys,
        self_signing_keys: selfSigningKeys,
        user_signing_keys: userSigningKeys,
      };
    },
  );

  app.post<{ Body: { one_time_keys: Record<string, Record<string, string>>; timeout?: number } }>(
    '/keys/claim',
    {
      onRequest: auth,
      schema: {
        body: object(
          {
            timeout: int(),
            one_time_keys: {
              type: 'object',
              propertyNames: { pattern: '^@' },
              additionalProperties: mapOf(str()),
            },
          },
          ['one_time_keys'],
        ),
      },
    },
    async (request) => {
      const { userId } = caller(request);
      const wanted = Object.entries(request.body.one_time_keys).flatMap(([user, devices]) =>
        Object.entries(devices).map(([device, algorithm]) => ({ user, device, algorithm })),
      );
      // More keys than the bucket holds could never be granted: that is a bad request, not a
      // rate limit to wait out.
      const burst = ctx.claimLimiter.burst;
      const most = burst > 0 ? Math.min(burst, MAX_KEYS_PER_CLAIM) : MAX_KEYS_PER_CLAIM;
      if (wanted.length > most) {
        throw invalidParam(
          `A claim may name at most ${most} devices; this one names ${wanted.length}`,
          {
            'io.trellis.max_keys_per_claim': most,
          },
        );
      }
      const limit = ctx.claimLimiter.take(userId, Math.max(1, wanted.length));
      if (!limit.ok) {
        throw new MatrixError(429, 'M_LIMIT_EXCEEDED', 'Too many key claims', {
          retry_after_ms: limit.retryAfterMs,
        });
      }
      const now = Date.now();
      const oneTimeKeys: Record<string, Record<string, Record<string, unknown>>> = {};
      for (const { user, device, algorithm } of wanted) {
        const key = await claimKey(ctx.store, user, device, algorithm, now);
        if (!key) continue;
        ((oneTimeKeys[user] ??= {})[device] ??= {})[`${algorithm}:${key.keyId}`] = key.value;
      }
      return { one_time_keys: oneTimeKeys, failures: {} };
    },
  );

  app.get<{ Querystring: { from: string; to: string } }>(
    '/keys/changes',
    {
      onRequest: auth,
      schema: { querystring: object({ from: str(), to: str() }, ['from', 'to']) },
    },
    async (request) => {
      const { userId } = caller(request);
      const from = parsePaginationToken(request.query.from);
      const to = parsePaginationToken(request.query.to);
      if (from === undefined) throw invalidParam('Invalid from token');
      if (to === undefined) throw invalidParam('Invalid to token');
      if (to < from) throw invalidParam('to must not be before from');
      return deviceListChanges(
        ctx.store.db,
        userId,
        from,
        Math.min(to, await ctx.store.currentPosition()),
      );
    },
  );
};
