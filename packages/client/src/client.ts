/**
 * The Trellis client: one device of one user on a homeserver that speaks the Matrix
 * client-server API subset (ARCHITECTURE.md, "Client").
 *
 * It logs in and creates its device credential (`userId|deviceId`), keeps its KeyPackage stock
 * on the server, follows encrypted rooms (a dMLS group per room, kept in line with the room's
 * devices), sends and receives messages, joins groups from Welcomes, backs up every epoch it
 * holds, and restores history from the backup on a new device. Everything it must not lose is
 * written to its store before it acts on it.
 */
import {
  deviceOf,
  DmlsError,
  parseWelcome,
  ROOM_EVENT_TYPE,
  type RetentionPolicy,
} from '@trellis/dmls';
import {
  cipherSuite,
  nodeCrypto,
  parseAlgorithm,
  roomAlgorithm,
  WireFormat,
  type CipherSuite,
  type CipherSuiteId,
  type CryptoProvider,
  type EpochReader,
} from '@trellis/mls';
import { KeyBackup, type BackupInfo, type EnableBackupOptions } from './backup.js';
import { DeviceKeyLookup } from './deviceKeyLookup.js';
import { DeviceDirectory, deviceKeys } from './devices.js';
import { ClientError } from './errors.js';
import { Emitter, type ClientEvents } from './events.js';
import {
  MatrixHttp,
  parseClientEvent,
  DEFAULT_RETRY,
  type ClientEvent,
  type RetryInfo,
  type RetryPolicy,
  type Session,
} from './http.js';
import { arrayField, isObject, objectField, stringList, type Json } from './json.js';
import {
  DEFAULT_STOCK,
  KeyPackageStock,
  type DeviceIdentity,
  type StockPolicy,
} from './keyPackages.js';
import type { GroupMetadata } from './metadata.js';
import { Room, type RoomContext } from './rooms.js';
import type { AccountRecord, Store } from './store.js';
import { readHistory } from './backupHistory.js';
import { SyncLoop } from './sync.js';
import { eventsAfter, gapEvents } from './timeline.js';

export const DEFAULT_SUITE: CipherSuiteId = 1;

export interface ClientOptions {
  /** The homeserver, e.g. `http://127.0.0.1:8008`. */
  readonly baseUrl: string;
  readonly store: Store;
  /** Cipher suite of new rooms and of this device's KeyPackages (default 1). */
  readonly suite?: CipherSuiteId;
  readonly provider?: CryptoProvider;
  /** Time for the retention policy (default `Date.now`); tests move it forward. */
  readonly clock?: () => number;
  readonly retention?: RetentionPolicy;
  /** Back-off slot of resolving commits (default 500 ms). */
  readonly resolutionSlotMs?: number;
  readonly keyPackages?: Partial<StockPolicy>;
  /** Long-poll timeout of sync (default 30 s). */
  readonly syncTimeoutMs?: number;
  /** Timeline events per room and sync (default 100). */
  readonly timelineLimit?: number;
  /** Events fetched to fill a gap in a limited timeline (default 1000; 0: rely on backfill). */
  readonly maxGapFill?: number;
  /** Commit events fetched by id per backfill (default 1000). */
  readonly maxBackfill?: number;
  /** Devices added per commit (default 50: commits stay well under the 64 KiB event limit). */
  readonly maxAddsPerCommit?: number;
  /** Least time between two rejoin requests of this device in one room (default 10 min). */
  readonly rejoinIntervalMs?: number;
  /**
   * How long a device joined to a room, and never in its group, waits for a Welcome before it
   * asks to be added with a rejoin request (default 60 s).
   */
  readonly welcomeWaitMs?: number;
  readonly retry?: Partial<RetryPolicy>;
  readonly fetch?: typeof fetch;
  readonly onRetry?: (info: RetryInfo) => void;
}

export interface Credentials {
  readonly username: string;
  readonly password: string;
  /** Log in as this device (created if new); a fresh one by default. */
  readonly deviceId?: string;
  readonly displayName?: string;
}

