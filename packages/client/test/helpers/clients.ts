/** Clients for the tests: fast settings, a record of what each one saw, and waiting helpers. */
import {
  Client,
  MemoryStore,
  waitForProgress,
  type ClientEvents,
  type ClientOptions,
  type Store,
  type Watched,
} from '../../src/index.js';

/**
 * Settings that keep the tests fast: small KeyPackage stocks, short retries. The resolution
 * slot stays the client's own (500 ms): it is how long a device waits for an earlier-ranked
 * device's commit to arrive before committing itself, and a shorter one is outrun by a busy
 * machine, whose devices then commit at once, fork and resolve again and again.
 */
export const FAST: Partial<ClientOptions> = {
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
    'metadataReplaced',
    'membership',
    'backfill',
    'invite',
    'syncError',
    'loggedOut',
    'backup',
    'commitRefused',
    'rejoin',
    'deviceTrust',
    'masterKeyChanged',
  ] as const) {
    record(name);
  }
  client.on('message', (m) => device.messages.push(m));
  client.on('decryptionFailure', (f) => device.failures.push(f));
  client.on('error', (e) => {
    device.errors.push(e);
    if (process.env.TRELLIS_TEST_DEBUG) console.error(name, e.context, e.error);
  });
  // After the recorders: the client tells errors from before the first `error` listener to
  // that listener only.
  for (const name of EVENT_NAMES) client.on(name, wakeWaits);
  watched.add(device);
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

/** Every event a client emits: each one may make a condition hold, and wakes the waits. */
const EVENT_NAMES = [
  'message',
  'decryptionFailure',
  'commitRefused',
  'rejoin',
  'membership',
  'invite',
  'commit',
  'fork',
  'resolved',
  'welcome',
  'removed',
  'metadata',
  'metadataReplaced',
  'backfill',
  'backup',
  'sync',
  'syncError',
  'loggedOut',
  'deviceTrust',
  'masterKeyChanged',
  'error',
] as const satisfies readonly (keyof ClientEvents)[];

/** The devices this test file watches, until stopped: their state is what a failed wait prints. */
const watched = new Set<Device>();
/** Wakes the pending waits: called on every event of every watched client. */
const wakers = new Set<() => void>();

function wakeWaits(): void {
  for (const wake of [...wakers]) wake();
}

/** What one device holds now: per room its membership, tips, members and epochs; what it read. */
export function describeDevice(device: Device): string {
  const { client } = device;
  const lines = [
    `${device.name} (${client.identity}${client.running ? '' : ', stopped'}): ` +
      `${device.messages.length} messages read, ${device.failures.length} unreadable, ` +
      `${device.errors.length} errors` +
      (device.errors.length > 0
        ? ` (last: ${device.errors.at(-1)!.context}: ${String(device.errors.at(-1)!.error)})`
        : ''),
  ];
  for (const roomId of client.roomIds()) {
    const room = client.room(roomId);
    if (!room) continue;
    const tips = room
      .tips()
      .map((t) => `${t.epoch}/${t.creator}`)
      .join(', ');
    const current = room.current();
    lines.push(
      `  ${roomId}: ${room.membership}, tips [${tips}], ${room.settled() ? 'settled' : 'not settled'}, ` +
        `${room.group?.epochs().length ?? 0} epochs, members [${current?.members.join(', ') ?? ''}], ` +
        `${device.bodies(roomId).length} texts read`,
    );
  }
  const seen = Object.entries(device.seen)
    .filter(([name]) => name !== 'sync')
    .map(([name, list]) => `${name} ${list?.length ?? 0}`);
  if (seen.length > 0) lines.push(`  seen: ${seen.join(', ')}`);
  return lines.join('\n');
}

export interface UntilOptions {
  /**
   * How long the watched state may stay the same before the wait fails: a wait fails for want
   * of progress, not because a loaded machine made it slow.
   */
  quietMs?: number;
  /** More state to print on failure (and whose change counts as progress). */
  state?: () => string;
}

/**
 * Waits until `condition` holds, checking again whenever a watched client emits something. It
 * fails when nothing any watched device holds has changed for `quietMs` (or after a cap far
 * beyond any normal run), with what each device holds.
 */
export function until(
  what: string,
  condition: () => boolean,
  options: UntilOptions = {},
): Promise<void> {
  const devices: Watched = {
    describe: () =>
      [...[...watched].map(describeDevice), ...(options.state ? [options.state()] : [])].join('\n'),
    onActivity: (wake) => {
      wakers.add(wake);
      return () => wakers.delete(wake);
    },
  };
  return waitForProgress(what, condition, devices, {
    ...(options.quietMs !== undefined && { quietMs: options.quietMs }),
  });
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
  for (const d of devices) watched.delete(d);
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
