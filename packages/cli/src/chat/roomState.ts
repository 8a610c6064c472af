/**
 * What the chat shows of the client's rooms, read from the SDK into the plain summaries that
 * lists.ts prints.
 */
import type { Client, Room } from '@trellis/client';
import { deviceOf } from '@trellis/dmls';
import type { InviteSummary, MemberSummary, MembersView, RoomSummary } from './lists.js';
import { nameIn } from './names.js';

export function roomSummary(room: Room, unread: number): RoomSummary {
  return {
    roomId: room.roomId,
    name: room.metadata.name,
    topic: room.metadata.topic,
    joinedUsers: room.joinedUsers().length,
    inGroup: room.current() !== undefined,
    unread,
  };
}

/** Joined rooms, in the order the client keeps them (numbered 1 and up). */
export function joinedRooms(client: Client): Room[] {
  return client
    .roomIds()
    .map((id) => client.room(id))
    .filter((room): room is Room => room?.membership === 'join');
}

/** Rooms this user is invited to (numbered after the joined rooms). */
export function pendingInvites(
  client: Client,
  inviters: ReadonlyMap<string, string | undefined>,
): InviteSummary[] {
  return client
    .roomIds()
    .filter((id) => client.room(id)?.membership === 'invite')
    .map((roomId) => {
      const userId = inviters.get(roomId);
      return {
        roomId,
        inviter: userId === undefined ? undefined : { userId, name: nameIn(undefined, userId) },
      };
    });
}

/** What a number of /rooms stands for: a joined room or an invitation (one numbering). */
export type Numbered =
  | { readonly kind: 'room'; readonly room: Room }
  | { readonly kind: 'invite'; readonly roomId: string };

export function numbered(
  client: Client,
  inviters: ReadonlyMap<string, string | undefined>,
  n: number,
): Numbered | undefined {
  const rooms = joinedRooms(client);
  if (n >= 1 && n <= rooms.length) return { kind: 'room', room: rooms[n - 1]! };
  const invite = pendingInvites(client, inviters)[n - rooms.length - 1];
  return invite && { kind: 'invite', roomId: invite.roomId };
}

/** The number an invitation has in /rooms. */
export function inviteNumber(
  client: Client,
  inviters: ReadonlyMap<string, string | undefined>,
  roomId: string,
): number {
  const index = pendingInvites(client, inviters).findIndex((i) => i.roomId === roomId);
  return joinedRooms(client).length + Math.max(index, 0) + 1;
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
      name: nameIn(room, userId),
      devices: [...devices].sort().map((deviceId) => ({
        deviceId,
        inEpoch: inEpoch.has(`${userId}|${deviceId}`),
        thisDevice: userId === client.userId && deviceId === client.deviceId,
      })),
    }));
  const leaving = [...inEpoch].filter((identity) => !byUser.has(deviceOf(identity).userId)).sort();
  return { room: roomSummary(room, 0), members, epoch: current?.epoch, leaving };
}

/** Every device of this user that this device knows of, in any room. */
export function ownDevices(client: Client): Set<string> {
  const out = new Set<string>([client.identity]);
  for (const room of joinedRooms(client)) {
    for (const identity of [...room.roomDevices(), ...(room.current()?.members ?? [])]) {
      if (deviceOf(identity).userId === client.userId) out.add(identity);
    }
  }
  return out;
}
