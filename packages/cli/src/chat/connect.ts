/**
 * Getting the device to chat as: the one kept in the store (a restart resumes it without
 * logging in), or a new one by logging in or registering, which the store then keeps.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { Client, type ClientOptions, type RetryInfo } from '@trellis/client';
import { SqliteStore, StoreLockedError } from '@trellis/client/sqlite';
import type { ChatOptions } from './args.js';
import { describeLoginError } from './errors.js';
import { startProgress } from './progress.js';
import { localpartOf } from './text.js';
import type { Terminal } from './terminal.js';

/** Why there is no client; the message says what to do. */
export class ConnectError extends Error {
  override readonly name = 'ConnectError';
}

export async function connect(options: ChatOptions, terminal: Terminal): Promise<Client> {
  const isNewFile = !existsSync(options.storePath);
  // The store holds this device's private keys: only its owner may read the folder.
  mkdirSync(dirname(options.storePath), { recursive: true, mode: 0o700 });
  let store: SqliteStore;
  try {
    store = new SqliteStore(options.storePath);
  } catch (error) {
    if (error instanceof StoreLockedError) throw new ConnectError(describeLocked(error));
    throw new ConnectError(
      `Could not open the store ${options.storePath}: ${(error as Error).message}. Check the path, or give another with --store PATH.`,
    );
  }
  const base: ClientOptions = {
    baseUrl: options.server,
    store,
    trustPolicy: options.trustPolicy,
    // A person is waiting: after an outage, syncing resumes within seconds, not a quarter minute.
    retry: { maxDelayMs: 5_000 },
    onRetry: (info: RetryInfo) => {
      if (info.attempt === 1 && !info.path.includes('/sync')) {
        const why =
          info.error.code === 'NETWORK'
            ? 'The server does not answer'
            : info.error.status === 429
              ? 'The server asks to slow down'
              : `The server has trouble (HTTP ${info.error.status ?? 'error'})`;
        terminal.print(`${why}; trying again…`);
      }
    },
  };

  const account = store.account();
  if (account) {
    const problem = accountMismatch(account, options);
    if (problem) {
      store.close();
      throw new ConnectError(problem);
    }
    return Client.open(base);
  }

  try {
    const password = options.password ?? (await askPassword(options, terminal));
    const credentials = {
      username: options.register ? localpartOf(options.user!) : options.user!,
      password,
      ...(options.deviceId !== undefined && { deviceId: options.deviceId }),
      displayName: 'trellis chat',
    };
    const progress = startProgress(terminal, () =>
      options.register ? `creating ${options.user}…` : `logging in as ${options.user}…`,
    );
    try {
      return options.register
        ? await Client.register({ ...base, ...credentials })
        : await Client.login({ ...base, ...credentials });
    } catch (error) {
      throw new ConnectError(describeLoginError(error, options.register));
    } finally {
      progress.stop();
    }
  } catch (error) {
    store.close();
    // A store made for a login that failed holds nothing: leave no empty file behind.
    if (isNewFile) {
      for (const suffix of ['', '-wal', '-shm', '.lock'])
        rmSync(`${options.storePath}${suffix}`, { force: true });
    }
    throw error;
  }
}

async function askPassword(options: ChatOptions, terminal: Terminal): Promise<string> {
  if (options.user === undefined) {
    throw new ConnectError(
      `The store ${options.storePath} holds no device yet: give --user NAME to log in (with --register to create the account).`,
    );
  }
  const password = await terminal.ask(`Password for ${options.user}: `, { hidden: true });
  if (password === undefined || password === '') {
    throw new ConnectError(
      'No password given: type it when asked, or pass --password or TRELLIS_PASSWORD.',
    );
  }
  return password;
}

/** Why the device in the store is not the one asked for, if it is not. */
function accountMismatch(
  account: { homeserver: string; userId: string; deviceId: string },
  options: ChatOptions,
): string | undefined {
  const where = `The store ${options.storePath} holds device ${account.deviceId} of ${account.userId} on ${account.homeserver}`;
  if (options.user !== undefined && localpartOf(options.user) !== localpartOf(account.userId)) {
    return `${where}, not ${options.user}: give another --store PATH for ${options.user}.`;
  }
  if (account.homeserver.replace(/\/+$/, '') !== options.server) {
    return `${where}, not ${options.server}: leave out --server, or give another --store PATH.`;
  }
  if (options.register) {
    return `${where} already: leave out --register to use it, or give another --store PATH for a new account.`;
  }
  if (options.deviceId !== undefined && options.deviceId !== account.deviceId) {
    return `${where}, not device ${options.deviceId}: leave out --device, or give another --store PATH.`;
  }
  return undefined;
}

/** One device runs in one process: the other one is named. */
function describeLocked(error: StoreLockedError): string {
  const holder = error.holder;
  const who =
    holder === undefined
      ? 'another process'
      : `process ${holder.pid}${holder.program ? ` (${holder.program})` : ''}`;
  return `The store ${error.path} is in use by ${who}: a device runs in one process at a time, or its two copies would fall out of step with its rooms. Quit the other trellis chat first, or give another --store PATH to sign in as another device.`;
}
