/**
 * Room events as the client-server API returns them (sync, `/messages`, `/event`, `/state`),
 * checked for the fields the client relies on; a malformed one is skipped by the caller.
 */
import { isObject, type Json } from './json.js';

/** A room event as the client-server API returns it. */
export interface ClientEvent {
  readonly event_id: string;
  readonly type: string;
  readonly sender: string;
  readonly content: Json;
  readonly state_key?: string;
  readonly origin_server_ts?: number;
}

/** A well-formed client event, or undefined (the caller skips it). */
export function parseClientEvent(value: unknown): ClientEvent | undefined {
  if (!isObject(value)) return undefined;
  const { event_id, type, sender, content, state_key, origin_server_ts } = value;
  if (typeof event_id !== 'string' || typeof type !== 'string' || typeof sender !== 'string') {
    return undefined;
  }
  if (!isObject(content)) return undefined;
  return {
    event_id,
    type,
    sender,
    content,
    ...(typeof state_key === 'string' && { state_key }),
    ...(typeof origin_server_ts === 'number' && { origin_server_ts }),
  };
}
