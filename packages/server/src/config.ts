import { parseArgs } from 'node:util';
import type { Rate } from './rateLimit.js';

/** Who may create accounts: anyone, holders of a registration token, or nobody. */
export type RegistrationMode = 'open' | 'token' | 'closed';

/** Login and registration limits, shared by every process on the database. */
export interface AuthLimits {
  /** Login attempts per client address. */
  loginPerAddress: Rate;
  /** Failed logins per account named (whether it exists or not). */
  loginFailuresPerAccount: Rate;
  /** Registration requests (and availability and token checks) per client address. */
  registerPerAddress: Rate;
  /** Registration attempts per requested user id. */
  registerPerAccount: Rate;
}

/** Every login and registration limit off (tests that register many users from one address). */
export const NO_AUTH_LIMITS: AuthLimits = {
  loginPerAddress: { burst: 0, perSecond: 0 },
  loginFailuresPerAccount: { burst: 0, perSecond: 0 },
  registerPerAddress: { burst: 0, perSecond: 0 },
  registerPerAccount: { burst: 0, perSecond: 0 },
};

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
  registration: { mode: RegistrationMode; tokens: string[] };
  authLimits: AuthLimits;
  logLevel: string;
  /** JSON lines (for files, pipes and log tools), or readable lines (for a person at a terminal). */
  logFormat: 'json' | 'text';
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
  // Open because the default host is loopback; loadConfig picks the default for other hosts.
  registration: { mode: 'open', tokens: [] },
  authLimits: {
    loginPerAddress: { burst: 10, perSecond: 12 / 60 },
    loginFailuresPerAccount: { burst: 5, perSecond: 1 / 60 },
    registerPerAddress: { burst: 10, perSecond: 6 / 60 },
    registerPerAccount: { burst: 5, perSecond: 1 / 60 },
  },
  logLevel: 'info',
  logFormat: 'json',
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
  --registration <mode>          open | token | closed [TRELLIS_REGISTRATION] (token when tokens
                                 are given; else open when listening on loopback; else closed)
  --registration-token <token>   a token for m.login.registration_token; repeatable
                                 [TRELLIS_REGISTRATION_TOKENS, comma-separated]
  --no-registration              the same as --registration closed
  --login-limit-address <b:m>    login attempts per client address: burst b, m more a minute,
                                 0 = off [TRELLIS_LOGIN_LIMIT_ADDRESS] (10:12)
  --login-limit-account <b:m>    failed logins per account [TRELLIS_LOGIN_LIMIT_ACCOUNT] (5:1)
  --register-limit-address <b:m> registration requests per client address
                                 [TRELLIS_REGISTER_LIMIT_ADDRESS] (10:6)
  --register-limit-account <b:m> registration attempts per user id [TRELLIS_REGISTER_LIMIT_ACCOUNT] (5:1)
  --log-level <level>            fatal|error|warn|info|debug|trace|silent [LOG_LEVEL] (info)
  --log-format <format>          auto | text | json [TRELLIS_LOG_FORMAT] (auto: readable lines
                                 when standard output is a terminal, JSON lines otherwise)
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

/** `<burst>:<per minute>` (or `0`, no limit) as a token-bucket rate. */
export function parseRate(name: string, value: string): Rate {
  const match = /^(\d+)(?::(\d+(?:\.\d+)?))?$/.exec(value);
  const burst = Number(match?.[1]);
  const perMinute = Number(match?.[2] ?? 0);
  if (!match || !Number.isSafeInteger(burst) || (burst > 0 && !(perMinute > 0))) {
    throw new ConfigError(`${name} must be <burst>:<per minute> or 0, got "${value}"`);
  }
  return { burst, perSecond: perMinute / 60 };
}

/** Whether `host` only accepts connections from this machine. */
export const isLoopback = (host: string) =>
  /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || ['::1', '[::1]', 'localhost'].includes(host);

/** Registration tokens are opaque identifiers of at most 64 characters (the spec's grammar). */
const REGISTRATION_TOKEN = /^[A-Za-z0-9._~-]{1,64}$/;

/**
 * The registration mode asked for, or the default: token when tokens are given, else open on
 * loopback (only this machine can reach it), else closed.
 */
export function registrationConfig(
  asked: string | undefined,
  tokens: string[],
  host: string,
): ServerConfig['registration'] {
  for (const token of tokens) {
    if (!REGISTRATION_TOKEN.test(token)) {
      throw new ConfigError(`registration token "${token}" is not 1–64 of [A-Za-z0-9._~-]`);
    }
  }
  const legacy: Record<string, RegistrationMode> = { false: 'closed', 0: 'closed', true: 'open' };
  const mode =
    asked === undefined
      ? tokens.length > 0
        ? 'token'
        : isLoopback(host)
          ? 'open'
          : 'closed'
      : (legacy[asked] ?? asked);
  if (mode !== 'open' && mode !== 'token' && mode !== 'closed') {
    throw new ConfigError(`--registration must be open, token or closed, got "${asked}"`);
  }
  if (mode === 'token' && tokens.length === 0) {
    throw new ConfigError('--registration token needs at least one --registration-token');
  }
  return { mode, tokens };
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
  stdout: { readonly isTTY?: boolean } = process.stdout,
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
      registration: { type: 'string' },
      'registration-token': { type: 'string', multiple: true },
      'login-limit-address': { type: 'string' },
      'login-limit-account': { type: 'string' },
      'register-limit-address': { type: 'string' },
      'register-limit-account': { type: 'string' },
      'log-level': { type: 'string' },
      'log-format': { type: 'string' },
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
  const logFormat = pick(values['log-format'], 'TRELLIS_LOG_FORMAT') ?? 'auto';
  if (!['auto', 'text', 'json'].includes(logFormat)) {
    throw new ConfigError(`--log-format must be auto, text or json, got "${logFormat}"`);
  }
  const host = pick(values.host, 'TRELLIS_HOST') ?? d.host;
  const rate = (flag: string | undefined, envName: string, fallback: Rate) => {
    const v = pick(flag, envName);
    return v === undefined ? fallback : parseRate(`--${envName}`, v);
  };
  const limits = d.authLimits;
  return {
    host,
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
    registration: registrationConfig(
      values['no-registration'] ? 'closed' : pick(values.registration, 'TRELLIS_REGISTRATION'),
      values['registration-token'] ??
        env.TRELLIS_REGISTRATION_TOKENS?.split(',').filter((t) => t !== '') ??
        [],
      host,
    ),
    authLimits: {
      loginPerAddress: rate(
        values['login-limit-address'],
        'TRELLIS_LOGIN_LIMIT_ADDRESS',
        limits.loginPerAddress,
      ),
      loginFailuresPerAccount: rate(
        values['login-limit-account'],
        'TRELLIS_LOGIN_LIMIT_ACCOUNT',
        limits.loginFailuresPerAccount,
      ),
      registerPerAddress: rate(
        values['register-limit-address'],
        'TRELLIS_REGISTER_LIMIT_ADDRESS',
        limits.registerPerAddress,
      ),
      registerPerAccount: rate(
        values['register-limit-account'],
        'TRELLIS_REGISTER_LIMIT_ACCOUNT',
        limits.registerPerAccount,
      ),
    },
    logLevel,
    logFormat:
      logFormat === 'auto'
        ? stdout.isTTY === true
          ? 'text'
          : 'json'
        : (logFormat as 'text' | 'json'),
    shutdownGraceMs: d.shutdownGraceMs,
  };
}