export interface CreateRoomOptions extends GroupMetadata {
  /** Users to invite. */
  readonly invite?: readonly string[];
}

/**
 * How far a restore is: deriving and checking the key, then rebuilding the backed-up epochs
 * room by room, then reading each joined room's history with them.
 */
export interface RestoreProgress {
  readonly step: 'unlock' | 'restore' | 'history';
  readonly done: number;
  readonly total: number;
}

export interface RestoreReport {
  /** Epochs restored from the backup. */
  readonly epochs: number;
  /** History messages decrypted with them. */
  readonly messages: number;
  /** Encrypted messages neither this device nor the backup can read. */
  readonly unreadable: number;
}

const PENDING_WELCOMES = 'pending_welcomes';
const DEVICE_KEYS_UPLOADED = 'device_keys_uploaded';
/** How long a Welcome for a room not (yet) joined is kept. */
const PENDING_WELCOME_MS = 24 * 3600 * 1000;
/** History events read by one restore, per room. */
const MAX_HISTORY = 100_000;

interface PendingWelcome {
  sender: string;
  content: Json;
  at: number;
}

export class Client {
  readonly userId: string;
  readonly deviceId: string;
  /** `userId|deviceId`, the identity of this device's MLS credential. */
  readonly identity: string;
  readonly http: MatrixHttp;
  readonly store: Store;
  readonly suite: CipherSuite;
  private readonly events: Emitter<ClientEvents>;
  private readonly rooms = new Map<string, Room>();
  private readonly directory: DeviceDirectory;
  private readonly stock: KeyPackageStock;
  private readonly backup: KeyBackup;
  private readonly sync: SyncLoop;
  private readonly context: RoomContext;
  private readonly options: ClientOptions;
  private lifetime = new AbortController();
  private refreshing: Promise<void> | undefined;
  private backupFlush: Promise<void> | undefined;
  private started = false;
  /** Errors met while loading the store: told to the first `error` listener, or at `start`. */
  private readonly early: { error: unknown; context: string }[] = [];
  private loading = true;
  /** Welcomes processed during the current sync answer: room → the commit they came from. */
  private readonly catchUps = new Map<string, string>();

  private constructor(options: ClientOptions, account: AccountRecord) {
    this.options = options;
    this.store = options.store;
    this.userId = account.userId;
    this.deviceId = account.deviceId;
    this.identity = `${account.userId}|${account.deviceId}`;
    const provider = options.provider ?? nodeCrypto;
    this.suite = cipherSuite(account.suite as CipherSuiteId, provider);
    this.events = new Emitter<ClientEvents>((error, name) => {
      if (name !== 'error')
        this.events.emit('error', { error, context: `a ${String(name)} listener` });
    });
    this.http = new MatrixHttp({
      baseUrl: options.baseUrl,
      accessToken: account.accessToken,
      ...(options.retry && { retry: options.retry }),
      ...(options.fetch && { fetch: options.fetch }),
      ...(options.onRetry && { onRetry: options.onRetry }),
    });
    const device: DeviceIdentity = {
      userId: account.userId,
      deviceId: account.deviceId,
      suite: this.suite,
      signatureKeyPair: {
        publicKey: account.signaturePublicKey,
        privateKey: account.signaturePrivateKey,
      },
    };
    this.directory = new DeviceDirectory(this.store, this.http, this.suite, (identity) =>
      this.reportError(
        new ClientError('BAD_RESPONSE', `the device list shows a new key for ${identity}`),
        'device keys',
      ),
    );
    this.stock = new KeyPackageStock(this.store, this.http, device, {
      ...DEFAULT_STOCK,
      ...options.keyPackages,
    });
    this.backup = new KeyBackup(this.store, this.http, (roomId, sessions) =>
      this.events.emit('backup', { roomId, sessions }),
    );
    this.context = {
      store: this.store,
      http: this.http,
      device,
      identity: this.identity,
      provider,
      retention: options.retention,
      clock: options.clock ?? Date.now,
      slotMs: options.resolutionSlotMs ?? 500,
      maxBackfill: options.maxBackfill ?? 1000,
      maxAddsPerCommit: options.maxAddsPerCommit ?? 50,
      directory: this.directory,
      keyLookup: new DeviceKeyLookup(this.directory),
      rejoinIntervalMs: options.rejoinIntervalMs ?? 10 * 60_000,
      welcomeWaitMs: options.welcomeWaitMs ?? 60_000,
      localKeyPackage: () => this.stock.local(),
      backup: this.backup,
      events: this.events,
      refreshDevices: () => this.refreshDevices(),
      backupChanged: () => this.flushBackupSoon(),
      reportError: (error, context) => this.reportError(error, context),
    };
    this.sync = new SyncLoop(
      this.http,
      this.store,
      this.events,
      (body, since) => this.process(body, since),
      {
        timeoutMs: options.syncTimeoutMs ?? 30_000,
        timelineLimit: options.timelineLimit ?? 100,
        retry: { ...DEFAULT_RETRY, attempts: Infinity, ...options.retry },
      },
    );
    for (const { roomId, data } of this.store.rooms()) {
      try {
        this.rooms.set(roomId, Room.load(this.context, roomId, data));
      } catch (error) {
        this.reportError(error, `loading room ${roomId}`);
      }
    }
    // Device lists may have changed while this client was not running.
    for (const room of this.rooms.values()) this.directory.markDirty(room.joinedUsers());
    this.loading = false;
  }

