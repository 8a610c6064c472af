/**
 * What the chat shows of the client's rooms, read from the SDK into the plain summaries that
 * `format.ts` prints.
 */
import type { Client, Room } from '@trellis/client';
import { deviceOf } from '@trellis/dmls';
import type { InviteSummary, MemberSummary, MembersView, RoomSummary } from './format.js';

export function roomSummary(room: Room): RoomSummary {
  return {
    roomId: room.roomId,
    name: room.metadata.name,
    topic: room.metadata.topic,
    joinedUsers: room.joinedUsers().length,
    inGroup: room.current() !== undefined,
  };
}

/** Joined rooms, in the order the client keeps them (the numbers of /room N). */
export function joinedRooms(client: Client): Room[] {
  return client
    .roomIds()
    .map((id) => client.room(id))
    .filter((room): room is Room => room?.membership === 'join');
}

/** Rooms this user is invited to (the numbers of /join N). */
export function pendingInvites(
  client: Client,
  inviters: ReadonlyMap<string, string | undefined>,
): InviteSummary[] {
  return client
    .roomIds()
    .filter((id) => client.room(id)?.membership === 'invite')
    .map((roomId) => ({ roomId, inviter: inviters.get(roomId) }));
}

/**
 * The joined users of a room with their devices: the devices the room should hold (from the
 * device lists) and those in the epoch this device sends in, which differ while a commit that
 * adds or removes devices is still to come.
 */
export function membersView(client: Client, room: Room): MembersView {
  const current = room.current();
  const inEpoch = new Set(current?.members ?? []);
  const byUser = new Map<string, Set<string>>();
  for (const userId of room.joinedUsers()) byUser.set(userId, new Set());
  for (const identity of [...room.roomDevices(), ...inEpoch]) {
    const { userId, deviceId } = deviceOf(identity);
    byUser.get(userId)?.add(deviceId);
  }
  const members: MemberSummary[] = [...byUser.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([userId, devices]) => ({
      userId,
      devices: [...devices].sort().map((deviceId) => ({
        deviceId,
        inEpoch: inEpoch.has(`${userId}|${deviceId}`),
        thisDevice: userId === client.userId && deviceId === client.deviceId,
      })),
    }));
  const leaving = [...inEpoch].filter((identity) => !byUser.has(deviceOf(identity).userId)).sort();
  return { room: roomSummary(room), members, epoch: current?.epoch, leaving };
}
