import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { buildApp } from '../../src/app.js';
import {
  DEFAULT_CONFIG,
  NO_AUTH_LIMITS,
  type DatabaseConfig,
  type ServerConfig,
} from '../../src/config.js';
import { Store } from '../../src/db/index.js';
import { DEFAULT_PG_URL } from './postgres.js';

export type DbKind = 'sqlite' | 'postgres';
export const DB_KINDS: DbKind[] = ['sqlite', 'postgres'];

/**
 * The PostgreSQL the tests use (trust auth, database `test`); each test gets its own schema.
 * `npm test` starts a temporary one when none answers here (withPostgres.ts).
 */
export const PG_URL = process.env.TRELLIS_TEST_PG_URL ?? DEFAULT_PG_URL;

/** A fresh, empty database of `kind`, and how to throw it away. */
export function freshDatabase(kind: DbKind): {
  database: DatabaseConfig;
  drop: () => Promise<void>;
} {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'trellis-test-'));
    return {
      database: { kind: 'sqlite', path: join(dir, 'trellis.db') },
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const schema = `t_${randomBytes(6).toString('hex')}`;
  return {
    database: { kind: 'postgres', url: PG_URL, schema, poolSize: 10 },
    drop: async () => {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`drop schema if exists "${schema}" cascade`);
      await client.end();
    },
  };
}

export interface TestServer {
  url: string;
  app: FastifyInstance;
  store: Store;
  config: ServerConfig;
  close(): Promise<void>;
}

/**
 * A server on an ephemeral port over a fresh database, in this process; login and registration
 * limits off unless `overrides` sets them.
 */
export async function startServer(
  kind: DbKind,
  overrides: Partial<ServerConfig> = {},
): Promise<TestServer> {
  const { database, drop } = freshDatabase(kind);
  const config: ServerConfig = {
    ...DEFAULT_CONFIG,
    port: 0,
    logLevel: process.env.TRELLIS_TEST_LOG ?? 'silent',
    database,
    // Tests register and log in many users from 127.0.0.1; those about the limits set them.
    authLimits: NO_AUTH_LIMITS,
    ...overrides,
  };
  const store = await Store.open(database);
  const app = await buildApp(config, store);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    app,
    store,
    config,
    async close() {
      await app.close();
      await store.close();
      await drop();
    },
  };
}
