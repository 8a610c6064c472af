/**
 * One encrypted room as this device sees it: the Matrix membership of the room, the dMLS group
 * of its devices, and the work that keeps the two in line.
 *
 * - Receiving: room events go to the group in timeline order; an event whose epoch is unknown
 *   is queued by dMLS and the commits it waits for are fetched by id (backfill).
 * - Resolving: when the group has several tips, or its members differ from the room's devices
 *   (every Trellis device of every joined user), this device sends a resolving commit after a
 *   back-off ranked on its leaf index, so that usually only one device does.
 * - Sending: a commit is written to the store (with the Welcome it carries) before it is sent;
 *   the Welcome goes out only after the server stored the commit and named its event id.
 *
 * Events this device cannot act on never stop the others: each is reported and skipped.
 */
import { randomBytes } from 'node:crypto';
import {
  backoffMs,
  deviceOf,
  DmlsError,
  DmlsGroup,
  parseWelcome,
  ROOM_EVENT_TYPE,
  type EpochId,
  type EpochNode,
  type Received,
  type ResolutionPlan,
  type RetentionPolicy,
  type RoomEventContent,
} from '@trellis/dmls';
import {
  parseAlgorithm,
  type CipherSuiteId,
  type CryptoProvider,
  type KeyPackage,
  type KeyPackageBundle,
} from '@trellis/mls';
import type { KeyBackup } from './backup.js';
import type { DeviceKeyLookup } from './deviceKeyLookup.js';
import type { DeviceDirectory } from './devices.js';
import { ClientError } from './errors.js';
import type { ClientEvents, Emitter, MessageSource } from './events.js';
import { claimKeyPackages } from './foreignKeyPackages.js';
import { GroupStore } from './groupStore.js';
import type { ClientEvent, MatrixHttp } from './http.js';
import type { DeviceIdentity } from './keyPackages.js';
import {
  metadataOf,
  metadataExtension,
  sameMetadata,
  TRELLIS_CAPABILITIES,
  withMetadata,
  type GroupMetadata,
} from './metadata.js';
import {
  isRefusal,
  readOutgoing,
  sendWelcome,
  withoutCommitEvent,
  writeOutgoing,
  type OutgoingCommit,
} from './outgoing.js';
import { OwnRejoin, rejoinDelay, rememberFormerGroup, wasInGroup } from './ownRejoin.js';
import { RejoinRequests, REJOIN_EVENT_TYPE, type RejoinRecord } from './rejoin.js';
import type { Store } from './store.js';
import { isApplicationMessage, isCommit } from './timeline.js';

/** What a room needs from its client. */
export interface RoomContext {
  readonly store: Store;
  readonly http: MatrixHttp;
  readonly device: DeviceIdentity;
  /** `userId|deviceId` of this device. */
  readonly identity: string;
  readonly provider: CryptoProvider;
  readonly retention: RetentionPolicy | undefined;
  /** Time for the retention policy (ms). */
  readonly clock: () => number;
  /** Back-off slot for resolving commits (`backoffMs(rank, slot)`). */
  readonly slotMs: number;
  /** Most commit events fetched for one backfill. */
  readonly maxBackfill: number;
  /** Most devices one commit adds. */
  readonly maxAddsPerCommit: number;
  readonly directory: DeviceDirectory;
  /** Published device keys, for dMLS to check leaves against. */
  readonly keyLookup: DeviceKeyLookup;
  /** Least time between two rejoin requests of this device in one room. */
  readonly rejoinIntervalMs: number;
  /** How long a joined device without a group waits for a Welcome before asking to rejoin. */
  readonly welcomeWaitMs: number;
  /** A KeyPackage of this device for a rejoin request: stored, not uploaded. */
  localKeyPackage(): { ref: string; value: string; expiresAt: number };
  readonly backup: KeyBackup;
  readonly events: Emitter<ClientEvents>;
  /** Fetches device lists that are out of date. */
  refreshDevices(): Promise<void>;
  /** Something was sealed for the backup: upload it soon. */
  backupChanged(): void;
  reportError(error: unknown, context: string): void;
}

/** What is kept about a room besides its group. */
interface RoomRecord {
  suite?: number;
  /** This user's membership. */
  membership: string;
  members: Record<string, string>;
  createEventId?: string;
  metadata: GroupMetadata;
  /**
   * Metadata this device set, and the epoch its commit created: if that commit ends up on a
   * branch that a resolution merged away, the change is made again.
   */
  metadataIntent?: { epoch: string; metadata: GroupMetadata };
  /** Rejoin requests of other devices (rejoin.ts). */
  rejoins?: RejoinRecord;
}

