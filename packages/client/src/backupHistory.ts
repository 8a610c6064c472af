/**
 * Reading a room's history with keys restored from the key backup: the messages of epochs this
 * device does not hold are decrypted with the backed-up epoch readers and emitted as `message`
 * events with source `backup`; those no key opens are reported as decryption failures.
 */
import { epochSessionId } from '@trellis/backup';
import { deviceOf, parsePlaintext, parseRoomEvent, ROOM_EVENT_TYPE } from '@trellis/dmls';
import { CredentialType, WireFormat, type EpochReader } from '@trellis/mls';
import type { ClientEvents, Emitter } from './events.js';
import type { ClientEvent } from './clientEvent.js';
import type { MatrixHttp } from './http.js';
import type { Room } from './rooms.js';

/**
 * Reads every event of `room` this user may see (at most `maxEvents`), oldest first, with the
 * readers of the backed-up epochs (by session id; each is advanced as it is used).
 */
export async function readHistory(
  http: MatrixHttp,
  events: Emitter<ClientEvents>,
  room: Room,
  readers: Map<string, EpochReader>,
  maxEvents: number,
): Promise<{ messages: number; unreadable: number }> {
  let messages = 0;
  let unreadable = 0;
  for (const event of await history(http, room.roomId, maxEvents)) {
    const read = readFromBackup(events, room, event, readers);
    if (read === 'read') messages++;
    else if (read === 'unreadable') unreadable++;
  }
  return { messages, unreadable };
}

/** Every event of a room this user may see, oldest first. */
async function history(http: MatrixHttp, roomId: string, max: number): Promise<ClientEvent[]> {
  const out: ClientEvent[] = [];
  let from: string | undefined;
  do {
    const page = await http.messages(roomId, {
      dir: 'b',
      limit: 100,
      ...(from !== undefined && { from }),
    });
    out.push(...page.chunk);
    from = page.end;
  } while (from !== undefined && out.length < max);
  return out.reverse();
}

function readFromBackup(
  events: Emitter<ClientEvents>,
  room: Room,
  event: ClientEvent,
  readers: Map<string, EpochReader>,
): 'read' | 'unreadable' | 'skipped' {
  if (event.type !== ROOM_EVENT_TYPE) return 'skipped';
  let parsed: ReturnType<typeof parseRoomEvent>;
  try {
    parsed = parseRoomEvent(event.content);
  } catch {
    return 'skipped';
  }
  // Commits are PublicMessages; application messages are always private.
  if (parsed.message.wireFormat !== WireFormat.mls_private_message) return 'skipped';
  const held = room.group?.epoch(parsed.commitEvent);
  if (held && held.held.kind !== 'none') return 'skipped'; // read live
  const fail = (code: string, reason: string) => {
    events.emit('decryptionFailure', {
      roomId: room.roomId,
      eventId: event.event_id,
      sender: event.sender,
      code,
      reason,
    });
    return 'unreadable' as const;
  };
  const sessionId = epochSessionId(parsed.epoch.epoch, deviceOf(parsed.epoch.creator));
  const reader = readers.get(sessionId);
  if (!reader) {
    return fail(
      'NOT_IN_BACKUP',
      `the backup has no keys for epoch ${parsed.epoch.epoch} of ${parsed.epoch.creator}: no device of this user was a member`,
    );
  }
  try {
    const r = reader.decrypt(parsed.message);
    readers.set(sessionId, r.reader);
    const credential = r.sender.credential;
    const signer =
      credential.credentialType === CredentialType.basic
        ? new TextDecoder().decode(credential.identity)
        : undefined;
    if (signer !== parsed.sender || deviceOf(signer).userId !== event.sender) {
      return fail(
        'SENDER_MISMATCH',
        `sent by ${event.sender}, signed by ${signer ?? 'an unknown credential'}`,
      );
    }
    const plaintext = parsePlaintext(r.data, room.roomId);
    const { userId, deviceId } = deviceOf(signer);
    events.emit('message', {
      roomId: room.roomId,
      eventId: event.event_id,
      sender: userId,
      senderDevice: deviceId,
      type: plaintext.type,
      content: plaintext.content,
      epoch: parsed.epoch,
      source: 'backup',
      ...(event.origin_server_ts !== undefined && { ts: event.origin_server_ts }),
    });
    return 'read';
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return fail(typeof code === 'string' ? code : 'UNKNOWN', (error as Error).message);
  }
}
