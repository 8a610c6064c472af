import { EventEmitter } from 'node:events';
import { sql, type Kysely } from 'kysely';
import type { Database } from './db/schema.js';
import pg from 'pg';

/**
 * Wakes waiting syncs when something is stored for their user. Within one process an emitter is
 * enough (SQLite); with PostgreSQL every process LISTENs on one channel and writers NOTIFY inside
 * their transaction, so a sync waiting on any process wakes once the data is committed.
 */
export interface Notifier {
  /** Calls `listener` whenever `userId` (or everyone) is woken; returns the unsubscribe. */
  subscribe(userId: string, listener: () => void): () => void;
  /** Wakes local subscribers now. */
  deliver(userIds: Iterable<string> | typeof EVERYONE): void;
  /** Queues a wake-up for all processes that PostgreSQL sends when `trx` commits. */
  publishInTransaction(trx: Kysely<Database>, userIds: Iterable<string>): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export const EVERYONE = '*';
const ALL_EVENT = '\0all';
/** PostgreSQL caps NOTIFY payloads at 8000 bytes; beyond this everyone re-checks. */
const MAX_PAYLOAD = 7000;

type NotifierOptions =
  | { kind: 'local' }
  | {
      kind: 'postgres';
      connection: pg.ClientConfig;
      channel: string;
    };

export function createNotifier(options: NotifierOptions): Notifier {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  const deliver = (userIds: Iterable<string> | typeof EVERYONE) => {
    if (userIds === EVERYONE) emitter.emit(ALL_EVENT);
    else for (const id of userIds) emitter.emit(id);
  };
  const subscribe = (userId: string, listener: () => void) => {
    emitter.on(userId, listener);
    emitter.on(ALL_EVENT, listener);
    return () => {
      emitter.off(userId, listener);
      emitter.off(ALL_EVENT, listener);
    };
  };

  if (options.kind === 'local') {
    return {
      subscribe,
      deliver,
      publishInTransaction: async () => {},
      start: async () => {},
      close: async () => {},
    };
  }

  const { connection, channel } = options;
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;

  const connect = async (): Promise<void> => {
    const c = new pg.Client(connection);
    c.on('notification', (msg) => {
      if (msg.channel !== channel || msg.payload === undefined) return;
      if (msg.payload === EVERYONE) return deliver(EVERYONE);
      try {
        deliver(JSON.parse(msg.payload) as string[]);
      } catch {
        deliver(EVERYONE);
      }
    });
    const reconnect = () => {
      if (closed || client !== c) return;
      client = undefined;
      c.end().catch(() => {});
      retry = setTimeout(() => {
        connect()
          .then(() => deliver(EVERYONE)) // wake-ups may have been missed meanwhile
          .catch(reconnect);
      }, 500);
    };
    c.on('error', reconnect);
    c.on('end', reconnect);
    await c.connect();
    await c.query(`listen "${channel}"`);
    client = c;
  };

  return {
    subscribe,
    deliver,
    async publishInTransaction(trx, userIds) {
      let payload = JSON.stringify([...userIds]);
      if (Buffer.byteLength(payload) > MAX_PAYLOAD) payload = EVERYONE;
      await sql`select pg_notify(${channel}, ${payload})`.execute(trx);
    },
    start: connect,
    async close() {
      closed = true;
      clearTimeout(retry);
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    },
  };
}
