import { buildApp } from './app.js';
import { ConfigError, USAGE, isLoopback, loadConfig } from './config.js';
import { Store } from './db/index.js';

/**
 * Runs the Trellis homeserver from command-line arguments: flags and environment →
 * configuration, open the database (running migrations), listen, and shut down gracefully on
 * SIGTERM/SIGINT. Bad flags print the usage and exit 2.
 */
export async function serve(argv: string[]): Promise<void> {
  let config;
  try {
    config = loadConfig(argv);
  } catch (err) {
    if (
      err instanceof ConfigError ||
      (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
    ) {
      process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
      process.exit(2);
    }
    throw err;
  }
  if (config === 'help') {
    process.stdout.write(USAGE);
    return;
  }

  const store = await Store.open(config.database);
  const app = await buildApp(config, store);
  app.addHook('onClose', async () => store.close());
  const address = await app.listen({ host: config.host, port: config.port });
  const where = config.database.kind === 'sqlite' ? `SQLite ${config.database.path}` : 'PostgreSQL';
  const { mode } = config.registration;
  const registration =
    mode === 'open'
      ? 'open to anyone who can reach it'
      : mode === 'token'
        ? `by registration token (${config.registration.tokens.length} configured)`
        : 'closed';
  app.log.info(
    { address, database: config.database.kind, serverName: config.serverName, registration: mode },
    `Trellis homeserver listening on ${address} (${where}); registration ${registration}`,
  );
  if (mode === 'open' && !isLoopback(config.host)) {
    app.log.warn(
      { host: config.host },
      'registration is open on a non-loopback address: anyone who can reach it can create accounts',
    );
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      app.log.warn('shutdown took too long; exiting');
      process.exit(1);
    }, config.shutdownGraceMs);
    force.unref();
    app
      .close()
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        app.log.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
