import { parseArgs } from 'node:util';

/** Where the server keeps its data: a SQLite file (default) or a PostgreSQL database. */
export type DatabaseConfig =
  | { kind: 'sqlite'; path: string }
  | {
      kind: 'postgres';
      url: string;
      /** A schema to keep the tables in (created if missing); lets tests share one database. */
      schema: string | undefined;
      poolSize: number;
    };

export interface ServerConfig {
  host: string;
  port: number;
  /** The server name in user and room ids (`@alice:<serverName>`). */
  serverName: string;
  database: DatabaseConfig;
  /** Largest request body accepted, in bytes (413 M_TOO_LARGE above). */
  maxBodyBytes: number;
  /** Largest room event content accepted, in bytes (the Matrix PDU limit is 65536). */
  maxEventBytes: number;
  /** Longest KeyPackage lifetime (not_after − not_before) accepted on upload, in seconds. */
  keyPackageMaxLifetimeSeconds: number;
  /** Clock skew tolerated when checking KeyPackage lifetimes, in seconds. */
  keyPackageClockSkewSeconds: number;
  /** Claims per claimer: a token bucket of `burst` keys refilled at `perSecond`; burst 0 = off. */
  claimRate: { burst: number; perSecond: number };
  /** Upper bound on a sync long-poll, whatever `timeout` the client asks for. */
  syncTimeoutMaxMs: number;
  /** How often expired KeyPackages are deleted. */
  expirySweepIntervalMs: number;
  registrationEnabled: boolean;
  logLevel: string;
  /** How long a graceful shutdown waits for open requests before closing anyway. */
  shutdownGraceMs: number;
}

export const DEFAULT_CONFIG: ServerConfig = {
  host: '127.0.0.1',
  port: 8008,
  serverName: 'localhost',
  database: { kind: 'sqlite', path: 'trellis.sqlite' },
  maxBodyBytes: 2 * 1024 * 1024,
  maxEventBytes: 65536,
  keyPackageMaxLifetimeSeconds: 90 * 24 * 3600,
  keyPackageClockSkewSeconds: 300,
  claimRate: { burst: 200, perSecond: 20 },
  syncTimeoutMaxMs: 60_000,
  expirySweepIntervalMs: 60_000,
  registrationEnabled: true,
  logLevel: 'info',
  shutdownGraceMs: 10_000,
};

export const USAGE = `trellis server: the Trellis homeserver

Options (each also read from the environment variable in brackets):
  --host <addr>                  listen address [TRELLIS_HOST] (127.0.0.1)
  --port <n>                     listen port, 0 for any [TRELLIS_PORT] (8008)
  --server-name <name>           server name in user and room ids [TRELLIS_SERVER_NAME] (localhost)
  --database <url|path>          postgres://… or a SQLite file path [DATABASE_URL] (trellis.sqlite)
  --database-url <url>           the same as --database
  --db-schema <name>             PostgreSQL schema for the tables [TRELLIS_DB_SCHEMA]
  --db-pool-size <n>             PostgreSQL connections per process [TRELLIS_DB_POOL_SIZE] (20)
  --max-body-bytes <n>           request body limit [TRELLIS_MAX_BODY_BYTES] (2097152)
  --key-package-max-lifetime <s> longest KeyPackage lifetime accepted, seconds
                                 [TRELLIS_KEY_PACKAGE_MAX_LIFETIME] (7776000)
  --claim-burst <n>              keys a claimer may claim at once, 0 = no limit [TRELLIS_CLAIM_BURST] (200)
  --claim-rate <n>               keys per second a claimer regains [TRELLIS_CLAIM_RATE] (20)
  --sync-timeout-max <ms>        longest sync long-poll [TRELLIS_SYNC_TIMEOUT_MAX] (60000)
  --expiry-sweep-interval <ms>   how often expired KeyPackages are deleted [TRELLIS_EXPIRY_SWEEP_INTERVAL] (60000)
  --no-registration              refuse new accounts [TRELLIS_REGISTRATION=false]
  --log-level <level>            fatal|error|warn|info|debug|trace|silent [LOG_LEVEL] (info)
  --help                         this text
`;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function integer(name: string, value: string, min: number): number {
  if (!/^\d+$/.test(value)) throw new ConfigError(`${name} must be a whole number, got "${value}"`);
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new ConfigError(`${name} must be ≥ ${min}`);
  return n;
}