  // -------------------------------------------------------------------------------------------
  // Getting a device

  /** Registers a new account and this device on it. */
  static register(options: ClientOptions & Credentials): Promise<Client> {
    return Client.signIn(options, 'register');
  }

  /** Logs in to an existing account as a new (or given) device. */
  static login(options: ClientOptions & Credentials): Promise<Client> {
    return Client.signIn(options, 'login');
  }

  private static async signIn(
    options: ClientOptions & Credentials,
    how: 'register' | 'login',
  ): Promise<Client> {
    const http = new MatrixHttp({
      baseUrl: options.baseUrl,
      ...(options.retry && { retry: options.retry }),
    });
    const session = await http[how](
      options.username,
      options.password,
      options.deviceId,
      options.displayName,
    );
    return Client.bootstrap(options, session);
  }

  /** The device kept in `options.store` (a client that restarts). */
  static open(options: ClientOptions): Client {
    const account = options.store.account();
    if (!account) throw new ClientError('NOT_LOGGED_IN', 'the store holds no account');
    return new Client(options, account);
  }

  /**
   * A new device: its signature key is generated and written to the store with the session
   * before anything is uploaded, then its device keys and KeyPackages go to the server.
   */
  private static async bootstrap(options: ClientOptions, session: Session): Promise<Client> {
    if (options.store.account()) {
      throw new ClientError('NOT_READY', 'the store already holds an account: use Client.open');
    }
    const suite = cipherSuite(options.suite ?? DEFAULT_SUITE, options.provider ?? nodeCrypto);
    const keys = suite.signature.generateKeyPair();
    options.store.setAccount({
      homeserver: options.baseUrl,
      userId: session.userId,
      deviceId: session.deviceId,
      accessToken: session.accessToken,
      suite: suite.id,
      signaturePublicKey: keys.publicKey,
      signaturePrivateKey: keys.privateKey,
    });
    const client = new Client(options, options.store.account()!);
    await client.uploadDeviceKeys();
    return client;
  }

  private async uploadDeviceKeys(): Promise<void> {
    if (this.store.value(DEVICE_KEYS_UPLOADED)) return;
    await this.stock.bootstrap(deviceKeys(this.context.device));
    this.store.setValue(DEVICE_KEYS_UPLOADED, '1');
  }

  // -------------------------------------------------------------------------------------------
  // Events

