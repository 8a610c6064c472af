/**
 * A real Trellis homeserver for the tests, in this process, on a temporary SQLite file. It can
 * be stopped and started again on the same port and file, as a restart of the server.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildApp,
  DEFAULT_CONFIG,
  NO_AUTH_LIMITS,
  Store,
  type ServerConfig,
} from '@trellis/server';

export interface TestServer {
  readonly url: string;
  readonly dir: string;
  /** Stops listening (clients see refused connections) and closes the database. */
  stop(): Promise<void>;
  /** Starts again on the same port and database. */
  start(): Promise<void>;
  /** Stops and deletes the database. */
  close(): Promise<void>;
}

export async function startServer(overrides: Partial<ServerConfig> = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-client-'));
  const database = { kind: 'sqlite' as const, path: join(dir, 'server.db') };
  let port = 0;
  let running: { close(): Promise<void> } | undefined;
  const start = async () => {
    const config: ServerConfig = {
      ...DEFAULT_CONFIG,
      port,
      logLevel: process.env.TRELLIS_TEST_LOG ?? 'silent',
      database,
      // Syncs in tests wait little: a stopped client gives up its long-poll quickly.
      syncTimeoutMaxMs: 5_000,
      // Tests register and log in many users from 127.0.0.1 within seconds.
      authLimits: NO_AUTH_LIMITS,
      ...overrides,
    };
    const store = await Store.open(database);
    const app = await buildApp(config, store);
    const address = await app.listen({ host: '127.0.0.1', port });
    port = Number(new URL(address).port);
    running = {
      async close() {
        await app.close();
        await store.close();
      },
    };
  };
  await start();
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await running?.close();
    running = undefined;
  };
  return {
    url,
    dir,
    stop,
    start,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
