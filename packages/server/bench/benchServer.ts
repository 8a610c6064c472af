/**
 * Servers for the benches that need one (bench:server, bench:e2e): the homeserver run as its own
 * process, as users run it, on a fresh database, with the port and database taken from options
 * or the environment. Start-up is allowed three minutes (see spawnServer): a loaded machine or a
 * remote PostgreSQL may take that long to migrate and listen.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { databaseArgs, spawnServer, type ServerProcess } from '../test/helpers/process.js';
import { PG_URL, type DbKind } from '../test/helpers/server.js';

/** The options text, for a bench's usage; `defaultDb` is what `--db` defaults to. */
export function serverUsage(defaultDb: string): string {
  return `  --db <list>          databases to run on: sqlite, postgres or both [TRELLIS_BENCH_DB] (${defaultDb})
  --pg-url <url>       PostgreSQL to use (a fresh schema, dropped after) [TRELLIS_BENCH_PG_URL]
                       (${PG_URL})
  --sqlite-dir <dir>   where SQLite files go [TRELLIS_BENCH_SQLITE_DIR] (a temporary directory)
  --port <n>           first port for the servers (n, n+1, …), 0 = any free [TRELLIS_BENCH_PORT] (0)`;
}

/** For node:util parseArgs. */
export const SERVER_OPTIONS = {
  db: { type: 'string' },
  'pg-url': { type: 'string' },
  'sqlite-dir': { type: 'string' },
  port: { type: 'string' },
} as const;

export interface ServerOptions {
  kinds: DbKind[];
  pgUrl: string;
  sqliteDir: string | undefined;
  port: number;
}

export function readServerOptions(
  values: { db?: string; 'pg-url'?: string; 'sqlite-dir'?: string; port?: string },
  defaultDb: string,
): ServerOptions {
  const env = process.env;
  const db = values.db ?? env.TRELLIS_BENCH_DB ?? defaultDb;
  const kinds = (db === 'both' ? 'sqlite,postgres' : db).split(',').map((k) => k.trim());
  for (const kind of kinds) {
    if (kind !== 'sqlite' && kind !== 'postgres') {
      throw new Error(`--db wants sqlite, postgres or both, not "${db}"`);
    }
  }
  const port = Number(values.port ?? env.TRELLIS_BENCH_PORT ?? 0);
  if (!Number.isInteger(port) || port < 0 || port > 65_000) throw new Error(`bad --port ${port}`);
  return {
    kinds: kinds as DbKind[],
    pgUrl: values['pg-url'] ?? env.TRELLIS_BENCH_PG_URL ?? PG_URL,
    sqliteDir: values['sqlite-dir'] ?? env.TRELLIS_BENCH_SQLITE_DIR,
    port,
  };
}

/** A fresh database: a SQLite file, or a new schema on the PostgreSQL given; and its removal. */
function benchDatabase(kind: DbKind, options: ServerOptions) {
  if (kind === 'sqlite') {
    const dir = options.sqliteDir ?? mkdtempSync(join(tmpdir(), 'trellis-bench-'));
    const path = join(dir, `bench-${randomBytes(4).toString('hex')}.sqlite`);
    return {
      database: { kind: 'sqlite' as const, path },
      drop: async () => {
        if (options.sqliteDir === undefined) rmSync(dir, { recursive: true, force: true });
        else for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
      },
    };
  }
  const schema = `bench_${randomBytes(6).toString('hex')}`;
  return {
    database: { kind: 'postgres' as const, url: options.pgUrl, schema },
    drop: async () => {
      const client = new pg.Client({ connectionString: options.pgUrl });
      await client.connect();
      await client.query(`drop schema if exists "${schema}" cascade`);
      await client.end();
    },
  };
}

export interface BenchServers {
  urls: string[];
  /** Stops every process and drops the database. */
  close(): Promise<void>;
}

/**
 * `count` server processes on one fresh database of `kind` (several only make sense on
 * PostgreSQL), on ports from `options.port` up (or any free ones), with `args` added. Claim rate
 * limits and login/registration limits are off: the benches make many accounts and claims.
 */
export async function startServers(
  kind: DbKind,
  count: number,
  options: ServerOptions,
  args: string[] = [],
): Promise<BenchServers> {
  const { database, drop } = benchDatabase(kind, options);
  const servers: ServerProcess[] = [];
  const close = async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await drop();
  };
  try {
    for (let i = 0; i < count; i++) {
      const port = options.port === 0 ? 0 : options.port + i;
      servers.push(
        await spawnServer([
          ...databaseArgs(database),
          '--claim-burst',
          '0',
          ...args,
          '--port',
          String(port),
        ]),
      );
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { urls: servers.map((s) => s.url), close };
}
