/**
 * One encrypted room as this device sees it: the Matrix membership of the room, the dMLS group
 * of its devices, and the work that keeps the two in line. This class holds the room's state and
 * coordinates the modules that do the work:
 *
 * - roomRecord.ts: the Matrix side (memberships, suite, create event), as stored.
 * - roomIntake.ts: room events go to the group in timeline order; an event whose epoch is
 *   unknown is queued by dMLS and the commits it waits for are fetched by id (backfill.ts);
 *   roomOutcomes.ts tells listeners what came of each.
 * - roomDevices.ts and roomCommits.ts: when the group has several tips, or its members differ
 *   from the room's devices (every Trellis device of every joined user), this device sends a
 *   resolving commit after a back-off ranked on its leaf index (roomScheduler.ts), so that
 *   usually only one device does. A commit is stored (with its Welcome) before it is sent.
 * - roomMetadata.ts: name and topic, and this device's own changes until they hold.
 * - rejoin.ts, ownRejoin.ts: rejoin requests of other devices, and this device's own.
 *
 * Events this device cannot act on never stop the others: each is reported and skipped.
 */
import {
  DmlsError,
  DmlsGroup,
  ROOM_EVENT_TYPE,
  type EpochId,
  type EpochNode,
  type parseWelcome,
  type Received,
  type ResolutionPlan,
  type RoomEventContent,
} from '@trellis/dmls';
import type { CipherSuiteId, KeyPackage, KeyPackageBundle } from '@trellis/mls';
import { ClientError } from './errors.js';
import type { MessageSource } from './events.js';
import type { ClientEvent } from './http.js';
import { metadataExtension, TRELLIS_CAPABILITIES, type GroupMetadata } from './metadata.js';
import { OwnRejoin, rejoinDelay, rememberFormerGroup, wasInGroup } from './ownRejoin.js';
import { RejoinRequests } from './rejoin.js';
import { commitMetadata, commitNow, doDueWork, dueWork, type CommitHost } from './roomCommits.js';
import { newTxnId, type RoomContext } from './roomContext.js';
import { RoomDevices } from './roomDevices.js';
import { GroupStore } from './groupStore.js';
import { RoomIntake } from './roomIntake.js';
import { followMetadata, metadataToRedo } from './roomMetadata.js';
import { applyStateEvent, joinedUsers, type RoomRecord } from './roomRecord.js';
import { RoomScheduler } from './roomScheduler.js';

export type { RoomContext } from './roomContext.js';

export class Room {
  group: DmlsGroup | undefined;
  private readonly groupStore: GroupStore;
  private readonly scheduler: RoomScheduler;
  private readonly devices: RoomDevices;
  private readonly intake: RoomIntake;
  private readonly commits: CommitHost;
  private lastTips = '';
  /** Other devices' rejoin requests, and this device's own. */
  private readonly rejoins: RejoinRequests;
  private readonly ownRejoin: OwnRejoin;