/** `postgres://…`/`postgresql://…` selects PostgreSQL; `sqlite:PATH`, `file:PATH` or a path selects SQLite. */
export function parseDatabase(value: string, schema: string | undefined, poolSize: number) {
  if (/^postgres(ql)?:\/\//.test(value)) {
    if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
      throw new ConfigError(`database schema must be a lower-case SQL identifier, got "${schema}"`);
    }
    return { kind: 'postgres', url: value, schema, poolSize } satisfies DatabaseConfig;
  }
  const path = value.replace(/^(sqlite|file):(\/\/)?/, '');
  if (path === '') throw new ConfigError('empty SQLite path');
  return { kind: 'sqlite', path } satisfies DatabaseConfig;
}

/** Configuration from command-line flags, then the environment, then the defaults. */
export function loadConfig(
  argv: string[] = process.argv.slice(2),
  env: NodeJS.ProcessEnv = process.env,
): ServerConfig | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'server-name': { type: 'string' },
      database: { type: 'string' },
      'database-url': { type: 'string' },
      'db-schema': { type: 'string' },
      'db-pool-size': { type: 'string' },
      'max-body-bytes': { type: 'string' },
      'key-package-max-lifetime': { type: 'string' },
      'claim-burst': { type: 'string' },
      'claim-rate': { type: 'string' },
      'sync-timeout-max': { type: 'string' },
      'expiry-sweep-interval': { type: 'string' },
      'no-registration': { type: 'boolean' },
      'log-level': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return 'help';
  const d = DEFAULT_CONFIG;
  const pick = (flag: string | undefined, envName: string) => flag ?? env[envName];
  const num = (flag: string | undefined, envName: string, fallback: number, min = 0) => {
    const v = pick(flag, envName);
    return v === undefined ? fallback : integer(`--${envName}`, v, min);
  };
  const logLevel = pick(values['log-level'], 'LOG_LEVEL') ?? d.logLevel;
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError(`unknown log level "${logLevel}"`);
  }
  const registrationEnv = env.TRELLIS_REGISTRATION;
  return {
    host: pick(values.host, 'TRELLIS_HOST') ?? d.host,
    port: num(values.port, 'TRELLIS_PORT', d.port),
    serverName: pick(values['server-name'], 'TRELLIS_SERVER_NAME') ?? d.serverName,
    database: parseDatabase(
      pick(values.database ?? values['database-url'], 'DATABASE_URL') ?? 'trellis.sqlite',
      pick(values['db-schema'], 'TRELLIS_DB_SCHEMA'),
      num(values['db-pool-size'], 'TRELLIS_DB_POOL_SIZE', 20, 1),
    ),
    maxBodyBytes: num(values['max-body-bytes'], 'TRELLIS_MAX_BODY_BYTES', d.maxBodyBytes, 1024),
    maxEventBytes: d.maxEventBytes,
    keyPackageMaxLifetimeSeconds: num(
      values['key-package-max-lifetime'],
      'TRELLIS_KEY_PACKAGE_MAX_LIFETIME',
      d.keyPackageMaxLifetimeSeconds,
      1,
    ),
    keyPackageClockSkewSeconds: d.keyPackageClockSkewSeconds,
    claimRate: {
      burst: num(values['claim-burst'], 'TRELLIS_CLAIM_BURST', d.claimRate.burst),
      perSecond: num(values['claim-rate'], 'TRELLIS_CLAIM_RATE', d.claimRate.perSecond),
    },
    syncTimeoutMaxMs: num(
      values['sync-timeout-max'],
      'TRELLIS_SYNC_TIMEOUT_MAX',
      d.syncTimeoutMaxMs,
    ),
    expirySweepIntervalMs: num(
      values['expiry-sweep-interval'],
      'TRELLIS_EXPIRY_SWEEP_INTERVAL',
      d.expirySweepIntervalMs,
      10,
    ),
    registrationEnabled:
      !values['no-registration'] && registrationEnv !== 'false' && registrationEnv !== '0',
    logLevel,
    shutdownGraceMs: d.shutdownGraceMs,
  };
}