  on<K extends keyof ClientEvents>(
    name: K,
    listener: (event: ClientEvents[K]) => void,
  ): () => void {
    const off = this.events.on(name, listener);
    if (name === 'error') this.tellEarlyErrors();
    return off;
  }

  private tellEarlyErrors(): void {
    for (const e of this.early.splice(0)) this.reportError(e.error, e.context);
  }

  once<K extends keyof ClientEvents>(
    name: K,
    listener: (event: ClientEvents[K]) => void,
  ): () => void {
    return this.events.once(name, listener);
  }

  off<K extends keyof ClientEvents>(name: K, listener: (event: ClientEvents[K]) => void): void {
    this.events.off(name, listener);
  }

  private reportError(error: unknown, context: string): void {
    // While the store is loaded no listener can be there yet: told to the first one.
    if (this.loading) this.early.push({ error, context });
    else this.events.emit('error', { error, context });
  }

  // -------------------------------------------------------------------------------------------
  // Running

  /** Starts syncing (and the background work: resolutions, uploads). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.tellEarlyErrors();
    if (this.lifetime.signal.aborted) this.lifetime = new AbortController();
    this.http.defaultSignal = this.lifetime.signal;
    for (const room of this.rooms.values()) room.resume();
    void this.uploadDeviceKeys().catch((error: unknown) =>
      this.reportError(error, 'uploading device keys'),
    );
    this.sync.start(this.lifetime.signal);
    this.flushBackupSoon();
  }

  /** Stops syncing and every background task; requests in flight are abandoned. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    for (const room of this.rooms.values()) room.pause();
    this.lifetime.abort();
    await this.sync.stop();
    await this.backupFlush?.catch(() => undefined);
    this.http.defaultSignal = undefined;
  }

  /** Stops and closes the store. */
  async close(): Promise<void> {
    await this.stop();
    this.store.close();
  }

  get running(): boolean {
    return this.started;
  }

  /** One sync, processed (for tools and tests that drive the client step by step). */
  async syncOnce(timeoutMs = 0): Promise<void> {
    await this.sync.once(timeoutMs);
  }

  /** Logs this device out: the server deletes it, and the other devices remove it from groups. */
  async logout(): Promise<void> {
    await this.stop();
    await this.http.logout();
    this.http.accessToken = undefined;
  }

  // -------------------------------------------------------------------------------------------
  // Processing a sync answer

