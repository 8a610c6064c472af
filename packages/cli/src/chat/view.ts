/**
 * What the user looks at: the current room (named in the prompt), unread counts of the others,
 * and the lines printed above the prompt, each in its style: messages, notices, warnings,
 * answers and errors.
 */
import type { Client, Room } from '@trellis/client';
import type { StoredMessage } from './chatStore.js';
import { messageLine, noticeLine, warningLine, type ShownMessage } from './lines.js';
import { nameIn } from './names.js';
import { roomSummary } from './roomState.js';
import type { Style } from './style.js';
import { roomLabel } from './text.js';
import type { Terminal } from './terminal.js';

/** A message to show: kept in the transcript, or typed here and waiting (`pending`). */
export type ViewMessage = Omit<StoredMessage, 'source'> & {
  readonly source: ShownMessage['source'];
};

/** A failure whose message is already the sentence to show. */
export class NoticeError extends Error {}

export class ChatView {
  private current: string | undefined;
  private readonly unread = new Map<string, number>();
  /** Who invited this user to each room, as far as this run saw it. */
  readonly inviters = new Map<string, string | undefined>();

  constructor(
    private readonly client: Client,
    private readonly terminal: Terminal,
    readonly style: Style,
  ) {}

  get currentRoomId(): string | undefined {
    return this.current;
  }

  /** Makes `roomId` the current room (none when undefined); its messages count as read. */
  select(roomId: string | undefined): void {
    this.current = roomId;
    if (roomId !== undefined) this.unread.delete(roomId);
    this.updatePrompt();
  }

  /** The current room, if this user is in it. */
  currentRoom(): Room | undefined {
    const room = this.current === undefined ? undefined : this.client.room(this.current);
    return room?.membership === 'join' ? room : undefined;
  }

  requireRoom(): Room {
    const room = this.currentRoom();
    if (!room) {
      throw new NoticeError(
        'No room selected: /create a room, or /rooms to list yours and /room N to pick one.',
      );
    }
    return room;
  }

  unreadIn(roomId: string): number {
    return this.unread.get(roomId) ?? 0;
  }

  updatePrompt(): void {
    const room = this.currentRoom();
    this.terminal.setPrompt(room ? `[${roomLabel(roomSummary(room, 0))}] > ` : '[no room] > ');
  }

  /** How `userId` is named in a room. */
  name(roomId: string | undefined, userId: string): string {
    return nameIn(roomId === undefined ? undefined : this.client.room(roomId), userId);
  }

  /** The label of a room that is not the current one, to mark its lines with. */
  elsewhere(roomId: string | undefined): string | undefined {
    if (roomId === undefined || roomId === this.current) return undefined;
    const room = this.client.room(roomId);
    return roomLabel({ roomId, name: room?.metadata.name });
  }

  /** A message; a live one of another room counts as unread there. */
  message(message: ViewMessage): void {
    const room = this.elsewhere(message.roomId);
    if (room !== undefined && message.source === 'live' && message.sender !== this.client.userId) {
      this.unread.set(message.roomId, this.unreadIn(message.roomId) + 1);
    }
    this.terminal.print(
      messageLine(
        {
          sender: message.sender,
          name: this.name(message.roomId, message.sender),
          type: message.type,
          content: message.content,
          ts: message.ts,
          source: message.source,
          ...(room !== undefined && { room }),
        },
        new Date(),
        this.style,
      ),
    );
  }

  /** Something that happened (in `roomId`, when it is about a room). */
  notice(text: string, roomId?: string): void {
    this.terminal.print(noticeLine(text, new Date(), this.style, this.elsewhere(roomId)));
  }

  /** Something that happened and must not be missed. */
  warning(text: string, roomId?: string): void {
    this.terminal.print(warningLine(text, new Date(), this.style, this.elsewhere(roomId)));
  }

  /** An answer to a command. */
  say(text: string | readonly string[]): void {
    this.terminal.print(text);
  }

  error(text: string): void {
    this.terminal.print(this.style.error(text));
  }
}
