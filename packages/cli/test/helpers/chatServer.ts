/**
 * A Trellis homeserver in the test's process that can be stopped and started again on the same
 * port and database, as a server restart looks to its clients.
 */
import {
  buildApp,
  DEFAULT_CONFIG,
  NO_AUTH_LIMITS,
  Store,
  type ServerConfig,
} from '@trellis/server';

export class ChatServer {
  private port = 0;
  private running: { close(): Promise<void> } | undefined;

  constructor(private readonly databasePath: string) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const database = { kind: 'sqlite' as const, path: this.databasePath };
    const config: ServerConfig = {
      ...DEFAULT_CONFIG,
      port: this.port,
      logLevel: 'silent',
      database,
      syncTimeoutMaxMs: 5_000,
      authLimits: NO_AUTH_LIMITS,
    };
    const store = await Store.open(database);
    const app = await buildApp(config, store);
    const address = await app.listen({ host: '127.0.0.1', port: this.port });
    this.port = Number(new URL(address).port);
    this.running = {
      close: async () => {
        await app.close();
        await store.close();
      },
    };
  }

  async stop(): Promise<void> {
    const running = this.running;
    this.running = undefined;
    await running?.close();
  }
}
