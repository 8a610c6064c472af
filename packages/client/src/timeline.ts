/**
 * Reading a room's timeline beyond what sync delivers, and telling its encrypted events apart
 * without decrypting them.
 */
import { parseRoomEvent } from '@trellis/dmls';
import { ContentType, WireFormat } from '@trellis/mls';
import type { ClientEvent } from './clientEvent.js';
import type { MatrixHttp } from './http.js';

/**
 * The room's events after `eventId`, up to `upTo` (a sync token), oldest first: what a device
 * that just joined by Welcome must read from the commit that added it on.
 */
export async function eventsAfter(
  http: MatrixHttp,
  roomId: string,
  eventId: string,
  upTo: string,
  maxEvents = 10_000,
): Promise<ClientEvent[]> {
  const out: ClientEvent[] = [];
  let from: string | undefined = upTo;
  while (from !== undefined && out.length < maxEvents) {
    const page = await http.messages(roomId, { dir: 'b', from, limit: 100 });
    for (const event of page.chunk) {
      if (event.event_id === eventId) return out.reverse();
      out.push(event);
    }
    from = page.end;
  }
  return out.reverse();
}

/** The events of a gap in a limited sync timeline (between `since` and `prevBatch`). */
export async function gapEvents(
  http: MatrixHttp,
  roomId: string,
  prevBatch: string,
  since: string,
  maxEvents: number,
): Promise<ClientEvent[]> {
  const out: ClientEvent[] = [];
  let from: string | undefined = prevBatch;
  while (from !== undefined && out.length < maxEvents) {
    const page = await http.messages(roomId, {
      dir: 'b',
      from,
      to: since,
      limit: Math.min(100, maxEvents - out.length),
    });
    out.push(...page.chunk);
    from = page.end;
  }
  return out.reverse();
}

/** Application messages are PrivateMessages; Trellis sends commits as PublicMessages. */
export function isApplicationMessage(content: unknown): boolean {
  try {
    return parseRoomEvent(content).message.wireFormat === WireFormat.mls_private_message;
  } catch {
    return false;
  }
}

export function isCommit(content: unknown): boolean {
  try {
    const { message } = parseRoomEvent(content);
    return (
      message.wireFormat === WireFormat.mls_public_message &&
      message.publicMessage.content.contentType === ContentType.commit
    );
  } catch {
    return false;
  }
}
