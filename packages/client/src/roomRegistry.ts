/**
 * The rooms a client follows, by id: loaded from the store at start, added as sync or this
 * device's calls show new ones, and dropped when this user leaves.
 */
import { ClientError } from './errors.js';
import type { ReportError } from './guard.js';
import type { RoomContext } from './roomContext.js';
import { Room } from './rooms.js';

export class RoomRegistry {
  private readonly rooms = new Map<string, Room>();

  constructor(private readonly context: RoomContext) {}

  /** Loads the rooms kept in the store; one that cannot be read is reported and left out. */
  load(reportError: ReportError): void {
    for (const { roomId, data } of this.context.store.rooms()) {
      try {
        this.rooms.set(roomId, Room.load(this.context, roomId, data));
      } catch (error) {
        reportError(error, `loading room ${roomId}`);
      }
    }
  }

  get(roomId: string): Room | undefined {
    return this.rooms.get(roomId);
  }

  has(roomId: string): boolean {
    return this.rooms.has(roomId);
  }

  ids(): string[] {
    return [...this.rooms.keys()];
  }

  all(): IterableIterator<Room> {
    return this.rooms.values();
  }

  delete(roomId: string): void {
    this.rooms.delete(roomId);
  }

  /** The room, made when seen for the first time (paused unless the client runs). */
  roomFor(roomId: string, membership: string, running: boolean): Room {
    let room = this.rooms.get(roomId);
    if (!room) {
      room = Room.create(this.context, roomId, membership);
      if (!running) room.pause();
      this.rooms.set(roomId, room);
    }
    return room;
  }

  /** The room, if this user is joined to it; else `UNKNOWN_ROOM`. */
  joined(roomId: string): Room {
    const room = this.rooms.get(roomId);
    if (!room || room.membership !== 'join')
      throw new ClientError('UNKNOWN_ROOM', `not joined to ${roomId}`);
    return room;
  }
}
