/**
 * The Trellis client: one device of one user on a homeserver that speaks the Matrix
 * client-server API subset (ARCHITECTURE.md, "Client").
 *
 * It logs in and creates its device credential (`userId|deviceId`), keeps its KeyPackage stock
 * on the server, follows encrypted rooms (a dMLS group per room, kept in line with the room's
 * devices), sends and receives messages, joins groups from Welcomes, backs up every epoch it
 * holds, and restores history from the backup on a new device. Everything it must not lose is
 * written to its store before it acts on it.
 *
 * This class builds the parts and coordinates them: account.ts (getting a device),
 * syncAnswer.ts (processing sync), welcomes.ts, roomRegistry.ts and rooms.ts (the rooms),
 * roomMembership.ts (create, join, leave), clientBackup.ts (key backup and restore),
 * clientCrossSigning.ts (cross-signing and secret storage).
 */
import { cipherSuite, nodeCrypto, type CipherSuite, type CipherSuiteId } from '@trellis/mls';
import { deviceIdentity, signIn, storeNewAccount, uploadDeviceKeys } from './account.js';
import { KeyBackup, type BackupInfo, type EnableBackupOptions } from './backup.js';
import { ClientBackup } from './clientBackup.js';
import { ClientCrossSigning } from './clientCrossSigning.js';
import type { ClientCore } from './clientCore.js';
import {
  roomSettings,
  type ClientOptions,
  type CreateRoomOptions,
  type Credentials,
  type RestoreProgress,
  type RestoreReport,
} from './clientOptions.js';
import { DeviceKeyLookup } from './deviceKeyLookup.js';
import { DeviceDirectory, deviceKeys } from './devices.js';
import { DeviceTrust } from './deviceTrust.js';
import { ClientError } from './errors.js';
import { ErrorReports } from './errorReports.js';
import { Emitter, type ClientEvents } from './events.js';
import { MatrixHttp, type Session } from './http.js';
import { DEFAULT_RETRY } from './retry.js';
import { DEFAULT_STOCK, KeyPackageStock, type DeviceIdentity } from './keyPackages.js';
import type { GroupMetadata } from './metadata.js';
import { createRoom, joinRoom, leaveRoom } from './roomMembership.js';
import { RoomRegistry } from './roomRegistry.js';
import type { Room } from './rooms.js';
import type { AccountRecord, Store } from './store.js';
import { processSyncAnswer } from './syncAnswer.js';
import { SyncLoop } from './sync.js';
import { Welcomes } from './welcomes.js';

export {
  DEFAULT_SUITE,
  type ClientOptions,
  type CreateRoomOptions,
  type Credentials,
  type RestoreProgress,
  type RestoreReport,
} from './clientOptions.js';

export class Client {
  readonly userId: string;
  readonly deviceId: string;
  /** `userId|deviceId`, the identity of this device's MLS credential. */
  readonly identity: string;
  readonly http: MatrixHttp;
  readonly store: Store;
  readonly suite: CipherSuite;
  private readonly device: DeviceIdentity;
  private readonly events: Emitter<ClientEvents>;
  private readonly errors: ErrorReports;
  private readonly rooms: RoomRegistry;
  private readonly directory: DeviceDirectory;
  private readonly stock: KeyPackageStock;
  private readonly backup: ClientBackup;
  /**
   * Cross-signing and secret storage (clientCrossSigning.ts): set up under the key backup's
   * recovery key, recover on a new device, sign own devices, check others'.
   */
  readonly crossSigning: ClientCrossSigning;
  /** Which devices this client trusts, under `options.trustPolicy` (deviceTrust.ts). */
  readonly trust: DeviceTrust;
  private readonly sync: SyncLoop;
  private readonly core: ClientCore;
  private readonly clock: () => number;
  private lifetime = new AbortController();
  private started = false;

