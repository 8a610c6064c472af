import type { FastifyPluginAsync } from 'fastify';
import type { ServerContext } from '../context.js';
import { deleteDevices } from '../devices.js';
import { notFound } from '../errors.js';
import { anyObject, arrayOf, object, params, str } from '../schemas.js';
import { passwordStage, type UiaAuth } from '../uia.js';
import { caller, requireAuth } from './auth.js';

function formatDevice(d: {
  device_id: string;
  display_name: string | null;
  last_seen_ts: number | null;
  last_seen_ip: string | null;
}) {
  // Every field is sent, null when unknown (a device never named, or never used since it
  // logged in), as Synapse does: clients such as matrix-nio refuse a device without them.
  return {
    device_id: d.device_id,
    display_name: d.display_name,
    last_seen_ip: d.last_seen_ip,
    last_seen_ts: d.last_seen_ts,
  };
}

export const devicesPlugin: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  const auth = requireAuth(ctx);
  const columns = ['device_id', 'display_name', 'last_seen_ts', 'last_seen_ip'] as const;

  app.get('/devices', { onRequest: auth }, async (request) => {
    const { userId } = caller(request);
    const rows = await ctx.store.db
      .selectFrom('devices')
      .select(columns)
      .where('user_id', '=', userId)
      .orderBy('created_ts')
      .execute();
    return { devices: rows.map(formatDevice) };
  });

  app.get<{ Params: { deviceId: string } }>(
    '/devices/:deviceId',
    { onRequest: auth, schema: { params: params({ deviceId: str() }) } },
    async (request) => {
      const { userId } = caller(request);
      const row = await ctx.store.db
        .selectFrom('devices')
        .select(columns)
        .where('user_id', '=', userId)
        .where('device_id', '=', request.params.deviceId)
        .executeTakeFirst();
      if (!row) throw notFound('Device not found');
      return formatDevice(row);
    },
  );

  app.put<{ Params: { deviceId: string }; Body: { display_name?: string } }>(
    '/devices/:deviceId',
    {
      onRequest: auth,
      schema: {
        params: params({ deviceId: str() }),
        body: object({ display_name: str({ maxLength: 255 }) }),
      },
    },
    async (request) => {
      const { userId } = caller(request);
      const displayName = request.body.display_name;
      const updated = await ctx.store.db
        .updateTable('devices')
        .set((eb) => ({ display_name: displayName ?? eb.ref('display_name') }))
        .where('user_id', '=', userId)
        .where('device_id', '=', request.params.deviceId)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 0) throw notFound('Device not found');
      return {};
    },
  );

  app.delete<{ Params: { deviceId: string }; Body: { auth?: UiaAuth } }>(
    '/devices/:deviceId',
    {
      onRequest: auth,
      schema: { params: params({ deviceId: str() }), body: object({ auth: anyObject() }) },
    },
    async (request, reply) => {
      const { userId } = caller(request);
      // Device deletion asks for the account password again.
      if (!(await passwordStage(ctx, userId, request.body.auth, reply))) return reply;
      // Only the caller's own devices are touched: another user's device id deletes nothing.
      await ctx.store.write((trx, wctx) =>
        deleteDevices(trx, wctx, userId, [request.params.deviceId]),
      );
      return {};
    },
  );

  app.post<{ Body: { devices: string[]; auth?: UiaAuth } }>(
    '/delete_devices',
    {
      onRequest: auth,
      schema: { body: object({ devices: arrayOf(str()), auth: anyObject() }, ['devices']) },
    },
    async (request, reply) => {
      const { userId } = caller(request);
      if (!(await passwordStage(ctx, userId, request.body.auth, reply))) return reply;
      await ctx.store.write((trx, wctx) => deleteDevices(trx, wctx, userId, request.body.devices));
      return {};
    },
  );
};