  private async process(body: Json, since: string | undefined): Promise<void> {
    const rooms = objectField(body, 'rooms', 'sync');
    const lists = objectField(body, 'device_lists', 'sync');
    this.directory.markDirty(stringList(lists.changed));
    this.directory.forget(stringList(lists.left));

    for (const [roomId, value] of Object.entries(objectField(rooms, 'invite', 'sync.rooms'))) {
      this.guard(`invite to ${roomId}`, () => this.processInvite(roomId, value));
    }

    // Membership and state first, so Welcomes and resolutions see who is in each room.
    const timelines: { room: Room; events: ClientEvent[]; limited: boolean; prevBatch?: string }[] =
      [];
    for (const [roomId, value] of Object.entries(objectField(rooms, 'join', 'sync.rooms'))) {
      this.guard(`room ${roomId}`, () => {
        const t = this.processRoomState(roomId, value, 'join');
        timelines.push(t);
      });
    }
    const left: { room: Room; events: ClientEvent[] }[] = [];
    for (const [roomId, value] of Object.entries(objectField(rooms, 'leave', 'sync.rooms'))) {
      if (!this.rooms.has(roomId)) continue;
      this.guard(`left room ${roomId}`, () => {
        const t = this.processRoomState(roomId, value, 'leave');
        left.push(t);
      });
    }

    await this.retryPendingWelcomes();
    const toDevice = arrayField(objectField(body, 'to_device', 'sync'), 'events', 'sync.to_device');
    for (const event of toDevice) {
      await this.guardAsync('to-device message', () => this.processToDevice(event));
    }

    const next = typeof body.next_batch === 'string' ? body.next_batch : undefined;
    for (const t of timelines) {
      await this.guardAsync(`timeline of ${t.room.roomId}`, async () => {
        const welcomedAt = this.catchUps.get(t.room.roomId);
        if (welcomedAt !== undefined && next !== undefined) {
          // Everything from the commit that added this device on, this answer's timeline included.
          this.catchUps.delete(t.room.roomId);
          await t.room.receive(
            await eventsAfter(this.http, t.room.roomId, welcomedAt, next),
            'live',
          );
          return;
        }
        const maxGap = this.options.maxGapFill ?? 1000;
        if (t.limited && since !== undefined && t.prevBatch !== undefined && maxGap > 0) {
          const gap = await gapEvents(this.http, t.room.roomId, t.prevBatch, since, maxGap);
          await t.room.receive(gap, 'live');
        }
        await t.room.receive(t.events, 'live');
      });
    }
    this.catchUps.clear();
    for (const t of left) {
      await this.guardAsync(`timeline of ${t.room.roomId}`, async () => {
        await t.room.receive(t.events, 'live');
      });
      if (t.room.membership !== 'join') {
        t.room.forget();
        this.rooms.delete(t.room.roomId);
      }
    }

    await this.guardAsync('KeyPackage stock', () =>
      this.stock.refill(
        isObject(body.device_one_time_keys_count)
          ? (body.device_one_time_keys_count as Record<string, number>)
          : {},
        Array.isArray(body.device_unused_fallback_key_types)
          ? stringList(body.device_unused_fallback_key_types)
          : undefined,
      ),
    );
    await this.guardAsync('device lists', () => this.refreshDevices());
    for (const room of this.rooms.values()) {
      await this.guardAsync(`waiting events of ${room.roomId}`, () => room.retryWaiting());
    }
    this.prune();
    for (const room of this.rooms.values()) room.schedule();
  }

