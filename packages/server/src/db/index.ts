import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, type Transaction } from 'kysely';
import pg from 'pg';
import type { DatabaseConfig } from '../config.js';
import { migrate, type Dialect } from './migrations.js';
import { nulGuard } from './nulGuard.js';
import type { Database } from './schema.js';
import { createNotifier, type Notifier } from '../notify.js';

export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;
export type { Database } from './schema.js';

/** What a write transaction can do besides queries. */
export interface WriteContext {
  /**
   * Takes the stream lock without using a position, so that what the transaction reads next
   * cannot change under it (room state, memberships) before it appends.
   */
  lock(): Promise<void>;
  /**
   * The next stream position. The first call in a transaction takes the stream lock, so stream
   * positions commit in order and a reader never sees position n+1 before n.
   */
  nextPosition(): Promise<number>;
  /** Wake the syncs of these users once the transaction has committed. */
  wake(userIds: Iterable<string>): void;
}

const PG_INT8 = 20;

/** What both dialects share: the U+0000 guard, and a count of the statements run. */
const common = (counter: { onQuery: () => void }) => ({
  plugins: [nulGuard],
  log: () => counter.onQuery(),
});

/** The storage: a Kysely instance over one of the two dialects, plus cross-process wake-ups. */
export class Store {
  /** Statements executed so far (a gauge of how much work a request costs the database). */
  statementCount = 0;

  private constructor(
    readonly db: Db,
    readonly dialect: Dialect,
    readonly notifier: Notifier,
    counter: { onQuery: () => void },
  ) {
    counter.onQuery = () => this.statementCount++;
  }

  static async open(config: DatabaseConfig): Promise<Store> {
    if (config.kind === 'sqlite') {
      const counter = { onQuery: () => {} };
      const db = new Kysely<Database>({
        ...common(counter),
        dialect: new SqliteDialect({
          database: async () => {
            const sqlite = new BetterSqlite3(config.path);
            // WAL for concurrent readers; FULL sync so an acknowledged write survives power loss too.
            sqlite.pragma('journal_mode = WAL');
            sqlite.pragma('synchronous = FULL');
            sqlite.pragma('busy_timeout = 5000');
            return sqlite;
          },
        }),
      });
      await migrate(db as Kysely<unknown>, 'sqlite');
      return new Store(db, 'sqlite', createNotifier({ kind: 'local' }), counter);
    }

    const schema = config.schema;
    if (schema !== undefined) {
      const admin = new pg.Client({ connectionString: config.url });
      await admin.connect();
      try {
        await admin.query(`create schema if not exists "${schema}"`);
      } catch (err) {
        // Two processes starting together may both try; the loser sees a duplicate.
        if ((err as { code?: string }).code !== '23505') throw err;
      } finally {
        await admin.end();
      }
    }
    const connection = {
      connectionString: config.url,
      ...(schema !== undefined ? { options: `-c search_path=${schema}` } : {}),
    };
    const pool = new pg.Pool({
      ...connection,
      max: config.poolSize,
      // Counts and timestamps are int8: read them as numbers (all stay below 2^53).
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          oid === PG_INT8
            ? (value: string) => Number(value)
            : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
      },
    });
    const counter = { onQuery: () => {} };
    const db = new Kysely<Database>({ ...common(counter), dialect: new PostgresDialect({ pool }) });
    await migrate(db as Kysely<unknown>, 'postgres');
    const notifier = createNotifier({
      kind: 'postgres',
      connection,
      channel: `trellis_wake${schema ? `_${schema}` : ''}`,
    });
    await notifier.start();
    return new Store(db, 'postgres', notifier, counter);
  }

  /**
   * Runs `fn` in a transaction. Stream positions taken through the context are written back
   * before commit; wake-ups are delivered after commit (PostgreSQL NOTIFY is transactional).
   */
  async write<T>(fn: (trx: Tx, ctx: WriteContext) => Promise<T>): Promise<T> {
    const woken = new Set<string>();
    const result = await this.db.transaction().execute(async (trx) => {
      let position: number | undefined;
      let start: number | undefined;
      const lock = async () => {
        if (position !== undefined) return position;
        let query = trx.selectFrom('stream_position').select('position').where('id', '=', 1);
        if (this.dialect === 'postgres') query = query.forUpdate();
        const row = await query.executeTakeFirstOrThrow();
        start = position = row.position;
        return position;
      };
      const ctx: WriteContext = {
        lock: async () => {
          await lock();
        },
        nextPosition: async () => {
          position = (await lock()) + 1;
          return position;
        },
        wake: (userIds) => {
          for (const id of userIds) woken.add(id);
        },
      };
      const value = await fn(trx, ctx);
      if (position !== undefined && position !== start) {
        await trx.updateTable('stream_position').set({ position }).where('id', '=', 1).execute();
      }
      if (woken.size > 0 && this.dialect === 'postgres') {
        await this.notifier.publishInTransaction(trx, woken);
      }
      return value;
    });
    if (woken.size > 0 && this.dialect === 'sqlite') this.notifier.deliver(woken);
    return result;
  }

  /** The stream position every committed write is at or below. */
  async currentPosition(): Promise<number> {
    const row = await this.db
      .selectFrom('stream_position')
      .select('position')
      .where('id', '=', 1)
      .executeTakeFirstOrThrow();
    return row.position;
  }

  async close(): Promise<void> {
    await this.notifier.close();
    await this.db.destroy();
  }
}