/** How long a device whose KeyPackage could not be claimed is left out of resolutions. */
const UNAVAILABLE_MS = 60_000;
/** Event senders remembered for failure reports about events that waited in the queue. */
const MAX_SENDERS = 10_000;
/** Longest wait between attempts after background commits failed. */
const MAX_RETRY_MS = 30_000;

export function newTxnId(): string {
  return `trellis.${Date.now().toString(36)}.${randomBytes(8).toString('hex')}`;
}

export class Room {
  group: DmlsGroup | undefined;
  private record: RoomRecord;
  private readonly groupStore: GroupStore;
  private lock: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  /** No background commits while paused (the client is stopped) or after `forget`. */
  private paused = false;
  private forgotten = false;
  private failures = 0;
  private notBefore = 0;
  private lastTips = '';
  private readonly unavailable = new Map<string, number>();
  private readonly unfetchable = new Set<string>();
  /** Senders of events, and whether each is a commit, for reports on events that waited. */
  private readonly senders = new Map<string, { sender: string; commit: boolean }>();
  /** Failures reported (`eventId code`), so that an event tried again is not reported twice. */
  private readonly told = new Set<string>();
  /** Other devices' rejoin requests, and this device's own. */
  private readonly rejoins: RejoinRequests;
  private readonly ownRejoin: OwnRejoin;

  private constructor(
    private readonly ctx: RoomContext,
    readonly roomId: string,
    record: RoomRecord,
  ) {
    this.record = record;
    this.groupStore = new GroupStore(ctx.store, roomId);
    const reportError = (error: unknown, context: string) => ctx.reportError(error, context);
    this.rejoins = new RejoinRequests(
      { ...ctx, roomId, suite: ctx.device.suite, reportError },
      (record.rejoins ??= { requests: {}, done: [] }),
      () => this.save(),
    );
    this.ownRejoin = new OwnRejoin({
      ...ctx,
      roomId,
      suite: ctx.device.suite.id,
      intervalMs: ctx.rejoinIntervalMs,
      localKeyPackage: () => ctx.localKeyPackage(),
      reportError,
    });
  }

  /** A room seen for the first time. */
  static create(ctx: RoomContext, roomId: string, membership: string): Room {
    const room = new Room(ctx, roomId, { membership, members: {}, metadata: {} });
    room.save();
    return room;
  }

  /** A room as the store kept it, with its group. */
  static load(ctx: RoomContext, roomId: string, data: string): Room {
    const room = new Room(ctx, roomId, JSON.parse(data) as RoomRecord);
    try {
      room.group = room.groupStore.load(room.groupOptions());
    } catch (error) {
      // A group this version cannot read: the room carries on without it, and its device asks
      // to be added again at once.
      if (!room.groupStore.refused) throw error;
      ctx.reportError(error, `loading the group of ${roomId}`);
    }
    if (room.group) room.lastTips = tipsKey(room.group.tips());
    return room;
  }

  private groupOptions() {
    return {
      roomId: this.roomId,
      identity: this.ctx.identity,
      provider: this.ctx.provider,
      deviceKeys: this.ctx.keyLookup.keys,
      ...(this.ctx.retention && { retention: this.ctx.retention }),
    };
  }

  // -------------------------------------------------------------------------------------------
  // What the room is

  /** This user's Matrix membership. */
  get membership(): string {
    return this.record.membership;
  }

  /** The cipher suite of the room's `m.room.encryption`, if it is a Trellis room. */
  get suite(): CipherSuiteId | undefined {
    return this.record.suite as CipherSuiteId | undefined;
  }

  get metadata(): GroupMetadata {
    return this.record.metadata;
  }

  get createEventId(): string | undefined {
    return this.record.createEventId;
  }

  /** Users whose membership is `join`. */
  joinedUsers(): string[] {
    return Object.entries(this.record.members)
      .filter(([, m]) => m === 'join')
      .map(([u]) => u);
  }

  membershipOf(userId: string): string | undefined {
    return this.record.members[userId];
  }

  /** The tips of the group's epoch graph. */
  tips(): EpochId[] {
    return this.group?.tips().map((t) => t.id) ?? [];
  }

  /**
   * The epoch this device sends in (`key`: its commit event), and its members
   * (`userId|deviceId`); undefined without a group, or when no tip has this device.
   */
  current(): { epoch: EpochId; key: string; members: string[] } | undefined {
    const node = this.currentNode();
    return node && { epoch: node.id, key: node.key, members: [...node.members.keys()].sort() };
  }

