/**
 * What the tests that drive the server with matrix-js-sdk share: its loggers silenced, its
 * request timers made unable to keep the test process alive, and a wait driven by polling.
 * Importing this module applies the first two.
 */
import { createClient, type MatrixClient } from 'matrix-js-sdk';
import { logger } from 'matrix-js-sdk/lib/logger.js';

(logger as unknown as { setLevel(level: string): void }).setLevel('silent');
// The Rust crypto layer logs through the console; keep the test output readable.
const quiet = (..._args: unknown[]) => {};
console.debug = quiet;
console.info = quiet;
console.log = quiet;
console.warn = quiet;

// matrix-js-sdk arms a long timer per request (its local request timeout, up to 110 s) and does
// not clear it when the request ends; unref such timers so this test process can exit.
const armTimer = globalThis.setTimeout;
globalThis.setTimeout = ((
  callback: (...args: unknown[]) => void,
  ms?: number,
  ...args: unknown[]
) => {
  const timer = armTimer(callback, ms, ...args);
  if ((ms ?? 0) >= 30_000) timer.unref();
  return timer;
}) as typeof setTimeout;

/** Polls `probe` until it yields; the limit is far beyond what a busy machine needs. */
export async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  ms = 120_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A matrix-js-sdk client of `user`, logged in with its password, its Rust crypto on, synced. */
export async function signedInClient(
  baseUrl: string,
  user: string,
  password: string,
): Promise<MatrixClient> {
  const login = await createClient({ baseUrl }).loginWithPassword(user, password);
  const client = createClient({
    baseUrl,
    userId: login.user_id,
    deviceId: login.device_id,
    accessToken: login.access_token,
  });
  await client.initRustCrypto({ useIndexedDB: false });
  await client.startClient({ initialSyncLimit: 20 });
  await until('first sync', () => client.isInitialSyncComplete());
  return client;
}
