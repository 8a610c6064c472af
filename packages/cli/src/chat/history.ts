/**
 * A room's history on screen. When the chat starts or switches rooms it shows the newest
 * messages this device has read (the transcript, chatStore.ts), with the times they were sent.
 * `/history N` goes further back through the server's timeline, page by page: each encrypted
 * message is shown from the transcript; one this device never read (it was sent before the
 * device joined, or its epoch's keys are gone) cannot be read any more, and that is said once
 * per room, with the way to read it: /restore.
 */
import type { Client } from '@trellis/client';
import { parseRoomEvent, ROOM_EVENT_TYPE } from '@trellis/dmls';
import { WireFormat } from '@trellis/mls';
import type { StoredMessage, ChatStore } from './chatStore.js';
import { count } from './text.js';

/** A page of a room's timeline, going back: its messages (event ids, newest first). */
export interface TimelinePage {
  readonly messages: readonly string[];
  /** Where the page before it starts; absent at the start of the room. */
  readonly end?: string;
}

/** The page of `roomId`'s messages before `from` (the newest when absent), from the server. */
export async function messagePage(
  client: Client,
  roomId: string,
  from: string | undefined,
): Promise<TimelinePage> {
  const page = await client.http.messages(roomId, {
    dir: 'b',
    limit: 100,
    ...(from !== undefined && { from }),
  });
  const messages = page.chunk.filter(isApplicationMessage).map((e) => e.event_id);
  return { messages, ...(page.chunk.length > 0 && page.end !== undefined && { end: page.end }) };
}

export interface HistoryHost {
  readonly store: ChatStore;
  /** The page before `from` (the newest when absent). */
  page(roomId: string, from: string | undefined): Promise<TimelinePage>;
  /** Prints a message of the room. */
  show(message: StoredMessage): void;
  /** Prints a line about the room's history. */
  say(text: string): void;
}

/** Where /history stopped in a room: events of the last page not looked at yet, and the token. */
interface Cursor {
  pending: { eventId: string; message: StoredMessage | undefined }[];
  from: string | undefined;
  atStart: boolean;
}

export class History {
  private readonly cursors = new Map<string, Cursor>();
  /** Event ids on screen, per room: /history does not show them twice. */
  private readonly shown = new Map<string, Set<string>>();
  /** Rooms where unreadable history was pointed out. */
  private readonly goneTold = new Set<string>();

  constructor(private readonly host: HistoryHost) {}

  /** A message of the room is on screen. */
  seen(roomId: string, eventId: string): void {
    let set = this.shown.get(roomId);
    if (!set) this.shown.set(roomId, (set = new Set()));
    set.add(eventId);
  }

  /** Shows the newest `limit` messages read in the room; returns how many there were. */
  showRecent(roomId: string, limit: number): number {
    const messages = this.host.store.recent(roomId, limit);
    for (const message of messages) {
      this.seen(roomId, message.eventId);
      this.host.show(message);
    }
    return messages.length;
  }

  /** Shows up to `wanted` messages older than those on screen, oldest first. */
  async older(roomId: string, wanted: number): Promise<void> {
    const cursor = this.cursors.get(roomId) ?? { pending: [], from: undefined, atStart: false };
    this.cursors.set(roomId, cursor);
    const shown = this.shown.get(roomId) ?? new Set<string>();
    const found: StoredMessage[] = [];
    let gone = 0;
    while (found.length < wanted) {
      const next = cursor.pending.shift();
      if (!next) {
        if (cursor.atStart) break;
        await this.nextPage(roomId, cursor);
        continue;
      }
      if (shown.has(next.eventId)) continue;
      if (next.message) found.push(next.message);
      else gone++;
    }
    for (const message of found.reverse()) {
      this.seen(roomId, message.eventId);
      this.host.show(message);
    }
    if (found.length === 0 && gone === 0) {
      this.host.say('There is nothing older: this is the start of the room’s history.');
    } else if (cursor.atStart && cursor.pending.length === 0) {
      this.host.say('That is the start of the room’s history.');
    }
    if (gone > 0 && !this.goneTold.has(roomId)) {
      this.goneTold.add(roomId);
      this.host.say(
        `${count(gone, 'older message')} cannot be read on this device: ${gone === 1 ? 'its epoch is' : 'their epochs are'} gone from it (sent before it joined, or their keys were deleted). /restore reads them from your key backup.`,
      );
    }
  }

  private async nextPage(roomId: string, cursor: Cursor): Promise<void> {
    const page = await this.host.page(roomId, cursor.from);
    const kept = this.host.store.messages(roomId, page.messages);
    cursor.pending.push(
      ...page.messages.map((eventId) => ({ eventId, message: kept.get(eventId) })),
    );
    cursor.from = page.end;
    if (page.end === undefined) cursor.atStart = true;
  }
}

/** Messages are PrivateMessages; commits (PublicMessages) are not history to show. */
function isApplicationMessage(event: {
  readonly type: string;
  readonly content: unknown;
}): boolean {
  if (event.type !== ROOM_EVENT_TYPE) return false;
  try {
    return parseRoomEvent(event.content).message.wireFormat === WireFormat.mls_private_message;
  } catch {
    return false;
  }
}