  /** The group's current epoch, if this device holds a tip to send in. */
  private currentNode(): EpochNode | undefined {
    const group = this.group;
    if (!group?.tips().some((t) => t.held.kind === 'full')) return undefined;
    return group.current();
  }

  /**
   * Whether the group agrees with the room: one tip, the room's devices, nothing to redo, and
   * this device not waiting to be added again.
   */
  settled(): boolean {
    return (
      this.group !== undefined &&
      !this.group.needsRejoin &&
      this.devicesKnown() &&
      this.plan() === undefined
    );
  }

  /**
   * The room's devices: every Trellis device of every joined user (this one included), less
   * devices whose KeyPackages could not be claimed lately, unless they are members already.
   */
  roomDevices(): string[] {
    const out = new Set<string>();
    for (const userId of this.joinedUsers()) {
      for (const d of this.ctx.directory.devicesOf(userId)) out.add(d.identity);
    }
    if (this.record.membership === 'join') out.add(this.ctx.identity);
    const members = this.currentNode()?.members;
    const now = Date.now();
    for (const [identity, until] of this.unavailable) {
      if (until < now) this.unavailable.delete(identity);
      else if (!members?.has(identity)) out.delete(identity);
    }
    return [...out];
  }

  /** Whether every joined user's device list is known (else the room's devices are not). */
  devicesKnown(): boolean {
    return this.joinedUsers().every((u) => this.ctx.directory.isKnown(u));
  }

  private plan(): ResolutionPlan | 'wait' | undefined {
    if (!this.group || this.record.membership !== 'join' || !this.devicesKnown()) return undefined;
    return this.group.planResolution({
      devices: this.roomDevices(),
      rejoins: this.rejoinKeyPackages(),
    });
  }

  // -------------------------------------------------------------------------------------------
  // Persistence

  private save(): void {
    this.ctx.store.setRoom(this.roomId, JSON.stringify(this.record));
  }

  /** Writes the epochs that changed since the last write, and the group's own record. */
  private persistGroup(): void {
    if (this.group) this.groupStore.save(this.group);
  }

  /** Runs `fn` after every earlier call has finished: commits and sends of a room queue up. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  // -------------------------------------------------------------------------------------------
  // Matrix state

  /** Applies a state event; returns whether the membership of someone changed. */
  applyState(event: ClientEvent): boolean {
    if (event.type === 'm.room.member' && event.state_key !== undefined) {
      const membership =
        typeof event.content.membership === 'string' ? event.content.membership : 'leave';
      const userId = event.state_key;
      if (this.record.members[userId] === membership) return false;
      this.record.members[userId] = membership;
      if (membership !== 'join') this.rejoins.forgetUser(userId);
      if (userId === this.ctx.device.userId) this.record.membership = membership;
      this.save();
      this.ctx.events.emit('membership', {
        roomId: this.roomId,
        userId,
        membership,
        eventId: event.event_id,
      });
      return true;
    }
    if (event.type === 'm.room.encryption' && event.state_key === '') {
      const algorithm = event.content.algorithm;
      const parsed = typeof algorithm === 'string' ? parseAlgorithm(algorithm) : undefined;
      // The first algorithm stays: a later state event cannot switch a room to another suite.
      if (parsed?.kind === '' && this.record.suite === undefined) {
        this.record.suite = parsed.suite;
        this.save();
      }
    } else if (event.type === 'm.room.create' && event.state_key === '') {
      if (this.record.createEventId === undefined) {
        this.record.createEventId = event.event_id;
        this.save();
      }
    }
    return false;
  }

  /** Sets this user's own membership as the server just confirmed it (join, leave). */
  setOwnMembership(membership: string): void {
    this.record.members[this.ctx.device.userId] = membership;
    this.record.membership = membership;
    this.save();
  }

  // -------------------------------------------------------------------------------------------
  // The group

  /** Creates the group of a room this device just created: epoch 0, this device alone. */
  createGroup(suite: CipherSuiteId, createEventId: string, metadata: GroupMetadata): void {
    this.group = DmlsGroup.create({
      ...this.groupOptions(),
      suite,
      createEventId,
      signatureKeyPair: this.ctx.device.signatureKeyPair,
      now: Date.now(),
      extensions: [metadataExtension(metadata)],
      capabilities: TRELLIS_CAPABILITIES,
    });
    this.record.suite = suite;
    this.record.createEventId = createEventId;
    this.record.metadata = metadata;
    this.ctx.store.transaction(() => {
      this.save();
      this.persistGroup();
    });
    this.seal(this.group.current());
    this.lastTips = tipsKey(this.group.tips());
  }

