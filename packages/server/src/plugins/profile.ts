import type { FastifyPluginAsync } from 'fastify';
import type { ServerContext } from '../context.js';
import { forbidden, notFound } from '../errors.js';
import { profileOf, setProfileField, type ProfileField } from '../profiles.js';
import { propagateProfile } from '../rooms/membership.js';
import { object, params, str } from '../schemas.js';
import { caller, requireAuth } from './auth.js';

/** Synapse's limits; the spec leaves field sizes to the server. */
const MAX_DISPLAYNAME = 256;
const MAX_AVATAR_URL = 1000;

/**
 * The profile API: `displayname` and `avatar_url` (custom fields are not supported). Reading
 * needs no access token, as the spec allows. A change is propagated as a new m.room.member
 * event in every room the user is joined to; an empty string removes a field.
 */
export const profilePlugin: FastifyPluginAsync<{ ctx: ServerContext }> = async (app, { ctx }) => {
  const auth = requireAuth(ctx);
  const userParams = params({ userId: str({ pattern: '^@', maxLength: 255 }) });

  const profile = async (userId: string) => {
    const found = await profileOf(ctx.store.db, userId);
    if (!found) throw notFound('Profile not found');
    return found;
  };

  app.get<{ Params: { userId: string } }>(
    '/profile/:userId',
    { schema: { params: userParams } },
    async (request) => profile(request.params.userId),
  );

  const field = (name: ProfileField, valueSchema: Record<string, unknown>) => {
    app.get<{ Params: { userId: string } }>(
      `/profile/:userId/${name}`,
      { schema: { params: userParams } },
      async (request) => {
        const value = (await profile(request.params.userId))[name];
        if (value === undefined) throw notFound(`No ${name} is set`);
        return { [name]: value };
      },
    );

    app.put<{ Params: { userId: string }; Body: Record<ProfileField, string> }>(
      `/profile/:userId/${name}`,
      {
        onRequest: auth,
        schema: { params: userParams, body: object({ [name]: valueSchema }, [name]) },
      },
      async (request) => {
        const { userId, deviceId } = caller(request);
        if (request.params.userId !== userId) {
          throw forbidden("Cannot change another user's profile");
        }
        const value = request.body[name] === '' ? undefined : request.body[name];
        await ctx.store.write(async (trx, wctx) => {
          await wctx.lock();
          if ((await profileOf(trx, userId))?.[name] === value) return; // nothing changes
          const next = await setProfileField(trx, userId, name, value);
          await propagateProfile(trx, wctx, userId, next, deviceId);
        });
        return {};
      },
    );
  };
  field('displayname', str({ maxLength: MAX_DISPLAYNAME }));
  // An mxc:// URI, or the empty string to remove the avatar.
  field('avatar_url', str({ maxLength: MAX_AVATAR_URL, pattern: '^(mxc://[^/]+/[^/]+)?$' }));
};
