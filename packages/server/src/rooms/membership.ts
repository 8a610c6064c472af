import type { Tx, WriteContext } from '../db/index.js';
import { forbidden, notFound } from '../errors.js';
import { profileOf, withProfile, type Profile } from '../profiles.js';
import { appendEvent, type EventRow } from './graph.js';
import {
  membershipOf,
  membersOf,
  powerLevels,
  roomsOf,
  stateContent,
  userLevel,
  type Membership,
} from './state.js';

export interface MembershipChange {
  roomId: string;
  /** Who asks. */
  sender: string;
  senderDevice?: string;
  /** Whose membership changes. */
  target: string;
  membership: 'join' | 'invite' | 'leave';
  reason?: string;
  /** Extra content, e.g. `is_direct` on invites. */
  extra?: Record<string, unknown>;
}

export async function requireRoom(trx: Tx, roomId: string): Promise<void> {
  const room = await trx
    .selectFrom('rooms')
    .select('room_id')
    .where('room_id', '=', roomId)
    .executeTakeFirst();
  if (!room) throw notFound(`Unknown room ${roomId}`);
}

/**
 * Applies the membership rules this server enforces (a subset of the room authorisation rules)
 * and appends the m.room.member event. Returns undefined when nothing needs to change (joining a
 * room one is in, re-inviting, leaving a room one has left). Wakes the room's members.
 */
export async function changeMembership(
  trx: Tx,
  ctx: WriteContext,
  change: MembershipChange,
): Promise<EventRow | undefined> {
  await ctx.lock();
  const { roomId, sender, target, membership } = change;
  await requireRoom(trx, roomId);
  const current = await membershipOf(trx, roomId, target);
  const senderMembership = sender === target ? current : await membershipOf(trx, roomId, sender);

  switch (membership) {
    case 'join': {
      if (current === 'join') return undefined;
      if (current === 'ban') throw forbidden('You are banned from this room');
      const joinRule = (await stateContent(trx, roomId, 'm.room.join_rules'))?.join_rule;
      if (joinRule !== 'public' && current !== 'invite') {
        throw forbidden('You are not invited to this room');
      }
      break;
    }
    case 'invite': {
      if (senderMembership !== 'join') throw forbidden('You are not in this room');
      if (current === 'invite') return undefined;
      if (current === 'join') throw forbidden(`${target} is already in the room`);
      if (current === 'ban') throw forbidden(`${target} is banned from the room`);
      const pl = await powerLevels(trx, roomId);
      if (userLevel(pl, sender) < pl.invite) {
        throw forbidden('You do not have a high enough power level to invite');
      }
      break;
    }
    case 'leave': {
      if (sender === target) {
        if (current === 'leave' || current === 'ban') return undefined;
        if (current !== 'join' && current !== 'invite') throw forbidden('You are not in this room');
        break;
      }
      // A kick.
      if (senderMembership !== 'join') throw forbidden('You are not in this room');
      if (current !== 'join' && current !== 'invite') {
        throw forbidden(`${target} is not in the room`);
      }
      const pl = await powerLevels(trx, roomId);
      const level = userLevel(pl, sender);
      if (level < pl.kick || level <= userLevel(pl, target)) {
        throw forbidden('You do not have a high enough power level to kick this user');
      }
      break;
    }
  }

  let content: Record<string, unknown> = { ...change.extra, membership };
  if (change.reason !== undefined) content.reason = change.reason;
  // Joins and invites carry the member's display name and avatar.
  if (membership !== 'leave') content = withProfile(content, await profileOf(trx, target));
  const event = await appendEvent(trx, ctx, {
    roomId,
    type: 'm.room.member',
    stateKey: target,
    sender,
    content,
    ...(change.senderDevice !== undefined ? { senderDevice: change.senderDevice } : {}),
  });
  ctx.wake(await membersOf(trx, roomId, ['join', 'invite']));
  ctx.wake([target, sender]);
  return event;
}

/**
 * Propagates a profile change: a new m.room.member event (join to join) with the profile in
 * every room the user is joined to, keeping the rest of their member content.
 */
export async function propagateProfile(
  trx: Tx,
  ctx: WriteContext,
  userId: string,
  profile: Profile,
  senderDevice?: string,
): Promise<void> {
  await ctx.lock();
  for (const roomId of await roomsOf(trx, userId, ['join'])) {
    // The reason belonged to the membership change, not to this profile change.
    const { reason: _reason, ...current } =
      (await stateContent(trx, roomId, 'm.room.member', userId)) ?? {};
    await appendEvent(trx, ctx, {
      roomId,
      type: 'm.room.member',
      stateKey: userId,
      sender: userId,
      content: withProfile({ ...current, membership: 'join' }, profile),
      ...(senderDevice !== undefined ? { senderDevice } : {}),
    });
    ctx.wake(await membersOf(trx, roomId, ['join', 'invite']));
  }
}

export type { Membership };
