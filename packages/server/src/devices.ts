import type { Tx, WriteContext } from './db/index.js';
import { hashToken, newAccessToken, newDeviceId } from './plugins/auth.js';
import { usersSharingRooms } from './rooms/state.js';

/**
 * Logs a device in: creates it unless it exists, replaces its access token, and returns the
 * new token. Earlier tokens of the device stop working.
 */
export async function startSession(
  trx: Tx,
  args: { userId: string; deviceId?: string | undefined; displayName?: string | undefined },
): Promise<{ accessToken: string; deviceId: string }> {
  const deviceId = args.deviceId ?? newDeviceId();
  const now = Date.now();
  const existing = await trx
    .selectFrom('devices')
    .select('device_id')
    .where('user_id', '=', args.userId)
    .where('device_id', '=', deviceId)
    .executeTakeFirst();
  if (!existing) {
    await trx
      .insertInto('devices')
      .values({
        user_id: args.userId,
        device_id: deviceId,
        display_name: args.displayName ?? null,
        created_ts: now,
        last_seen_ts: now,
        last_seen_ip: null,
      })
      .execute();
  }
  await trx
    .deleteFrom('access_tokens')
    .where('user_id', '=', args.userId)
    .where('device_id', '=', deviceId)
    .execute();
  const accessToken = newAccessToken();
  await trx
    .insertInto('access_tokens')
    .values({
      token_hash: hashToken(accessToken),
      user_id: args.userId,
      device_id: deviceId,
      created_ts: now,
    })
    .execute();
  return { accessToken, deviceId };
}

/**
 * Notes that a user's device list changed (keys uploaded, device removed, cross-signing keys or
 * signatures uploaded) at a new stream position, and wakes everyone who tracks it: the user and
 * all who share a room with them; or only `audience`, for a change only they can see (their
 * user-signing key's signature of `userId`'s master key).
 */
export async function recordDeviceListChange(
  trx: Tx,
  wctx: WriteContext,
  userId: string,
  audience?: string,
): Promise<void> {
  const stream = await wctx.nextPosition();
  await trx
    .insertInto('device_list_changes')
    .values({ stream, user_id: userId, audience: audience ?? null })
    .execute();
  wctx.wake(audience === undefined ? await usersSharingRooms(trx, userId) : [audience]);
}

/** Removes devices with their tokens, keys, KeyPackages and pending to-device messages. */
export async function deleteDevices(
  trx: Tx,
  wctx: WriteContext,
  userId: string,
  deviceIds: string[],
): Promise<void> {
  if (deviceIds.length === 0) return;
  await wctx.lock();
  const hadKeys = await trx
    .deleteFrom('device_keys')
    .where('user_id', '=', userId)
    .where('device_id', 'in', deviceIds)
    .returning('device_id')
    .execute();
  // Signatures of the removed devices' keys go with them.
  await trx
    .deleteFrom('cross_signing_signatures')
    .where('target_user_id', '=', userId)
    .where('target_key_id', 'in', deviceIds)
    .execute();
  for (const table of [
    'devices',
    'access_tokens',
    'one_time_keys',
    'fallback_keys',
    'to_device',
    'txns',
  ] as const) {
    await trx
      .deleteFrom(table)
      .where('user_id', '=', userId)
      .where('device_id', 'in', deviceIds)
      .execute();
  }
  if (hadKeys.length > 0) await recordDeviceListChange(trx, wctx, userId);
}