  /**
   * Joins the group from a Welcome (checked by the caller: for this room, from a device of the
   * room). A device that already follows the group adds the Welcome's epoch to its graph, and
   * the events that waited for it are processed. Throws dMLS `NOT_READY` (with `devices`) when
   * the tree names devices whose keys are not known yet: fetch them, and try again.
   */
  acceptWelcome(welcome: ReturnType<typeof parseWelcome>, bundle: KeyPackageBundle): EpochNode {
    if (this.record.suite !== undefined && welcome.suite !== this.record.suite) {
      throw new ClientError(
        'NOT_ENCRYPTED',
        'the Welcome is for another cipher suite than the room',
      );
    }
    let waited: Received[] = [];
    if (this.group) {
      waited = this.group.addWelcome(welcome, bundle, this.ctx.clock());
    } else {
      this.group = DmlsGroup.fromWelcome({ ...this.groupOptions(), welcome, bundle });
    }
    const node = this.group.epoch(welcome.commitEvent) ?? this.group.current();
    this.persistGroup();
    this.seal(node);
    this.rejoins.settle(node);
    this.ctx.events.emit('welcome', {
      roomId: this.roomId,
      sender: welcome.sender,
      epoch: node.id,
    });
    this.handle(waited, 'live', 'live');
    this.afterBatch();
    return node;
  }

  /** Forgets the group and the room (this user left, or was removed): its secrets are deleted. */
  forget(): void {
    this.pause();
    this.forgotten = true;
    if (this.group) rememberFormerGroup(this.ctx.store, this.roomId);
    this.ownRejoin.forget();
    this.group = undefined;
    this.ctx.store.deleteRoom(this.roomId);
    this.ctx.store.scrub();
  }