  private constructor(
    private readonly ctx: RoomContext,
    readonly roomId: string,
    private readonly record: RoomRecord,
  ) {
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
    this.devices = new RoomDevices(ctx.directory, ctx.identity);
    this.commits = this.commitHost();
    this.scheduler = new RoomScheduler({
      roomId,
      slotMs: ctx.slotMs,
      due: () =>
        this.group && record.membership === 'join' ? dueWork(this.commits, this.group) : undefined,
      run: (expected) => doDueWork(this.commits, expected),
      reschedule: () => this.schedule(),
      reportError,
    });
    this.intake = new RoomIntake({
      ctx,
      roomId,
      record,
      rejoins: this.rejoins,
      currentGroup: () => this.group,
      persistGroup: () => this.persistGroup(),
      seal: (node) => this.seal(node),
      afterBatch: () => this.afterBatch(),
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
    return joinedUsers(this.record);
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
    return this.devices.of(this.record, this.currentNode()?.members);
  }

  /** Whether every joined user's device list is known (else the room's devices are not). */
  devicesKnown(): boolean {
    return this.devices.known(this.record);
  }

  private plan(): ResolutionPlan | 'wait' | undefined {
    if (!this.group || this.record.membership !== 'join' || !this.devicesKnown()) return undefined;
    return this.group.planResolution({
      devices: this.roomDevices(),
      rejoins: this.rejoinKeyPackages(),
    });
  }

  /** KeyPackages of the rejoin requests that count now. */
  private rejoinKeyPackages(): Map<string, KeyPackage> {
    return this.rejoins.view(this.suite, (u) => this.record.members[u] === 'join');
  }

  private save(): void {
    this.ctx.store.setRoom(this.roomId, JSON.stringify(this.record));
  }

  /** Writes the epochs that changed since the last write, and the group's own record. */
  private persistGroup(): void {
    if (this.group) this.groupStore.save(this.group);
  }

  // -------------------------------------------------------------------------------------------
  // Matrix state

  /** Applies a state event; returns whether the membership of someone changed. */
  applyState(event: ClientEvent): boolean {
    const change = applyStateEvent(this.record, event, this.ctx.device.userId);
    if (!change.changed) return false;
    const member = change.member;
    if (member && member.membership !== 'join') this.rejoins.forgetUser(member.userId);
    this.save();
    if (!member) return false;
    this.ctx.events.emit('membership', { roomId: this.roomId, ...member, eventId: event.event_id });
    return true;
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
    this.intake.handle(waited, 'live', 'live');
    this.afterBatch();
    return node;
  }

  /** Forgets the group and the room (this user left, or was removed): its secrets are deleted. */
  forget(): void {
    this.scheduler.stop();
    if (this.group) rememberFormerGroup(this.ctx.store, this.roomId);
    this.ownRejoin.forget();
    this.group = undefined;
    this.ctx.store.deleteRoom(this.roomId);
    this.ctx.store.scrub();
  }

  pause(): void {
    this.scheduler.pause();
  }

  resume(): void {
    this.scheduler.resume();
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

  /** Every epoch this device holds in full goes to the backup (after enabling it). */
  sealAll(): void {
    for (const node of this.group?.epochs() ?? []) this.seal(node);
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

  // -------------------------------------------------------------------------------------------
  // Receiving (roomIntake.ts)

  /**
   * Processes room events in timeline order (state events were applied by the caller). Ends
   * with a backfill when events wait for epochs this device does not know.
   */
  receive(events: readonly ClientEvent[], source: MessageSource): Promise<void> {
    return this.intake.receive(events, source);
  }

  /** Events waiting for device keys are tried again once the keys are fetched. */
  retryWaiting(): Promise<void> {
    return this.intake.retryWaiting();
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
    const current = this.currentNode();
    if (current) {
      const update = followMetadata(this.record, group, current);
      if (update.changed) this.save();
      if (update.metadata)
        this.ctx.events.emit('metadata', { roomId: this.roomId, ...update.metadata });
    }
    this.schedule();
  }

  // -------------------------------------------------------------------------------------------
  // Sending and committing (roomCommits.ts)

  /** Encrypts and sends an application message; resolves with its event id. */
  async send(type: string, content: Record<string, unknown>): Promise<string> {
    return this.scheduler.exclusive(async () => {
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
      this.deliverOwn(eventId, encrypted);
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
    if (plan.remove.length > 0 || plan.rank === 0) await commitNow(this.commits, false);
  }

  /** A commit with a fresh update path (and whatever resolution is due). */
  async rotateKeys(): Promise<void> {
    await this.scheduler.exclusive(async () => {
      await this.ctx.refreshDevices();
      await commitNow(this.commits, true);
    });
  }

  /** Sets the room's name and topic (fields left out are kept). */
  async setMetadata(change: GroupMetadata): Promise<void> {
    await this.scheduler.exclusive(async () => {
      await this.ctx.refreshDevices();
      await commitMetadata(this.commits, { ...this.record.metadata, ...change });
    });
  }

  /** This device's own event, read as the server will deliver it. */
  private deliverOwn(eventId: string, content: RoomEventContent): void {
    const event = { event_id: eventId, type: ROOM_EVENT_TYPE, sender: this.ctx.device.userId };
    this.intake.deliver({ ...event, content: { ...content } }, 'live');
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

  private commitHost(): CommitHost {
    return {
      ctx: this.ctx,
      roomId: this.roomId,
      requireGroup: () => this.requireGroup(),
      currentGroup: () => this.group,
      plan: () => this.plan(),
      rejoinKeyPackages: () => this.rejoinKeyPackages(),
      persistGroup: () => this.persistGroup(),
      deliverOwn: (eventId, content) => this.deliverOwn(eventId, content),
      afterBatch: () => this.afterBatch(),
      unusable: (identity, error) => {
        this.devices.markUnavailable(identity);
        this.ctx.reportError(error, `KeyPackage of ${identity}`);
      },
      metadataToRedo: () => metadataToRedo(this.record, this.group, this.currentNode()),
      metadataSent: (epoch, metadata) => {
        this.record.metadataIntent = { epoch, metadata };
        this.save();
      },
    };
  }

  /** Sets a timer for what this device should commit, if anything (roomCommits.ts `dueWork`). */
  schedule(): void {
    if (!this.scheduler.active) return;
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
    this.scheduler.schedule();
  }
}

function tipsKey(tips: readonly EpochNode[]): string {
  return tips
    .map((t) => t.key)
    .sort()
    .join(',');
}
