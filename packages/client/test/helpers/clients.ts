/** Clients for the tests: fast settings, a record of what each one saw, and waiting helpers. */
import {
  Client,
  MemoryStore,
  type ClientEvents,
  type ClientOptions,
  type Store,
} from '../../src/index.js';

/** Settings that keep the tests fast: small KeyPackage stocks, short back-off slots. */
export const FAST: Partial<ClientOptions> = {
  resolutionSlotMs: 60,
  keyPackages: { target: 5, lowWater: 2 },
  syncTimeoutMs: 2_000,
  retry: { attempts: 4, baseDelayMs: 20, maxDelayMs: 200 },
};

/** A client and what it emitted. */
export interface Device {
  readonly client: Client;
  readonly name: string;
  readonly messages: ClientEvents['message'][];
  readonly failures: ClientEvents['decryptionFailure'][];
  readonly errors: ClientEvents['error'][];
  readonly seen: { [K in keyof ClientEvents]?: ClientEvents[K][] };
  /** Bodies of `m.room.message` events read in a room. */
  bodies(roomId: string): string[];
}

export function watch(client: Client, name: string): Device {
  const device: Device = {
    client,
    name,
    messages: [],
    failures: [],
    errors: [],
    seen: {},
    bodies: (roomId) =>
      device.messages.filter((m) => m.roomId === roomId).map((m) => String(m.content.body)),
  };
  const record = <K extends keyof ClientEvents>(name: K) =>
    client.on(name, (e) => {
      (device.seen[name] ??= [] as never[]).push(e as never);
    });
  for (const name of [
    'commit',
    'fork',
    'resolved',
    'welcome',
    'removed',
    'metadata',
    'membership',
    'backfill',
    'invite',
    'syncError',
    'loggedOut',
    'backup',
    'commitRefused',
    'rejoin',
  ] as const) {
    record(name);
  }
  client.on('message', (m) => device.messages.push(m));
  client.on('decryptionFailure', (f) => device.failures.push(f));
  client.on('error', (e) => {
    device.errors.push(e);
    if (process.env.TRELLIS_TEST_DEBUG) console.error(name, e.context, e.error);
  });
  return device;
}

export async function register(
  url: string,
  username: string,
  options: Partial<ClientOptions> = {},
  store: Store = new MemoryStore(),
): Promise<Device> {
  const client = await Client.register({
    ...FAST,
    ...options,
    baseUrl: url,
    store,
    username,
    password: 'pw',
  });
  return watch(client, username);
}

export async function login(
  url: string,
  username: string,
  options: Partial<ClientOptions> = {},
  store: Store = new MemoryStore(),
): Promise<Device> {
  const client = await Client.login({
    ...FAST,
    ...options,
    baseUrl: url,
    store,
    username,
    password: 'pw',
  });
  return watch(client, `${username}/${client.deviceId}`);
}

/** Waits until `condition` holds, polling; fails with `what` after `timeoutMs`. */
export async function until(
  what: string,
  condition: () => boolean,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Every device has the room's group, one tip, the same one, and nothing left to commit. */
export function converged(roomId: string, devices: readonly Device[]): boolean {
  const tips = new Set<string>();
  for (const d of devices) {
    const room = d.client.room(roomId);
    if (!room || !room.settled()) return false;
    const t = room.tips();
    if (t.length !== 1) return false;
    tips.add(`${t[0]!.epoch} ${t[0]!.creator}`);
  }
  return tips.size === 1;
}

/** The members of the current epoch as each device sees it (sorted identities). */
export function membersOf(roomId: string, device: Device): string[] {
  return device.client.room(roomId)?.current()?.members ?? [];
}

export async function stopAll(devices: readonly Device[]): Promise<void> {
  await Promise.all(devices.map((d) => d.client.stop()));
}

/**
 * Devices to stop when a test file ends, whether its assertions passed or not (a running sync
 * loop would otherwise keep the test process alive after a failure).
 */
export class Devices {
  private readonly list: Device[] = [];

  add(device: Device): Device {
    this.list.push(device);
    return device;
  }

  async stopAll(): Promise<void> {
    await stopAll(this.list);
  }
}
