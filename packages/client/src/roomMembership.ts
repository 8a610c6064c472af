/**
 * This user's own membership calls: creating an encrypted room (with its group), joining one
 * (the group follows with a Welcome), and leaving one (its group state is deleted).
 */
import { roomAlgorithm } from '@trellis/mls';
import type { ClientCore } from './clientCore.js';
import type { CreateRoomOptions } from './clientOptions.js';
import { ClientError } from './errors.js';

/**
 * Creates an encrypted room (`m.room.encryption` with `m.dmls.v1.<suite>`) and its group, with
 * this device alone in epoch 0; this user's other devices and those of the users who join
 * are added by the resolving commits that follow. Name and topic live in the group context.
 */
export async function createRoom(core: ClientCore, options: CreateRoomOptions): Promise<string> {
  const { http, directory } = core;
  const roomId = await http.createRoom({
    preset: 'private_chat',
    ...(options.invite && { invite: options.invite }),
    initial_state: [
      {
        type: 'm.room.encryption',
        state_key: '',
        content: { algorithm: roomAlgorithm(core.suite.id) },
      },
    ],
  });
  const state = await http.roomState(roomId);
  const room = core.rooms.roomFor(roomId, 'join', core.running());
  for (const event of state) room.applyState(event);
  room.setOwnMembership('join');
  const create = state.find((e) => e.type === 'm.room.create' && e.state_key === '');
  if (!create) throw new ClientError('BAD_RESPONSE', `room ${roomId} has no create event`);
  room.createGroup(core.suite.id, create.event_id, {
    ...(options.name !== undefined && { name: options.name }),
    ...(options.topic !== undefined && { topic: options.topic }),
  });
  directory.markDirty(room.joinedUsers());
  void core
    .refreshDevices()
    .then(() => room.schedule())
    .catch((error: unknown) => core.reportError(error, 'device lists'));
  return roomId;
}

/** Joins a room; this device becomes a member of its group when a Welcome comes. */
export async function joinRoom(core: ClientCore, roomId: string): Promise<void> {
  await core.http.join(roomId);
  const room = core.rooms.roomFor(roomId, 'join', core.running());
  room.setOwnMembership('join');
  for (const event of await core.http.roomState(roomId)) room.applyState(event);
  core.directory.markDirty(room.joinedUsers());
}

/** Leaves a room and deletes this device's group state for it. */
export async function leaveRoom(core: ClientCore, roomId: string): Promise<void> {
  await core.http.leave(roomId);
  core.rooms.get(roomId)?.forget();
  core.rooms.delete(roomId);
}
