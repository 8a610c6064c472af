import type { EventRow } from './graph.js';

export interface Viewer {
  userId: string;
  deviceId: string;
}

/**
 * An event as the client-server API returns it (ClientEvent), plus `prev_events` and `depth`
 * so clients can follow the room's event graph.
 */
export function clientEvent(
  row: EventRow,
  viewer: Viewer | undefined,
  withRoomId = true,
  now = Date.now(),
): Record<string, unknown> {
  const unsigned: Record<string, unknown> = { age: Math.max(0, now - row.origin_server_ts) };
  if (
    viewer &&
    row.txn_id !== null &&
    row.sender === viewer.userId &&
    row.sender_device === viewer.deviceId
  ) {
    unsigned.transaction_id = row.txn_id;
  }
  if (row.replaces_state) unsigned.replaces_state = row.replaces_state;
  const event: Record<string, unknown> = {
    event_id: row.event_id,
    type: row.type,
    sender: row.sender,
    origin_server_ts: row.origin_server_ts,
    content: JSON.parse(row.content) as unknown,
  };
  if (withRoomId) event.room_id = row.room_id;
  if (row.state_key !== null) event.state_key = row.state_key;
  event.prev_events = JSON.parse(row.prev_events) as unknown;
  event.depth = row.depth;
  event.unsigned = unsigned;
  return event;
}

/** Stripped state (invite_state): type, state_key, sender, content only. */
export function strippedEvent(row: EventRow): Record<string, unknown> {
  return {
    type: row.type,
    state_key: row.state_key ?? '',
    sender: row.sender,
    content: JSON.parse(row.content) as unknown,
  };
}
