import type { Db, Tx } from './db/index.js';

/** A user's global profile: `displayname` and `avatar_url`, each absent when unset. */
export interface Profile {
  displayname?: string;
  avatar_url?: string;
}

export type ProfileField = keyof Profile;

/**
 * A local user's profile, or undefined for an unknown user. Until the user changes it, the
 * display name is the localpart (as Synapse does, so every member has a name to show) and
 * there is no avatar.
 */
export async function profileOf(db: Db | Tx, userId: string): Promise<Profile | undefined> {
  const row = await db
    .selectFrom('users')
    .leftJoin('profiles', 'profiles.user_id', 'users.user_id')
    .select([
      'users.localpart',
      'profiles.user_id as changed',
      'profiles.displayname',
      'profiles.avatar_url',
    ])
    .where('users.user_id', '=', userId)
    .executeTakeFirst();
  if (!row) return undefined;
  if (row.changed === null) return { displayname: row.localpart };
  const profile: Profile = {};
  if (row.displayname !== null) profile.displayname = row.displayname;
  if (row.avatar_url !== null) profile.avatar_url = row.avatar_url;
  return profile;
}

/** Sets one field of an existing user's profile (undefined removes it); returns the new profile. */
export async function setProfileField(
  trx: Tx,
  userId: string,
  field: ProfileField,
  value: string | undefined,
): Promise<Profile> {
  const profile = { ...(await profileOf(trx, userId)) };
  if (value === undefined) delete profile[field];
  else profile[field] = value;
  const row = {
    displayname: profile.displayname ?? null,
    avatar_url: profile.avatar_url ?? null,
  };
  await trx
    .insertInto('profiles')
    .values({ user_id: userId, ...row })
    .onConflict((oc) => oc.column('user_id').doUpdateSet(row))
    .execute();
  return profile;
}

/**
 * Member event content with the profile fields set from `profile` (and any stale ones
 * removed), as the spec asks of joins and of the events that propagate a profile change.
 */
export function withProfile(
  content: Record<string, unknown>,
  profile: Profile | undefined,
): Record<string, unknown> {
  const next: Record<string, unknown> = { ...content };
  delete next.displayname;
  delete next.avatar_url;
  if (profile?.displayname !== undefined) next.displayname = profile.displayname;
  if (profile?.avatar_url !== undefined) next.avatar_url = profile.avatar_url;
  return next;
}
