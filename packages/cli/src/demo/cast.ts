/**
 * The people and devices of the story. Each device is a real `Client` of the SDK; everything it
 * emits is recorded, so that the narration reports what the clients saw, not what the script
 * hoped for.
 */
import { randomBytes } from 'node:crypto';
import { Client, MemoryStore, type ClientEvents, type ClientOptions } from '@trellis/client';
import type { EpochId, EpochNode } from '@trellis/dmls';
import type { Watched } from './waiting.js';

/** Quick settings: small KeyPackage stocks, short long-polls, short retries. */
const DEMO_CLIENT_SETTINGS: Partial<ClientOptions> = {
  // The resolution slot stays the client's own (500 ms): long enough, even on a busy machine,
  // for the first resolver's commit to reach the others before their turn.
  keyPackages: { target: 5, lowWater: 2 },
  // Only devices their users signed (cross-signing) are let into the room.
  trustPolicy: 'strict',
  syncTimeoutMs: 2_000,
  retry: { attempts: 4, baseDelayMs: 20, maxDelayMs: 200 },
};

/** The group as one device knew it when it noticed a fork. */
export interface ForkSnapshot {
  readonly roomId: string;
  readonly tips: readonly EpochId[];
  readonly epochs: readonly EpochNode[];
}

type Seen = { [K in keyof ClientEvents]: ClientEvents[K][] };

const RECORDED = [
  'message',
  'decryptionFailure',
  'commitRefused',
  'membership',
  'invite',
  'commit',
  'fork',
  'resolved',
  'welcome',
  'removed',
  'backup',
  'deviceTrust',
  'error',
] as const satisfies readonly (keyof ClientEvents)[];

export class DemoDevice {
  /** Events of the kinds in `RECORDED`, in the order they were emitted. */
  readonly seen: Partial<Seen> = {};
  readonly forks: ForkSnapshot[] = [];

  constructor(
    readonly client: Client,
    /** `alice/laptop` */
    readonly label: string,
  ) {
    for (const name of RECORDED) this.record(name);
    // Snapshot the graph at the moment of the fork: the resolution that follows soon replaces it.
    client.on('fork', ({ roomId, tips }) => {
      const epochs = client.room(roomId)?.group?.epochs() ?? [];
      this.forks.push({ roomId, tips, epochs });
    });
  }

  private record<K extends keyof ClientEvents>(name: K): void {
    this.client.on(name, (event) => {
      ((this.seen[name] ??= []) as ClientEvents[K][]).push(event);
    });
  }

  events<K extends keyof ClientEvents>(name: K): readonly ClientEvents[K][] {
    return this.seen[name] ?? [];
  }

  /** Text messages read in a room. */
  messages(roomId: string): ClientEvents['message'][] {
    return this.events('message').filter((m) => m.roomId === roomId && m.type === 'm.room.message');
  }

  /** Whether this device read a message with this body in the room. */
  read(roomId: string, body: string): ClientEvents['message'] | undefined {
    return this.messages(roomId).find((m) => m.content.body === body);
  }

  /** The room's epoch graph as this device knows it now. */
  epochs(roomId: string): readonly EpochNode[] {
    return this.client.room(roomId)?.group?.epochs() ?? [];
  }

  /** Members of the epoch this device sends in (identities, sorted). */
  members(roomId: string): string[] {
    return this.client.room(roomId)?.current()?.members ?? [];
  }
}

/** Every event a client emits: any of them may be what a wait is waiting for. */
const ACTIVITY = [...RECORDED, 'rejoin', 'metadata', 'backfill', 'sync', 'syncError'] as const;

export class Cast implements Watched {
  readonly devices: DemoDevice[] = [];
  private readonly labels = new Map<string, string>();
  private readonly passwords = new Map<string, string>();

  constructor(private readonly baseUrl: string) {}

  /** A new account, signed in on its first device. */
  async register(username: string, deviceName: string): Promise<DemoDevice> {
    const password = randomBytes(12).toString('base64url');
    this.passwords.set(username, password);
    return this.signIn('register', username, password, deviceName);
  }

  /** Another device of an existing account. */
  async login(username: string, deviceName: string): Promise<DemoDevice> {
    const password = this.passwords.get(username);
    if (password === undefined) throw new Error(`${username} has no account in this story`);
    return this.signIn('login', username, password, deviceName);
  }

  private async signIn(
    how: 'register' | 'login',
    username: string,
    password: string,
    deviceName: string,
  ): Promise<DemoDevice> {
    const client = await Client[how]({
      ...DEMO_CLIENT_SETTINGS,
      baseUrl: this.baseUrl,
      store: new MemoryStore(),
      username,
      password,
      deviceId: deviceName.toUpperCase(),
      displayName: `${username}'s ${deviceName}`,
    });
    const device = new DemoDevice(client, `${username}/${deviceName}`);
    this.labels.set(client.identity, device.label);
    this.devices.push(device);
    return device;
  }

  /** `alice/laptop` for `@alice:localhost|LAPTOP`; other identities as they are. */
  label(identity: string): string {
    return this.labels.get(identity) ?? identity;
  }

  /** `epoch 3 of alice/laptop`: epochs are named by number and creator, since forks repeat numbers. */
  epoch(id: EpochId): string {
    return `epoch ${id.epoch} of ${this.label(id.creator)}`;
  }

  /** What each device holds: per room its tips, epochs and members; how many events it saw. */
  describe(): string {
    return this.devices.map((d) => this.describeDevice(d)).join('\n');
  }

  private describeDevice(device: DemoDevice): string {
    const { client } = device;
    const seen = Object.entries(device.seen).map(([name, list]) => `${name} ${list.length}`);
    const lines = [`${device.label}: ${client.running ? '' : 'stopped; '}seen ${seen.join(', ')}`];
    for (const roomId of client.roomIds()) {
      const room = client.room(roomId);
      if (!room) continue;
      const tips = room.tips().map((t) => this.epoch(t));
      const members = device.members(roomId).map((m) => this.label(m));
      lines.push(
        `  ${roomId}: ${room.membership}, ${device.epochs(roomId).length} epochs, ` +
          `tips [${tips.join(', ')}], members [${members.join(', ')}], ` +
          `${room.settled() ? 'settled' : 'not settled'}, ${device.messages(roomId).length} read`,
      );
    }
    return lines.join('\n');
  }

  onActivity(wake: () => void): () => void {
    const stops = this.devices.flatMap((d) => ACTIVITY.map((name) => d.client.on(name, wake)));
    return () => stops.forEach((stop) => stop());
  }

  async stopAll(): Promise<void> {
    await Promise.allSettled(this.devices.map((d) => d.client.stop()));
  }
}
