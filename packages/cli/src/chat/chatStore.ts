/**
 * What the chat keeps besides the SDK's store, in the same file (tables of its own, through a
 * connection of its own, opened once the SDK's store holds the file's lock):
 *
 * - the transcript: every message this device decrypted, with its time, so that a restarted
 *   chat shows the room's history. MLS uses each message key once and deletes it: a message
 *   read once cannot be decrypted again from the epochs the device holds, so what was read is
 *   kept here, as every chat client keeps its history. It is deleted with the room.
 * - the outbox: messages typed and not sent yet (the server was away), in the order typed,
 *   until they are sent.
 *
 * Deleting really deletes here too: `secure_delete` overwrites deleted rows, and forgetting a
 * room ends with a checkpoint that truncates the write-ahead log.
 */
import Database from 'better-sqlite3';
import type { MessageSource } from '@trellis/client';

/** A message as the transcript keeps it. */
export interface StoredMessage {
  readonly roomId: string;
  readonly eventId: string;
  readonly sender: string;
  readonly senderDevice: string;
  readonly type: string;
  readonly content: Record<string, unknown>;
  readonly ts: number | undefined;
  readonly source: MessageSource;
}

/** A message typed here that waits to be sent. */
export interface PendingMessage {
  readonly id: number;
  readonly roomId: string;
  readonly type: string;
  readonly content: Record<string, unknown>;
  readonly queuedAt: number;
}

const SCHEMA = `
create table if not exists chat_transcript (
  seq integer primary key autoincrement,
  room_id text not null,
  event_id text not null,
  ts integer,
  sender text not null,
  sender_device text not null,
  type text not null,
  content text not null,
  source text not null,
  unique (room_id, event_id)
);
create index if not exists chat_transcript_by_time on chat_transcript (room_id, ts, seq);
create table if not exists chat_outbox (
  id integer primary key autoincrement,
  room_id text not null,
  type text not null,
  content text not null,
  queued_at integer not null
);
`;

interface MessageRow {
  room_id: string;
  event_id: string;
  ts: number | null;
  sender: string;
  sender_device: string;
  type: string;
  content: string;
  source: string;
}

export class ChatStore {
  private readonly db: Database.Database;

  /** `path` is the SDK store's file (or `:memory:` for tests). */
  constructor(path: string) {
    this.db = new Database(path);
    try {
      this.db.pragma('synchronous = FULL');
      this.db.pragma('secure_delete = ON');
      this.db.exec(SCHEMA);
    } catch (error) {
      this.db.close();
      throw error;
    }
  }

  /** Keeps a message (once: the same event again is ignored). */
  addMessage(m: StoredMessage): void {
    this.db
      .prepare(
        `insert or ignore into chat_transcript
           (room_id, event_id, ts, sender, sender_device, type, content, source)
         values (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        m.roomId,
        m.eventId,
        m.ts ?? null,
        m.sender,
        m.senderDevice,
        m.type,
        JSON.stringify(m.content),
        m.source,
      );
  }

  /** The newest `limit` messages of a room, oldest first (by the time they were sent). */
  recent(roomId: string, limit: number): StoredMessage[] {
    const rows = this.db
      .prepare(
        `select * from chat_transcript where room_id = ?
         order by ts is null, ts desc, seq desc limit ?`,
      )
      .all(roomId, limit) as MessageRow[];
    return rows.reverse().map(message);
  }

  /** The kept messages among `eventIds`, by event id. */
  messages(roomId: string, eventIds: readonly string[]): Map<string, StoredMessage> {
    const find = this.db.prepare(
      'select * from chat_transcript where room_id = ? and event_id = ?',
    );
    const out = new Map<string, StoredMessage>();
    for (const eventId of eventIds) {
      const row = find.get(roomId, eventId) as MessageRow | undefined;
      if (row) out.set(eventId, message(row));
    }
    return out;
  }

  /** Deletes a room's transcript and what waited to be sent to it, for good. */
  forgetRoom(roomId: string): void {
    this.db.transaction(() => {
      this.db.prepare('delete from chat_transcript where room_id = ?').run(roomId);
      this.db.prepare('delete from chat_outbox where room_id = ?').run(roomId);
    })();
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  /** Puts a message in the outbox; returns it as kept. */
  queue(
    roomId: string,
    type: string,
    content: Record<string, unknown>,
    queuedAt: number,
  ): PendingMessage {
    const { lastInsertRowid } = this.db
      .prepare('insert into chat_outbox (room_id, type, content, queued_at) values (?, ?, ?, ?)')
      .run(roomId, type, JSON.stringify(content), queuedAt);
    return { id: Number(lastInsertRowid), roomId, type, content, queuedAt };
  }

  /** What waits to be sent, in the order it was typed. */
  pending(): PendingMessage[] {
    const rows = this.db.prepare('select * from chat_outbox order by id').all() as {
      id: number;
      room_id: string;
      type: string;
      content: string;
      queued_at: number;
    }[];
    return rows.map((r) => ({
      id: r.id,
      roomId: r.room_id,
      type: r.type,
      content: JSON.parse(r.content) as Record<string, unknown>,
      queuedAt: r.queued_at,
    }));
  }

  /** Takes a message out of the outbox (sent, or given up). */
  unqueue(id: number): void {
    this.db.prepare('delete from chat_outbox where id = ?').run(id);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function message(row: MessageRow): StoredMessage {
  return {
    roomId: row.room_id,
    eventId: row.event_id,
    sender: row.sender,
    senderDevice: row.sender_device,
    type: row.type,
    content: JSON.parse(row.content) as Record<string, unknown>,
    ts: row.ts ?? undefined,
    source: row.source as MessageSource,
  };
}