  private constructor(options: ClientOptions, account: AccountRecord) {
    this.store = options.store;
    this.userId = account.userId;
    this.deviceId = account.deviceId;
    this.identity = `${account.userId}|${account.deviceId}`;
    const provider = options.provider ?? nodeCrypto;
    this.suite = cipherSuite(account.suite as CipherSuiteId, provider);
    const settings = roomSettings(options);
    this.clock = settings.clock;
    this.events = new Emitter<ClientEvents>((error, name) => {
      if (name !== 'error')
        this.events.emit('error', { error, context: `a ${String(name)} listener` });
    });
    this.errors = new ErrorReports(this.events);
    const reportError = (error: unknown, context: string) => this.errors.report(error, context);
    this.http = new MatrixHttp({
      baseUrl: options.baseUrl,
      accessToken: account.accessToken,
      ...(options.retry && { retry: options.retry }),
      ...(options.fetch && { fetch: options.fetch }),
      ...(options.onRetry && { onRetry: options.onRetry }),
    });
    this.device = deviceIdentity(account, this.suite);
    const policy = options.trustPolicy ?? 'tofu';
    this.trust = new DeviceTrust(this.store, policy, this.events, this.identity);
    this.directory = new DeviceDirectory(
      this.store,
      this.http,
      this.suite,
      this.trust,
      this.events,
      (identity) =>
        reportError(
          new ClientError('BAD_RESPONSE', `the device list shows a new key for ${identity}`),
          'device keys',
        ),
    );
    this.stock = new KeyPackageStock(this.store, this.http, this.device, {
      ...DEFAULT_STOCK,
      ...options.keyPackages,
    });
    const keyBackup = new KeyBackup(this.store, this.http, (roomId, sessions) =>
      this.events.emit('backup', { roomId, sessions }),
    );
    this.rooms = new RoomRegistry({
      store: this.store,
      http: this.http,
      device: this.device,
      identity: this.identity,
      provider,
      ...settings,
      directory: this.directory,
      keyLookup: new DeviceKeyLookup(this.directory),
      localKeyPackage: () => this.stock.local(),
      backup: keyBackup,
      events: this.events,
      refreshDevices: () => this.directory.refreshDue(),
      backupChanged: () => this.backup.flushSoon(),
      reportError,
    });
    this.core = {
      userId: this.userId,
      suite: this.suite,
      store: this.store,
      http: this.http,
      events: this.events,
      directory: this.directory,
      stock: this.stock,
      rooms: this.rooms,
      running: () => this.started,
      refreshDevices: () => this.directory.refreshDue(),
      reportError,
    };
    this.backup = new ClientBackup(keyBackup, this.core);
    this.crossSigning = new ClientCrossSigning(this.store, this.http, this.userId, () =>
      deviceKeys(this.device),
    );
    const welcomes = new Welcomes(this.core);
    const answers = { core: this.core, welcomes, maxGapFill: options.maxGapFill ?? 1000 };
    this.sync = new SyncLoop(
      this.http,
      this.store,
      this.events,
      (body, since) => processSyncAnswer({ ...answers, prune: () => this.prune() }, body, since),
      {
        timeoutMs: options.syncTimeoutMs ?? 30_000,
        timelineLimit: options.timelineLimit ?? 100,
        retry: { ...DEFAULT_RETRY, attempts: Infinity, ...options.retry },
      },
    );
    this.rooms.load(reportError);
    // Device lists may have changed while this client was not running.
    for (const room of this.rooms.all()) this.directory.markDirty(room.joinedUsers());
    this.errors.loading = false;
  }

  // -------------------------------------------------------------------------------------------
  // Getting a device (account.ts)

  /** Registers a new account and this device on it. */
  static async register(options: ClientOptions & Credentials): Promise<Client> {
    return Client.bootstrap(options, await signIn(options, 'register'));
  }

  /** Logs in to an existing account as a new (or given) device. */
  static async login(options: ClientOptions & Credentials): Promise<Client> {
    return Client.bootstrap(options, await signIn(options, 'login'));
  }

  /** The device kept in `options.store` (a client that restarts). */
  static open(options: ClientOptions): Client {
    const account = options.store.account();
    if (!account) throw new ClientError('NOT_LOGGED_IN', 'the store holds no account');
    return new Client(options, account);
  }

