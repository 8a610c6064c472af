/**
 * Processing one sync answer (sync.ts fetches it): device list changes, invites, the state of
 * joined and left rooms first (so Welcomes and resolutions see who is in each room), then
 * to-device Welcomes, then each room's timeline (with the gap of a limited timeline filled, or,
 * right after a Welcome, everything from the commit that added this device), then the KeyPackage
 * stock, device lists, waiting events, retention and the rooms' background work.
 */
import type { ClientCore } from './clientCore.js';
import { guard, guardAsync } from './guard.js';
import { parseClientEvent, type ClientEvent } from './clientEvent.js';
import { arrayField, isObject, objectField, stringList, type Json } from './json.js';
import type { Room } from './rooms.js';
import { eventsAfter, gapEvents } from './timeline.js';
import type { Welcomes } from './welcomes.js';

/** A room's part of the answer, once its state is applied. */
interface RoomTimeline {
  room: Room;
  events: ClientEvent[];
  limited: boolean;
  prevBatch?: string;
}

export interface SyncAnswerContext {
  readonly core: ClientCore;
  readonly welcomes: Welcomes;
  /** Most events fetched to fill the gap of a limited timeline (0: rely on backfill). */
  readonly maxGapFill: number;
  /** Applies the retention policy (after the answer). */
  prune(): void;
}

export async function processSyncAnswer(
  ctx: SyncAnswerContext,
  body: Json,
  since: string | undefined,
): Promise<void> {
  const { core, welcomes } = ctx;
  const { directory, rooms, reportError } = core;
  const roomsBody = objectField(body, 'rooms', 'sync');
  const lists = objectField(body, 'device_lists', 'sync');
  directory.markDirty(stringList(lists.changed));
  directory.forget(stringList(lists.left));

  for (const [roomId, value] of Object.entries(objectField(roomsBody, 'invite', 'sync.rooms'))) {
    guard(reportError, `invite to ${roomId}`, () => processInvite(core, roomId, value));
  }

  // Membership and state first, so Welcomes and resolutions see who is in each room.
  const timelines: RoomTimeline[] = [];
  for (const [roomId, value] of Object.entries(objectField(roomsBody, 'join', 'sync.rooms'))) {
    guard(reportError, `room ${roomId}`, () => {
      timelines.push(processRoomState(core, roomId, value, 'join'));
    });
  }
  const left: RoomTimeline[] = [];
  for (const [roomId, value] of Object.entries(objectField(roomsBody, 'leave', 'sync.rooms'))) {
    if (!rooms.has(roomId)) continue;
    guard(reportError, `left room ${roomId}`, () => {
      left.push(processRoomState(core, roomId, value, 'leave'));
    });
  }

  await welcomes.retryPending();
  const toDevice = arrayField(objectField(body, 'to_device', 'sync'), 'events', 'sync.to_device');
  for (const event of toDevice) {
    await guardAsync(reportError, 'to-device message', () => welcomes.receive(event));
  }

  const next = typeof body.next_batch === 'string' ? body.next_batch : undefined;
  for (const t of timelines) {
    await guardAsync(reportError, `timeline of ${t.room.roomId}`, async () => {
      const welcomedAt = welcomes.catchUps.get(t.room.roomId);
      if (welcomedAt !== undefined && next !== undefined) {
        // Everything from the commit that added this device on, this answer's timeline included.
        welcomes.catchUps.delete(t.room.roomId);
        await t.room.receive(await eventsAfter(core.http, t.room.roomId, welcomedAt, next), 'live');
        return;
      }
      const maxGap = ctx.maxGapFill;
      if (t.limited && since !== undefined && t.prevBatch !== undefined && maxGap > 0) {
        const gap = await gapEvents(core.http, t.room.roomId, t.prevBatch, since, maxGap);
        await t.room.receive(gap, 'live');
      }
      await t.room.receive(t.events, 'live');
    });
  }
  welcomes.catchUps.clear();
  for (const t of left) {
    await guardAsync(reportError, `timeline of ${t.room.roomId}`, async () => {
      await t.room.receive(t.events, 'live');
    });
    if (t.room.membership !== 'join') {
      t.room.forget();
      rooms.delete(t.room.roomId);
    }
  }

  await guardAsync(reportError, 'KeyPackage stock', () =>
    core.stock.refill(
      isObject(body.device_one_time_keys_count)
        ? (body.device_one_time_keys_count as Record<string, number>)
        : {},
      Array.isArray(body.device_unused_fallback_key_types)
        ? stringList(body.device_unused_fallback_key_types)
        : undefined,
    ),
  );
  await guardAsync(reportError, 'device lists', () => core.refreshDevices());
  for (const room of rooms.all()) {
    await guardAsync(reportError, `waiting events of ${room.roomId}`, () => room.retryWaiting());
  }
  ctx.prune();
  for (const room of rooms.all()) room.schedule();
}

function processInvite(core: ClientCore, roomId: string, value: unknown): void {
  const before = core.rooms.get(roomId)?.membership;
  if (before === 'join') return;
  const room = core.rooms.roomFor(roomId, 'invite', core.running());
  const events = arrayField(
    objectField(isObject(value) ? value : {}, 'invite_state', 'invite'),
    'events',
    'invite_state',
  );
  let inviter: string | undefined;
  for (const raw of events) {
    if (!isObject(raw)) continue;
    // Stripped state has no event id; only what the room is matters here.
    const event = parseClientEvent({ event_id: '', ...raw });
    if (!event) continue;
    if (event.type === 'm.room.member' && event.state_key === core.userId) inviter = event.sender;
    if (event.type === 'm.room.encryption') room.applyState(event);
  }
  if (before !== 'invite') {
    room.setOwnMembership('invite');
    core.events.emit('invite', { roomId, inviter });
  }
}

/** Applies a room's state and the state events of its timeline; returns the timeline. */
function processRoomState(
  core: ClientCore,
  roomId: string,
  value: unknown,
  section: 'join' | 'leave',
): RoomTimeline {
  const { directory, rooms } = core;
  const body = isObject(value) ? value : {};
  const wasJoined = rooms.get(roomId)?.membership === 'join';
  const room = rooms.roomFor(roomId, section, core.running());
  const state = arrayField(objectField(body, 'state', 'room'), 'events', 'room.state');
  const timeline = objectField(body, 'timeline', 'room');
  const events = arrayField(timeline, 'events', 'room.timeline')
    .map(parseClientEvent)
    .filter((e): e is ClientEvent => e !== undefined);
  const stateEvents = state.map(parseClientEvent).filter((e): e is ClientEvent => e !== undefined);
  for (const event of [...stateEvents, ...events]) {
    if (event.state_key === undefined) continue;
    if (room.applyState(event) && event.type === 'm.room.member') {
      directory.markDirty([event.state_key]);
    }
  }
  if (section === 'join' && room.membership !== 'join') room.setOwnMembership('join');
  if (section === 'join' && !wasJoined) directory.markDirty(room.joinedUsers());
  return {
    room,
    events,
    limited: timeline.limited === true,
    ...(typeof timeline.prev_batch === 'string' && { prevBatch: timeline.prev_batch }),
  };
}