  private guard(context: string, fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.reportError(error, context);
    }
  }

  private async guardAsync(context: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (error) {
      if (error instanceof ClientError && error.code === 'STOPPED') throw error;
      this.reportError(error, context);
    }
  }

  private roomFor(roomId: string, membership: string): Room {
    let room = this.rooms.get(roomId);
    if (!room) {
      room = Room.create(this.context, roomId, membership);
      if (!this.started) room.pause();
      this.rooms.set(roomId, room);
    }
    return room;
  }

  private processInvite(roomId: string, value: unknown): void {
    const before = this.rooms.get(roomId)?.membership;
    if (before === 'join') return;
    const room = this.roomFor(roomId, 'invite');
    const events = arrayField(
      objectField(isObject(value) ? value : {}, 'invite_state', 'invite'),
      'events',
      'invite_state',
    );
    let inviter: string | undefined;
    for (const raw of events) {
      if (!isObject(raw)) continue;
      // Stripped state has no event id; only what the room is matters here.
      const event = parseClientEvent({ event_id: '', ...raw });
      if (!event) continue;
      if (event.type === 'm.room.member' && event.state_key === this.userId) inviter = event.sender;
      if (event.type === 'm.room.encryption') room.applyState(event);
    }
    if (before !== 'invite') {
      room.setOwnMembership('invite');
      this.events.emit('invite', { roomId, inviter });
    }
  }

  /** Applies a room's state and the state events of its timeline; returns the timeline. */
  private processRoomState(
    roomId: string,
    value: unknown,
    section: 'join' | 'leave',
  ): { room: Room; events: ClientEvent[]; limited: boolean; prevBatch?: string } {
    const body = isObject(value) ? value : {};
    const wasJoined = this.rooms.get(roomId)?.membership === 'join';
    const room = this.roomFor(roomId, section);
    const state = arrayField(objectField(body, 'state', 'room'), 'events', 'room.state');
    const timeline = objectField(body, 'timeline', 'room');
    const events = arrayField(timeline, 'events', 'room.timeline')
      .map(parseClientEvent)
      .filter((e): e is ClientEvent => e !== undefined);
    const stateEvents = state
      .map(parseClientEvent)
      .filter((e): e is ClientEvent => e !== undefined);
    for (const event of [...stateEvents, ...events]) {
      if (event.state_key === undefined) continue;
      if (room.applyState(event) && event.type === 'm.room.member') {
        this.directory.markDirty([event.state_key]);
      }
    }
    if (section === 'join' && room.membership !== 'join') room.setOwnMembership('join');
    if (section === 'join' && !wasJoined) this.directory.markDirty(room.joinedUsers());
    return {
      room,
      events,
      limited: timeline.limited === true,
      ...(typeof timeline.prev_batch === 'string' && { prevBatch: timeline.prev_batch }),
    };
  }

  private async processToDevice(value: unknown): Promise<void> {
    if (!isObject(value) || value.type !== ROOM_EVENT_TYPE || !isObject(value.content)) return;
    const algorithm = value.content.algorithm;
    if (typeof algorithm !== 'string' || parseAlgorithm(algorithm)?.kind !== 'welcome') return;
    if (typeof value.sender !== 'string') return;
    await this.acceptWelcome(value.sender, value.content, Date.now());
  }

  /**
   * A Welcome is accepted only from a device of the room: its sender is the to-device sender's
   * device, that user is joined, and the device is in the user's device list. A Welcome for a
   * room this device has not joined yet is kept for a while.
   */
  private async acceptWelcome(sender: string, content: Json, receivedAt: number): Promise<boolean> {
    const welcome = parseWelcome(content);
    if (deviceOf(welcome.sender).userId !== sender) {
      throw new ClientError(
        'BAD_RESPONSE',
        `a Welcome from ${sender} claims to be from ${welcome.sender}`,
      );
    }
    const room = this.rooms.get(welcome.roomId);
    if (!room || room.membership !== 'join') {
      this.keepPendingWelcome({ sender, content, at: receivedAt });
      return false;
    }
    if (room.membershipOf(sender) !== 'join') {
      throw new ClientError(
        'BAD_RESPONSE',
        `a Welcome to ${welcome.roomId} from ${sender}, who is not in it`,
      );
    }
    if (!this.directory.isKnown(sender)) {
      this.directory.markDirty([sender]);
      await this.refreshDevices();
    }
    if (!this.directory.devicesOf(sender).some((d) => d.identity === welcome.sender)) {
      throw new ClientError(
        'BAD_RESPONSE',
        `a Welcome from ${welcome.sender}, not a device of the room`,
      );
    }
    if (welcome.message.wireFormat !== WireFormat.mls_welcome) return false;
    const found = this.stock.find(welcome.message.welcome.secrets.map((s) => s.newMember));
    if (!found) return false; // for other devices, or its KeyPackage was already used
    try {
      room.acceptWelcome(welcome, found.bundle);
    } catch (error) {
      if (!waitsForDevices(error)) throw error;
      // The tree names devices whose keys were not fetched yet (the lookup marked their users).
      await this.refreshDevices();
      try {
        room.acceptWelcome(welcome, found.bundle);
      } catch (again) {
        if (!waitsForDevices(again)) throw again;
        this.keepPendingWelcome({ sender, content, at: receivedAt });
        return false;
      }
    }
    this.stock.used(found.record);
    this.catchUps.set(room.roomId, welcome.commitEvent);
    return true;
  }

  private pendingWelcomes(): PendingWelcome[] {
    const text = this.store.value(PENDING_WELCOMES);
    return text === undefined ? [] : (JSON.parse(text) as PendingWelcome[]);
  }

  private keepPendingWelcome(welcome: PendingWelcome): void {
    const list = [...this.pendingWelcomes(), welcome].slice(-100);
    this.store.setValue(PENDING_WELCOMES, JSON.stringify(list));
  }

  private async retryPendingWelcomes(): Promise<void> {
    const list = this.pendingWelcomes();
    if (list.length === 0) return;
    this.store.setValue(PENDING_WELCOMES, undefined);
    const now = Date.now();
    for (const w of list) {
      if (w.at + PENDING_WELCOME_MS < now) continue;
      await this.guardAsync('pending Welcome', async () => {
        await this.acceptWelcome(w.sender, w.content, w.at);
      });
    }
  }

  /** Fetches out-of-date device lists (one fetch at a time); resolutions may follow. */
  private async refreshDevices(): Promise<void> {
    while (this.refreshing) await this.refreshing.catch(() => undefined);
    if (!this.directory.needsRefresh) return;
    const run = this.directory.refresh().then(() => undefined);
    this.refreshing = run;
    try {
      await run;
    } finally {
      this.refreshing = undefined;
    }
  }

  /** Applies the retention policy to every room and drops old KeyPackages; returns the epochs pruned. */
  prune(): number {
    let pruned = 0;
    const now = this.context.clock();
    for (const room of this.rooms.values()) pruned += room.prune(now);
    this.stock.prune(Date.now());
    return pruned;
  }

  // -------------------------------------------------------------------------------------------
  // Rooms

  roomIds(): string[] {
    return [...this.rooms.keys()];
  }

  room(roomId: string): Room | undefined {
    return this.rooms.get(roomId);
  }

  private joinedRoom(roomId: string): Room {
    const room = this.rooms.get(roomId);
    if (!room || room.membership !== 'join')
      throw new ClientError('UNKNOWN_ROOM', `not joined to ${roomId}`);
    return room;
  }

  /**
   * Creates an encrypted room (`m.room.encryption` with `m.dmls.v1.<suite>`) and its group, with
   * this device alone in epoch 0; this user's other devices and those of the users who join
   * are added by the resolving commits that follow. Name and topic live in the group context.
   */
  async createRoom(options: CreateRoomOptions = {}): Promise<string> {
    const roomId = await this.http.createRoom({
      preset: 'private_chat',
      ...(options.invite && { invite: options.invite }),
      initial_state: [
        {
          type: 'm.room.encryption',
          state_key: '',
          content: { algorithm: roomAlgorithm(this.suite.id) },
        },
      ],
    });
    const state = await this.http.roomState(roomId);
    const room = this.roomFor(roomId, 'join');
    for (const event of state) room.applyState(event);
    room.setOwnMembership('join');
    const create = state.find((e) => e.type === 'm.room.create' && e.state_key === '');
    if (!create) throw new ClientError('BAD_RESPONSE', `room ${roomId} has no create event`);
    room.createGroup(this.suite.id, create.event_id, {
      ...(options.name !== undefined && { name: options.name }),
      ...(options.topic !== undefined && { topic: options.topic }),
    });
    this.directory.markDirty(room.joinedUsers());
    void this.refreshDevices()
      .then(() => room.schedule())
      .catch((error: unknown) => this.reportError(error, 'device lists'));
    return roomId;
  }

  async invite(roomId: string, userId: string): Promise<void> {
    await this.http.invite(roomId, userId);
  }

  /** Joins a room; this device becomes a member of its group when a Welcome comes. */
  async joinRoom(roomId: string): Promise<void> {
    await this.http.join(roomId);
    const room = this.roomFor(roomId, 'join');
    room.setOwnMembership('join');
    for (const event of await this.http.roomState(roomId)) room.applyState(event);
    this.directory.markDirty(room.joinedUsers());
  }

  /** Leaves a room and deletes this device's group state for it. */
  async leaveRoom(roomId: string): Promise<void> {
    await this.http.leave(roomId);
    const room = this.rooms.get(roomId);
    room?.forget();
    this.rooms.delete(roomId);
  }

  /** Removes a user from a room; their devices leave the group with the next resolving commit. */
  async kick(roomId: string, userId: string, reason?: string): Promise<void> {
    await this.http.kick(roomId, userId, reason);
  }

  /** Sends an encrypted event; resolves with its event id. */
  async sendEvent(roomId: string, type: string, content: Record<string, unknown>): Promise<string> {
    return this.joinedRoom(roomId).send(type, content);
  }

  async sendText(roomId: string, body: string): Promise<string> {
    return this.sendEvent(roomId, 'm.room.message', { msgtype: 'm.text', body });
  }

  /** Changes the room's name and/or topic (a commit on the group context). */
  async setRoomMetadata(roomId: string, metadata: GroupMetadata): Promise<void> {
    await this.joinedRoom(roomId).setMetadata(metadata);
  }

  /** Commits a fresh update path for this device (and any resolution that is due). */
  async rotateKeys(roomId: string): Promise<void> {
    await this.joinedRoom(roomId).rotateKeys();
  }

  // -------------------------------------------------------------------------------------------
  // Key backup

  /**
   * Creates a key backup (a new recovery key, one given, or a passphrase) and backs up every
   * epoch this device holds in full; new epochs follow as they are created. The recovery key
   * is returned once.
   */
  async enableBackup(options: EnableBackupOptions = {}): Promise<BackupInfo> {
    const info = await this.backup.enable(options);
    for (const room of this.rooms.values()) room.sealAll();
    await this.flushBackup();
    return info;
  }

  /** Entries sealed for the backup and not uploaded yet. */
  get backupPending(): number {
    return this.backup.pending;
  }

  get backupVersion(): string | undefined {
    return this.backup.version;
  }

  /** Uploads what is sealed for the backup now. */
  async flushBackup(): Promise<void> {
    while (this.backupFlush) await this.backupFlush.catch(() => undefined);
    await this.backup.flush();
  }

  private flushBackupSoon(): void {
    if (this.backupFlush || !this.started || this.backup.pending === 0) return;
    this.backupFlush = this.backup
      .flush()
      .catch((error: unknown) => {
        if (!(error instanceof ClientError && error.code === 'STOPPED'))
          this.reportError(error, 'key backup upload');
      })
      .finally(() => {
        this.backupFlush = undefined;
      });
  }

  /**
   * Unlocks the server's backup with a recovery key or passphrase, then reads the history of
   * every joined room: messages of epochs this device does not hold are decrypted with the
   * backed-up keys and emitted as `message` events with source `backup`. The backup holds the
   * epochs this user's devices were members of, and nothing else. From now on this device
   * backs up its own epochs too.
   */
  async restoreBackup(
    secret: string,
    onProgress: (progress: RestoreProgress) => void = () => {},
  ): Promise<RestoreReport> {
    onProgress({ step: 'unlock', done: 0, total: 1 });
    const { version, key } = await this.backup.unlock(secret);
    const restored = await this.backup.download(version, key, (done, total) =>
      onProgress({ step: 'restore', done, total }),
    );
    for (const room of this.rooms.values()) room.sealAll();
    this.flushBackupSoon();
    let epochs = 0;
    let messages = 0;
    let unreadable = 0;
    for (const r of restored.values()) epochs += r.epochs.size;
    const joined = [...this.rooms.values()].filter((room) => room.membership === 'join');
    for (const [done, room] of joined.entries()) {
      onProgress({ step: 'history', done, total: joined.length });
      const readers = new Map<string, EpochReader>();
      for (const [sessionId, e] of restored.get(room.roomId)?.epochs ?? [])
        readers.set(sessionId, e.reader);
      const read = await readHistory(this.http, this.events, room, readers, MAX_HISTORY);
      messages += read.messages;
      unreadable += read.unreadable;
    }
    onProgress({ step: 'history', done: joined.length, total: joined.length });
    return { epochs, messages, unreadable };
  }
}

/** dMLS could not open a Welcome before the keys of the devices it names are fetched. */
function waitsForDevices(error: unknown): boolean {
  return error instanceof DmlsError && error.code === 'NOT_READY' && 'devices' in error;
}