  /** A new device: stored first, then its device keys and KeyPackages go to the server. */
  private static async bootstrap(options: ClientOptions, session: Session): Promise<Client> {
    const client = new Client(options, storeNewAccount(options, session));
    await uploadDeviceKeys(client.store, client.stock, client.device);
    return client;
  }

  // -------------------------------------------------------------------------------------------
  // Events

  on<K extends keyof ClientEvents>(
    name: K,
    listener: (event: ClientEvents[K]) => void,
  ): () => void {
    const off = this.events.on(name, listener);
    if (name === 'error') this.errors.tellEarly();
    return off;
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

  // -------------------------------------------------------------------------------------------
  // Running

  /** Starts syncing (and the background work: resolutions, uploads). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.errors.tellEarly();
    if (this.lifetime.signal.aborted) this.lifetime = new AbortController();
    this.http.defaultSignal = this.lifetime.signal;
    for (const room of this.rooms.all()) room.resume();
    void uploadDeviceKeys(this.store, this.stock, this.device).catch((error: unknown) =>
      this.errors.report(error, 'uploading device keys'),
    );
    this.sync.start(this.lifetime.signal);
    this.backup.flushSoon();
  }

  /** Stops syncing and every background task; requests in flight are abandoned. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    for (const room of this.rooms.all()) room.pause();
    this.lifetime.abort();
    await this.sync.stop();
    await this.backup.idle();
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

  /** Applies the retention policy to every room and drops old KeyPackages; returns the epochs pruned. */
  prune(): number {
    let pruned = 0;
    const now = this.clock();
    for (const room of this.rooms.all()) pruned += room.prune(now);
    this.stock.prune(Date.now());
    return pruned;
  }

  // -------------------------------------------------------------------------------------------
  // Rooms (roomMembership.ts, rooms.ts)

  roomIds(): string[] {
    return this.rooms.ids();
  }

  room(roomId: string): Room | undefined {
    return this.rooms.get(roomId);
  }

  /** Creates an encrypted room and its group (this device alone in epoch 0); returns its id. */
  async createRoom(options: CreateRoomOptions = {}): Promise<string> {
    return createRoom(this.core, options);
  }

  async invite(roomId: string, userId: string): Promise<void> {
    await this.http.invite(roomId, userId);
  }

  /** Joins a room; this device becomes a member of its group when a Welcome comes. */
  async joinRoom(roomId: string): Promise<void> {
    await joinRoom(this.core, roomId);
  }

  /** Leaves a room and deletes this device's group state for it. */
  async leaveRoom(roomId: string): Promise<void> {
    await leaveRoom(this.core, roomId);
  }

  /** Removes a user from a room; their devices leave the group with the next resolving commit. */
  async kick(roomId: string, userId: string, reason?: string): Promise<void> {
    await this.http.kick(roomId, userId, reason);
  }

  /** Sends an encrypted event; resolves with its event id. */
  async sendEvent(roomId: string, type: string, content: Record<string, unknown>): Promise<string> {
    return this.rooms.joined(roomId).send(type, content);
  }

  async sendText(roomId: string, body: string): Promise<string> {
    return this.sendEvent(roomId, 'm.room.message', { msgtype: 'm.text', body });
  }

  /** Changes the room's name and/or topic (a commit on the group context). */
  async setRoomMetadata(roomId: string, metadata: GroupMetadata): Promise<void> {
    await this.rooms.joined(roomId).setMetadata(metadata);
  }

  /** Commits a fresh update path for this device (and any resolution that is due). */
  async rotateKeys(roomId: string): Promise<void> {
    await this.rooms.joined(roomId).rotateKeys();
  }

  // -------------------------------------------------------------------------------------------
  // Key backup (clientBackup.ts)

  /**
   * Creates a key backup (a new recovery key, one given, or a passphrase) and backs up every
   * epoch this device holds in full; new epochs follow as they are created. The recovery key
   * is returned once.
   */
  async enableBackup(options: EnableBackupOptions = {}): Promise<BackupInfo> {
    return this.backup.enable(options);
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
    await this.backup.flush();
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
    return this.backup.restore(secret, onProgress);
  }
}
