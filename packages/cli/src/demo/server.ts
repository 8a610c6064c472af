/**
 * The demo's homeserver: the real Trellis server in this process, on a SQLite file in a fresh
 * temporary directory that is deleted when the demo ends, listening on a free local port.
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

export interface EmbeddedServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly databasePath: string;
  readonly serverName: string;
  /** Stops listening, closes the database and deletes the temporary directory. */
  close(): Promise<void>;
}

export async function startEmbeddedServer(): Promise<EmbeddedServer> {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-demo-'));
  const databasePath = join(dir, 'server.sqlite');
  const database = { kind: 'sqlite' as const, path: databasePath };
  const config: ServerConfig = {
    ...DEFAULT_CONFIG,
    host: '127.0.0.1',
    port: 0,
    database,
    logLevel: 'silent',
    // A client that stops syncing gives up its long-poll quickly, which keeps the story brisk.
    syncTimeoutMaxMs: 5_000,
    // Many KeyPackages are claimed within seconds; the rate limit is for strangers, not a demo.
    claimRate: { burst: 0, perSecond: 0 },
    // Likewise the login and registration limits: the demo signs in its whole cast at once.
    authLimits: NO_AUTH_LIMITS,
  };
  let store: Store | undefined;
  try {
    store = await Store.open(database);
    const app = await buildApp(config, store);
    const address = await app.listen({ host: config.host, port: config.port });
    const opened = store;
    return {
      url: `http://127.0.0.1:${new URL(address).port}`,
      databasePath,
      serverName: config.serverName,
      async close() {
        try {
          await app.close();
          await opened.close();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
