import { ContentType, WireFormat, type MlsMessage } from '@trellis/mls';
import type { GroupCore } from './core.js';
import { DmlsError } from './errors.js';
import { failed, type Received } from './received.js';
import { processCommit } from './receiveCommit.js';
import { processMessage } from './receiveMessage.js';
import type { RoomEvent } from './waiting.js';
import { parseRoomEventOnce } from './wire.js';

export type { Received } from './received.js';

/**
 * Processes one room event of this room: a commit is applied to the epoch it names (a fork
 * when that epoch already has a successor), a message is decrypted in its epoch, and an event
 * that cannot be decided yet waits. Waiting events that can now proceed are processed too,
 * and their outcomes follow the event's own.
 */
export function receive(core: GroupCore, event: RoomEvent, now: number): Received[] {
  const before = core.graph.version;
  const out = [process(core, event, now)];
  // A new epoch, or one this device now holds, may be what waiting or parked events need.
  if (core.graph.version !== before) out.push(...retry(core, now, true));
  return out;
}

/**
 * Processes what waits and can now proceed: after device keys were fetched, or (with
 * `parked`) after a Welcome brought an epoch this device was not in.
 */
export function retry(core: GroupCore, now: number, parked = true): Received[] {
  const out: Received[] = [];
  if (parked) {
    for (const p of core.waiting.takeParked()) out.push(process(core, p.event, now));
  }
  for (;;) {
    const ready = core.waiting.takeReady(core.graph, core.keys);
    if (ready.length === 0) break;
    for (const q of ready) out.push(process(core, q.event, now));
  }
  return out;
}

/** Failures that do not condemn the event: it may yet be placed (a Welcome, another's commit). */
const UNREFUSED = new Set(['NOT_A_MEMBER', 'OWN_COMMIT_LOST']);

/** An epoch is named by its event id, which commit data carries in at most 255 bytes. */
const MAX_EVENT_ID_BYTES = 255;

function process(core: GroupCore, event: RoomEvent, now: number): Received {
  const { eventId } = event;
  if (core.seen.has(eventId)) return { kind: 'duplicate', eventId };
  let result: Received;
  try {
    const size = Buffer.byteLength(eventId, 'utf8');
    if (size === 0 || size > MAX_EVENT_ID_BYTES) {
      throw new DmlsError('MALFORMED_EVENT', `an event id of ${size} bytes cannot name an epoch`);
    }
    const parsed = parseRoomEventOnce(event.content);
    if (parsed.suite !== core.suite) {
      throw new DmlsError('UNSUPPORTED_ALGORITHM', 'another cipher suite');
    }
    if (!parsed.sender.startsWith(`${event.sender}|`)) {
      throw new DmlsError(
        'SENDER_MISMATCH',
        `sent by ${event.sender} in the name of ${parsed.sender}`,
      );
    }
    result = isCommit(parsed.message)
      ? processCommit(core, event, parsed, now)
      : processMessage(core, event, parsed, now);
  } catch (e) {
    result = failed(eventId, e);
    if (result.kind === 'failed' && !UNREFUSED.has(result.code)) core.refused.add(eventId);
  }
  if (result.kind !== 'queued' && result.kind !== 'failed') core.seen.add(eventId);
  return result;
}

function isCommit(message: MlsMessage): boolean {
  if (message.wireFormat === WireFormat.mls_public_message) {
    return message.publicMessage.content.contentType === ContentType.commit;
  }
  if (message.wireFormat === WireFormat.mls_private_message) {
    return message.privateMessage.contentType === ContentType.commit;
  }
  return false;
}