  pause(): void {
    this.paused = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  resume(): void {
    this.paused = false;
    this.schedule();
  }

  /** Applies the retention policy; returns how many epochs gave up secrets. */
  prune(now: number): number {
    if (!this.group) return 0;
    const changed = this.group.prune(now);
    if (changed.length > 0) {
      this.persistGroup();
      this.ctx.store.scrub();
    }
    return changed.length;
  }

  // -------------------------------------------------------------------------------------------
  // Receiving

  /**
   * Processes room events in timeline order (state events were applied by the caller). Ends
   * with a backfill when events wait for epochs this device does not know.
   */
  async receive(events: readonly ClientEvent[], source: MessageSource): Promise<void> {
    for (const event of events) {
      if (event.type === REJOIN_EVENT_TYPE) this.rejoins.collect(event, this.suite);
      if (event.type !== ROOM_EVENT_TYPE) continue;
      this.rememberSender(event);
      if (!this.group) {
        // The commit that adds this device always comes before its Welcome: only messages
        // this device cannot read are worth a report.
        if (this.record.membership === 'join' && isApplicationMessage(event.content)) {
          this.ctx.events.emit('decryptionFailure', {
            roomId: this.roomId,
            eventId: event.event_id,
            sender: event.sender,
            code: 'NO_GROUP',
            reason: 'this device is not in the room’s group yet (waiting for a Welcome)',
          });
        }
        continue;
      }
      this.deliver(event, source);
    }
    this.afterBatch();
    await this.unblock();
  }

  /**
   * What events wait for: device keys to fetch (then the group tries them again), and commit
   * events to fetch by id (backfill).
   */
  private async unblock(): Promise<void> {
    await this.retryWaiting();
    if (this.group && this.group.missing().some((id) => !this.unfetchable.has(id))) {
      await this.backfill();
    }
  }

  /** Events waiting for device keys are tried again once the keys are fetched. */
  async retryWaiting(): Promise<void> {
    const group = this.group;
    if (!group || group.missingDevices().length === 0) return;
    await this.ctx.refreshDevices();
    if (this.group !== group) return;
    this.handle(group.retry(this.ctx.clock()), 'live', 'live');
    this.afterBatch();
  }

  /** One event into the group; its outcomes (and those of events it unblocked) reported. */
  private deliver(event: ClientEvent, source: MessageSource): void {
    const group = this.group!;
    try {
      const results = group.receive(
        { eventId: event.event_id, sender: event.sender, content: event.content },
        this.ctx.clock(),
      );
      this.handle(results, source);
    } catch (error) {
      this.ctx.reportError(error, `room ${this.roomId} event ${event.event_id}`);
    }
  }

  private rememberSender(event: ClientEvent): void {
    this.senders.set(event.event_id, { sender: event.sender, commit: isCommit(event.content) });
    if (this.senders.size > MAX_SENDERS) this.senders.delete(this.senders.keys().next().value!);
  }

  /**
   * Persists what the outcomes changed, then tells the listeners. The first outcome is of the
   * event delivered (from `source`); the others are of events that waited (`waited`).
   */
  private handle(
    results: readonly Received[],
    source: MessageSource,
    waited: MessageSource = 'backfill',
  ): void {
    if (results.length === 0) return;
    this.persistGroup();
    const { events } = this.ctx;
    const roomId = this.roomId;
    results.forEach((r, i) => {
      const from = i === 0 ? source : waited;
      switch (r.kind) {
        case 'message': {
          const sender = deviceOf(r.sender);
          events.emit('message', {
            roomId,
            eventId: r.eventId,
            sender: sender.userId,
            senderDevice: sender.deviceId,
            type: r.plaintext.type,
            content: r.plaintext.content,
            epoch: r.epoch,
            source: from,
          });
          break;
        }
        case 'commit': {
          const node = this.group?.epoch(r.eventId);
          if (node) this.seal(node);
          this.rejoins.settle(node);
          events.emit('commit', {
            roomId,
            eventId: r.eventId,
            epoch: r.epoch,
            base: r.base,
            resolves: r.resolves,
            added: r.added,
            removed: r.removed,
            mine: r.mine,
          });
          if (r.resolves.length > 0) {
            events.emit('resolved', {
              roomId,
              eventId: r.eventId,
              epoch: r.epoch,
              resolves: r.resolves,
              mine: r.mine,
            });
          }
          break;
        }
        case 'removed':
          events.emit('removed', { roomId, eventId: r.eventId, epoch: r.epoch });
          break;
        case 'failed': {
          const known = this.senders.get(r.eventId);
          // A commit on a branch this device is not in was not refused: nothing to tell. An
          // event tried again (parked ones are, after each Welcome) is told once per reason.
          if (known?.commit && r.code === 'NOT_A_MEMBER') break;
          const told = `${r.eventId} ${r.code}`;
          if (this.told.has(told)) break;
          this.told.add(told);
          if (this.told.size > MAX_SENDERS) this.told.delete(this.told.values().next().value!);
          events.emit(known?.commit ? 'commitRefused' : 'decryptionFailure', {
            roomId,
            eventId: r.eventId,
            sender: known?.sender ?? '',
            code: r.code,
            reason: r.reason,
          });
          break;
        }
        case 'queued':
        case 'duplicate':
          break;
      }
    });
  }

  private seal(node: EpochNode): void {
    if (this.ctx.backup.version === undefined) return;
    try {
      this.ctx.backup.seal(this.roomId, node);
      this.ctx.backupChanged();
    } catch (error) {
      this.ctx.reportError(error, `backing up epoch ${node.key} of ${this.roomId}`);
    }
  }

  /** Every epoch this device holds in full goes to the backup (after enabling it). */
  sealAll(): void {
    for (const node of this.group?.epochs() ?? []) this.seal(node);
  }

  /** After a batch of events: fork and metadata notices, then resolution if needed. */
  private afterBatch(): void {
    const group = this.group;
    if (!group) return;
    const tips = group.tips();
    const key = tipsKey(tips);
    if (tips.length > 1 && key !== this.lastTips) {
      this.ctx.events.emit('fork', { roomId: this.roomId, tips: tips.map((t) => t.id) });
    }
    this.lastTips = key;
    for (const tip of tips) this.rejoins.settle(tip);
    this.checkMetadata();
    this.schedule();
  }

  private checkMetadata(): void {
    const node = this.currentNode();
    if (!node || node.held.kind !== 'full') return;
    const metadata = metadataOf(node.held.state.context.extensions);
    const intent = this.record.metadataIntent;
    if (intent && (this.onChain(intent.epoch) || sameMetadata(intent.metadata, metadata))) {
      delete this.record.metadataIntent;
      this.save();
    }
    if (!sameMetadata(metadata, this.record.metadata)) {
      this.record.metadata = metadata;
      this.save();
      this.ctx.events.emit('metadata', { roomId: this.roomId, ...metadata });
    }
  }

  /** Whether the epoch `key` is on the chain of bases that leads to the current tip. */
  private onChain(key: string): boolean {
    const group = this.group;
    if (!group) return false;
    for (
      let n: EpochNode | undefined = this.currentNode();
      n;
      n = n.base ? group.epoch(n.base) : undefined
    ) {
      if (n.key === key) return true;
    }
    return false;
  }

  /** A metadata change of this device was merged away and the group has settled: redo it. */
  private metadataToRedo(): GroupMetadata | undefined {
    const intent = this.record.metadataIntent;
    if (!intent || !this.group || this.group.tips().length !== 1) return undefined;
    return this.onChain(intent.epoch) ? undefined : intent.metadata;
  }

  /** Fetches by id the commit events the group asks for (what waits, and the fork’s history). */
  private async backfill(): Promise<void> {
    const group = this.group;
    if (!group) return;
    let fetched = 0;
    const tried = new Set<string>();
    while (fetched < this.ctx.maxBackfill) {
      const missing = group.missing().filter((id) => !tried.has(id) && !this.unfetchable.has(id));
      if (missing.length === 0) break;
      for (const id of missing) {
        tried.add(id);
        let event: ClientEvent;
        try {
          event = await this.ctx.http.getEvent(this.roomId, id);
        } catch (error) {
          // Not visible to this user (or not there): asking again will not help.
          if (error instanceof ClientError && (error.status === 404 || error.status === 403)) {
            this.unfetchable.add(id);
            group.unavailable(id);
            continue;
          }
          throw error;
        }
        fetched++;
        if (this.group !== group) continue;
        if (event.type !== ROOM_EVENT_TYPE) {
          this.unfetchable.add(id); // not a commit (the room's create event, say)
          group.unavailable(id);
          continue;
        }
        this.rememberSender(event);
        this.deliver(event, 'backfill');
      }
    }
    if (fetched > 0) {
      this.ctx.events.emit('backfill', { roomId: this.roomId, fetched });
      this.afterBatch();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Sending

  /** Encrypts and sends an application message; resolves with its event id. */
  async send(type: string, content: Record<string, unknown>): Promise<string> {
    return this.exclusive(async () => {
      await this.prepareToSend();
      const group = this.requireGroup();
      let encrypted: RoomEventContent;
      try {
        encrypted = group.encrypt(type, content);
      } catch (error) {
        if (error instanceof DmlsError) {
          throw new ClientError('NOT_READY', error.message, { cause: error });
        }
        throw error;
      }
      this.persistGroup();
      const eventId = await this.ctx.http.sendEvent(
        this.roomId,
        ROOM_EVENT_TYPE,
        newTxnId(),
        encrypted,
      );
      // Read the echo now rather than when sync brings it: the event is then known as seen.
      this.deliver(this.echo(eventId, encrypted), 'live');
      this.afterBatch();
      return eventId;
    });
  }

  /**
   * Before a message goes out: a device that left the room must not be able to read it, so
   * pending removals are committed first whatever this device's rank; when this device is
   * first in line for other work, it does it first too.
   */
  private async prepareToSend(): Promise<void> {
    await this.ctx.refreshDevices();
    const group = this.requireGroup();
    const plan = this.plan();
    if (plan === 'wait') {
      throw new ClientError('NOT_READY', 'this device is not a member of the room’s current epoch');
    }
    if (!plan || group.commitInFlight) return;
    if (plan.remove.length > 0 || plan.rank === 0) await this.commitNow(false);
  }

  /** A commit with a fresh update path (and whatever resolution is due). */
  async rotateKeys(): Promise<void> {
    await this.exclusive(async () => {
      await this.ctx.refreshDevices();
      await this.commitNow(true);
    });
  }

  /** Sets the room's name and topic (fields left out are kept). */
  async setMetadata(change: GroupMetadata): Promise<void> {
    await this.exclusive(async () => {
      await this.ctx.refreshDevices();
      const metadata = { ...this.record.metadata, ...change };
      const created = await this.commitNow(true, metadata);
      if (created) {
        this.record.metadataIntent = { epoch: created.key, metadata };
        this.save();
      }
    });
  }

  /** This device's own event as the server will deliver it. */
  private echo(eventId: string, content: RoomEventContent): ClientEvent {
    return {
      event_id: eventId,
      type: ROOM_EVENT_TYPE,
      sender: this.ctx.device.userId,
      content: { ...content },
    };
  }

  private requireGroup(): DmlsGroup {
    if (this.record.membership !== 'join') {
      throw new ClientError('UNKNOWN_ROOM', `not joined to ${this.roomId}`);
    }
    if (!this.group) {
      throw new ClientError('NOT_READY', `no group for ${this.roomId} yet (waiting for a Welcome)`);
    }
    return this.group;
  }

  /**
   * Claims KeyPackages for the devices to add, makes the commit on what the group is after
   * the claim, stores it, sends it, and sends its Welcome. `force`: commit even when there is
   * no resolution to make (a key update). Returns the epoch the commit created.
   */
  private async commitNow(
    force: boolean,
    metadata?: GroupMetadata,
  ): Promise<EpochNode | undefined> {
    const group = this.requireGroup();
    if (group.commitInFlight) {
      throw new ClientError('NOT_READY', 'a commit of this device is still on its way');
    }
    const first = this.plan();
    if (first === 'wait') throw new ClientError('NOT_READY', 'another device must resolve first');
    // A commit grows by about 400 bytes per device it adds, and Matrix events are limited to
    // 64 KiB: larger additions go in several commits, one after the other. A device that asked
    // to rejoin is added with the KeyPackage of its request; the others' are claimed.
    const toAdd = first?.add.slice(0, this.ctx.maxAddsPerCommit) ?? [];
    const toClaim = toAdd.filter((id) => !this.rejoinKeyPackages().has(id));
    const keyPackages: Map<string, KeyPackage> =
      toClaim.length > 0 ? await this.claim(toClaim) : new Map();
    // The group may have moved on while the claim was in flight: plan on what it is now.
    const plan = this.plan();
    if (plan === 'wait') throw new ClientError('NOT_READY', 'another device must resolve first');
    for (const [id, kp] of this.rejoinKeyPackages()) keyPackages.set(id, kp);
    const add = (plan?.add ?? [])
      .filter((id) => keyPackages.has(id))
      .slice(0, this.ctx.maxAddsPerCommit);
    const useful =
      plan !== undefined &&
      (plan.resolves.length > 0 || plan.remove.length > 0 || add.length > 0 || plan.selfUpdate);
    if (!force && metadata === undefined && !useful) return undefined;
    const base = group.epoch(plan?.baseKey ?? group.current().key);
    if (!base || base.held.kind !== 'full') {
      throw new ClientError('NOT_READY', 'this device cannot commit on the current epoch');
    }
    const made = group.commit(
      {
        baseKey: base.key,
        resolveKeys: plan?.resolveKeys ?? [],
        remove: plan?.remove ?? [],
        add,
      },
      keyPackages,
      metadata ? { groupContextExtensions: withMetadata(base.held.state, metadata) } : {},
    );
    const welcome = made.added.length > 0 ? made.welcomeFor('') : undefined;
    const outgoing: OutgoingCommit = {
      txnId: newTxnId(),
      content: made.content,
      added: made.added,
      ...(welcome && { welcome: withoutCommitEvent(welcome) }),
    };
    this.ctx.store.transaction(() => {
      this.persistGroup();
      this.setOutgoing(outgoing);
    });
    const eventId = await this.deliverCommit(outgoing);
    return this.group?.epochs().find((n) => n.mine && n.commitEvent === eventId);
  }

  private outgoing(): OutgoingCommit | undefined {
    return readOutgoing(this.ctx.store, this.roomId);
  }

  private setOutgoing(outgoing: OutgoingCommit | undefined): void {
    writeOutgoing(this.ctx.store, this.roomId, outgoing);
  }

  /**
   * Sends a stored commit (again: the transaction id makes a repeat harmless), adopts it, and
   * sends its Welcome. A refusal by the server discards the commit; a failure that leaves it
   * unknown whether the server stored it keeps it for the next attempt.
   */
  private async deliverCommit(outgoing: OutgoingCommit): Promise<string> {
    const group = this.requireGroup();
    let eventId = outgoing.eventId;
    if (eventId === undefined) {
      try {
        eventId = await this.ctx.http.sendEvent(
          this.roomId,
          ROOM_EVENT_TYPE,
          outgoing.txnId,
          outgoing.content,
        );
      } catch (error) {
        if (isRefusal(error)) {
          group.discardCommit(outgoing.content);
          this.ctx.store.transaction(() => {
            this.persistGroup();
            this.setOutgoing(undefined);
          });
        }
        throw error;
      }
      // Adopted now (it is stored); a crash before the next line only repeats the send,
      // which the transaction id turns into the same event.
      this.deliver(this.echo(eventId, outgoing.content), 'live');
      this.setOutgoing(outgoing.welcome ? { ...outgoing, eventId } : undefined);
    }
    if (outgoing.welcome) {
      try {
        await sendWelcome(this.ctx.http, { ...outgoing, welcome: outgoing.welcome }, eventId);
      } catch (error) {
        // Refused (a Welcome carries the ratchet tree, and grows with the group past what the
        // server takes): trying again will not help; the error says which devices it leaves out.
        if (isRefusal(error)) this.setOutgoing(undefined);
        throw error;
      }
      this.setOutgoing(undefined);
    }
    this.afterBatch();
    return eventId;
  }

  /**
   * Claims one KeyPackage per device and checks each (foreignKeyPackages.ts). Devices without
   * a usable one are left out of resolutions for a while.
   */
  private async claim(identities: readonly string[]): Promise<Map<string, KeyPackage>> {
    const group = this.requireGroup();
    const suite = this.ctx.device.suite;
    if (suite.id !== group.suite) {
      throw new ClientError('NOT_ENCRYPTED', 'the room uses another cipher suite');
    }
    return claimKeyPackages(
      {
        http: this.ctx.http,
        suite,
        pinnedKey: (identity) => this.ctx.directory.pinnedKey(identity),
        unusable: (identity, error) => {
          this.unavailable.set(identity, Date.now() + UNAVAILABLE_MS);
          this.ctx.reportError(error, `KeyPackage of ${identity}`);
        },
      },
      identities,
    );
  }

  /** KeyPackages of the rejoin requests that count now. */
  private rejoinKeyPackages(): Map<string, KeyPackage> {
    return this.rejoins.view(this.suite, (u) => this.record.members[u] === 'join');
  }

  // -------------------------------------------------------------------------------------------
  // Resolution scheduling

  /**
   * Sets a timer for what this device should commit, if anything: a stored commit not yet
   * sent (at once), a resolution (after `rank` back-off slots), a metadata change to redo.
   */
  schedule(): void {
    if (this.paused || this.forgotten) return;
    this.ownRejoin.check(
      this.record.membership === 'join'
        ? rejoinDelay(
            this.group,
            this.ctx.identity,
            this.groupStore.refused || wasInGroup(this.ctx.store, this.roomId),
            this.ctx.welcomeWaitMs,
          )
        : undefined,
      this.suite,
    );
    if (this.busy || this.timer || !this.group) return;
    if (this.record.membership !== 'join') return;
    let delay: number;
    let expected: string | undefined;
    if (this.outgoing()) {
      delay = 0;
    } else {
      const plan = this.plan();
      if (plan && plan !== 'wait') {
        if (this.group.commitInFlight) return;
        delay = backoffMs(plan.rank, this.ctx.slotMs);
        expected = planKey(plan);
      } else if (plan === undefined && this.metadataToRedo()) {
        delay = this.ctx.slotMs;
      } else {
        return;
      }
    }
    delay = Math.max(delay, this.notBefore - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.tick(expected);
    }, delay);
  }

  private async tick(expected: string | undefined): Promise<void> {
    if (this.paused || this.forgotten) return;
    this.busy = true;
    try {
      await this.exclusive(async () => {
        const outgoing = this.outgoing();
        if (outgoing) {
          await this.deliverCommit(outgoing);
          return;
        }
        await this.ctx.refreshDevices();
        const plan = this.plan();
        if (plan && plan !== 'wait') {
          // Something changed while waiting: the next `schedule` waits again for the new plan.
          if (expected !== undefined && planKey(plan) !== expected) return;
          await this.commitNow(false);
        } else if (plan === undefined) {
          const redo = this.metadataToRedo();
          if (redo) {
            const created = await this.commitNow(true, redo);
            if (created) {
              this.record.metadataIntent = { epoch: created.key, metadata: redo };
              this.save();
            }
          }
        }
      });
      this.failures = 0;
      this.notBefore = 0;
    } catch (error) {
      if (!(error instanceof ClientError && error.code === 'STOPPED')) {
        this.ctx.reportError(error, `committing in ${this.roomId}`);
      }
      this.failures++;
      this.notBefore =
        Date.now() +
        Math.min(
          MAX_RETRY_MS,
          this.ctx.slotMs * 2 ** this.failures + Math.random() * this.ctx.slotMs,
        );
    } finally {
      this.busy = false;
      this.schedule();
    }
  }
}

function tipsKey(tips: readonly EpochNode[]): string {
  return tips
    .map((t) => t.key)
    .sort()
    .join(',');
}

function planKey(plan: ResolutionPlan): string {
  return JSON.stringify([plan.baseKey, plan.resolveKeys, plan.remove, plan.add, plan.selfUpdate]);
}
