import type { FastifyPluginAsync } from 'fastify';
import type { ServerContext } from '../context.js';
import { checkEventSize } from './rooms.js';
import { anyObject, mapOf, object, params, str } from '../schemas.js';
import { earlierResult, recordResult, type TxnKey } from '../txns.js';
import { caller, requireAuth } from './auth.js';

interface SendToDeviceBody {
  messages: Record<string, Record<string, Record<string, unknown>>>;
}

/**
 * PUT /sendToDevice: queues one message per target device at one stream position. Each device
 * receives its messages exactly once, in order, until a later sync token acknowledges them.
 */
export const toDevicePlugin: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  const auth = requireAuth(ctx);

  app.put<{ Params: { eventType: string; txnId: string }; Body: SendToDeviceBody }>(
    '/sendToDevice/:eventType/:txnId',
    {
      onRequest: auth,
      schema: {
        params: params({
          eventType: str({ minLength: 1, maxLength: 255 }),
          txnId: str({ minLength: 1, maxLength: 255 }),
        }),
        body: object(
          {
            messages: {
              type: 'object',
              propertyNames: { pattern: '^@' },
              additionalProperties: mapOf(anyObject()),
            },
          },
          ['messages'],
        ),
      },
    },
    async (request) => {
      const { userId, deviceId } = caller(request);
      const { eventType, txnId } = request.params;
      for (const devices of Object.values(request.body.messages)) {
        for (const content of Object.values(devices)) checkEventSize(ctx, content);
      }
      await ctx.store.write(async (trx, wctx) => {
        await wctx.lock();
        const txnKey: TxnKey = {
          user_id: userId,
          device_id: deviceId,
          kind: 'to_device',
          txn_id: txnId,
        };
        if ((await earlierResult(trx, txnKey)) !== undefined) return;
        await recordResult(trx, txnKey, '');

        const rows: { user_id: string; device_id: string; content: string }[] = [];
        for (const [target, devices] of Object.entries(request.body.messages)) {
          const known = await trx
            .selectFrom('devices')
            .select('device_id')
            .where('user_id', '=', target)
            .execute();
          const knownIds = new Set(known.map((d) => d.device_id));
          const chosen = new Map<string, Record<string, unknown>>();
          // `*` means every device; a device named explicitly gets its own message instead.
          const everyone = devices['*'];
          if (everyone) for (const id of knownIds) chosen.set(id, everyone);
          for (const [id, content] of Object.entries(devices)) {
            if (id !== '*' && knownIds.has(id)) chosen.set(id, content);
          }
          for (const [id, content] of chosen) {
            rows.push({ user_id: target, device_id: id, content: JSON.stringify(content) });
          }
        }
        if (rows.length === 0) return;
        const stream = await wctx.nextPosition();
        await trx
          .insertInto('to_device')
          .values(rows.map((r) => ({ ...r, stream, sender: userId, type: eventType })))
          .execute();
        wctx.wake(new Set(rows.map((r) => r.user_id)));
      });
      return {};
    },
  );
};
