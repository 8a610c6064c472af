/**
 * One encrypted room as this device sees it: the Matrix membership of the room, the dMLS group
 * of its devices, and the work that keeps the two in line. This class is the room's public view
 * and coordinates the modules that do the work:
 *
 * - roomState.ts: the record (roomRecord.ts), the group, the room's devices (roomDevices.ts)
 *   and the resolution plan derived from them.
 * - roomGroup.ts: the group, created with the room or joined from a Welcome.
 * - roomIntake.ts: room events go to the group in timeline order; an event whose epoch is
 *   unknown is queued by dMLS and the commits it waits for are fetched by id (backfill.ts);
 *   roomOutcomes.ts tells listeners what came of each.
 * - roomCommits.ts, roomScheduler.ts: when the group has several tips, or its members differ
 *   from the room's devices (every Trellis device of every joined user), this device sends a
 *   resolving commit after a back-off ranked on its leaf index, so that usually only one device
 *   does. A commit is stored (with its Welcome) before it is sent. roomSend.ts sends messages.
 * - roomMetadata.ts: name and topic, and this device's own changes until they hold.
 * - rejoin.ts, ownRejoin.ts: rejoin requests of other devices, and this device's own.
 *
 * Events this device cannot act on never stop the others: each is reported and skipped.
 */
import {
  DmlsGroup,
  ROOM_EVENT_TYPE,
  type EpochId,
  type EpochNode,
  type parseWelcome,
  type RoomEventContent,
} from '@trellis/dmls';
import type { CipherSuiteId, KeyPackageBundle } from '@trellis/mls';
import type { ClientEvent } from './clientEvent.js';
import type { MessageSource } from './events.js';
import type { GroupMetadata } from './metadata.js';
import { OwnRejoin, rejoinDelay, rememberFormerGroup, wasInGroup } from './ownRejoin.js';
import { commitMetadata, commitNow, doDueWork, dueWork } from './roomCommits.js';
import type { RoomContext } from './roomContext.js';
import { createGroup, joinGroup } from './roomGroup.js';
import { RoomIntake } from './roomIntake.js';
import { tellFork, tellMetadata, tipsKey } from './roomOutcomes.js';
import { followMetadata } from './roomMetadata.js';
import { joinedUsers, type RoomRecord } from './roomRecord.js';
import { RoomScheduler } from './roomScheduler.js';
import { sendMessage } from './roomSend.js';
import { RoomState } from './roomState.js';

export class Room {
  private readonly state: RoomState;
  private readonly intake: RoomIntake;
  private readonly scheduler: RoomScheduler;
  /** This device's own rejoin request (other devices' are in the state). */
  private readonly ownRejoin: OwnRejoin;
  /** The tips after the last batch, so a fork is told once. */
  private lastTips = '';

  private constructor(
    private readonly ctx: RoomContext,
    readonly roomId: string,
    record: RoomRecord,
  ) {
    const state = new RoomState(ctx, roomId, record, {
      deliverOwn: (eventId, content) => this.deliverOwn(eventId, content),
      afterBatch: () => this.afterBatch(),
    });
    this.state = state;
    this.intake = new RoomIntake(state);
    const reportError = (error: unknown, context: string) => ctx.reportError(error, context);
    this.scheduler = new RoomScheduler({
      roomId,
      slotMs: ctx.slotMs,
      due: () =>
        state.group && record.membership === 'join' ? dueWork(state, state.group) : undefined,
      run: (expected) => doDueWork(state, expected),
      reschedule: () => this.schedule(),
      reportError,
    });
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
    room.state.save();
    return room;
  }

  /** A room as the store kept it, with its group. */
  static load(ctx: RoomContext, roomId: string, data: string): Room {
    const room = new Room(ctx, roomId, JSON.parse(data) as RoomRecord);
    const { state } = room;
    try {
      state.group = state.groupStore.load(state.groupOptions());
    } catch (error) {
      // A group this version cannot read: the room carries on without it, and its device asks
      // to be added again at once.
      if (!state.groupStore.refused) throw error;
      ctx.reportError(error, `loading the group of ${roomId}`);
    }
    if (state.group) room.lastTips = tipsKey(state.group.tips());
    return room;
  }

  // -------------------------------------------------------------------------------------------
  // What the room is

  get group(): DmlsGroup | undefined {
    return this.state.group;
  }

  set group(group: DmlsGroup | undefined) {
    this.state.group = group;
  }

  /** This user's Matrix membership. */
  get membership(): string {
    return this.state.record.membership;
  }

  /** The cipher suite of the room's `m.room.encryption`, if it is a Trellis room. */
  get suite(): CipherSuiteId | undefined {
    return this.state.suite;
  }

  get metadata(): GroupMetadata {
    return this.state.record.metadata;
  }

  get createEventId(): string | undefined {
    return this.state.record.createEventId;
  }

  /** Users whose membership is `join`. */
  joinedUsers(): string[] {
    return joinedUsers(this.state.record);
  }

  membershipOf(userId: string): string | undefined {
    return this.state.record.members[userId];
  }

  /** The display name a member gave themselves, if any (from their member event). */
  displayName(userId: string): string | undefined {
    return this.state.record.names?.[userId];
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
    const node = this.state.currentNode();
    return node && { epoch: node.id, key: node.key, members: [...node.members.keys()].sort() };
  }

  /**
   * Whether the group agrees with the room: one tip, the room's devices, nothing to redo, and
   * this device not waiting to be added again.
   */
  settled(): boolean {
    const group = this.group;
    return (
      group !== undefined &&
      !group.needsRejoin &&
      this.devicesKnown() &&
      this.state.plan() === undefined
    );
  }

  /**
   * The room's devices: every Trellis device of every joined user (this one included), less
   * devices whose KeyPackages could not be claimed lately, unless they are members already.
   */
  roomDevices(): string[] {
    return this.state.roomDevices();
  }

  /** Whether every joined user's device list is known (else the room's devices are not). */
  devicesKnown(): boolean {
    return this.state.devicesKnown();
  }

  // -------------------------------------------------------------------------------------------
  // Matrix state

  /** Applies a state event; returns whether the membership of someone changed. */
  applyState(event: ClientEvent): boolean {
    return this.state.applyState(event);
  }

  /** Sets this user's own membership as the server just confirmed it (join, leave). */
  setOwnMembership(membership: string): void {
    this.state.setOwnMembership(membership);
  }

  // -------------------------------------------------------------------------------------------
  // The group

  /** Creates the group of a room this device just created: epoch 0, this device alone. */
  createGroup(suite: CipherSuiteId, createEventId: string, metadata: GroupMetadata): void {
    const group = createGroup(this.state, suite, createEventId, metadata);
    this.lastTips = tipsKey(group.tips());
  }

  /**
   * Joins the group from a Welcome (checked by the caller: for this room, from a device of the
   * room). A device that already follows the group adds the Welcome's epoch to its graph, and
   * the events that waited for it are processed. Throws dMLS `NOT_READY` (with `devices`) when
   * the tree names devices whose keys are not known yet: fetch them, and try again.
   */
  acceptWelcome(welcome: ReturnType<typeof parseWelcome>, bundle: KeyPackageBundle): EpochNode {
    const { node, waited } = joinGroup(this.state, welcome, bundle);
    this.intake.handle(waited, 'live', 'live');
    this.afterBatch();
    return node;
  }

  /** Forgets the group and the room (this user left, or was removed): its secrets are deleted. */
  forget(): void {
    this.scheduler.stop();
    if (this.group) rememberFormerGroup(this.ctx.store, this.roomId);
    this.ownRejoin.forget();
    this.state.group = undefined;
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
      this.state.persistGroup();
      this.ctx.store.scrub();
    }
    return changed.length;
  }

  /** Every epoch this device holds in full goes to the backup (after enabling it). */
  sealAll(): void {
    for (const node of this.group?.epochs() ?? []) this.state.seal(node);
  }

  // -------------------------------------------------------------------------------------------
  // Receiving

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

  /** This device's own event, read as the server will deliver it (stamped with the local time). */
  private deliverOwn(eventId: string, content: RoomEventContent): void {
    const event = {
      event_id: eventId,
      type: ROOM_EVENT_TYPE,
      sender: this.ctx.device.userId,
      origin_server_ts: Date.now(),
    };
    this.intake.deliver({ ...event, content: { ...content } }, 'live');
  }

  /** After a batch of events: fork and metadata notices, then resolution if needed. */
  private afterBatch(): void {
    const { state, roomId } = this;
    const group = state.group;
    if (!group) return;
    this.lastTips = tellFork(this.ctx.events, roomId, group.tips(), this.lastTips);
    for (const tip of group.tips()) state.rejoins.settle(tip);
    const current = state.currentNode();
    const update = current ? followMetadata(state.record, group, current) : { changed: false };
    if (update.changed) state.save();
    tellMetadata(this.ctx.events, roomId, update);
    this.schedule();
  }

  // -------------------------------------------------------------------------------------------
  // Sending and committing: one at a time (roomScheduler.ts)

  /** Encrypts and sends an application message; resolves with its event id. */
  send(type: string, content: Record<string, unknown>): Promise<string> {
    return this.scheduler.exclusive(() => sendMessage(this.state, type, content));
  }

  /** A commit with a fresh update path (and whatever resolution is due). */
  async rotateKeys(): Promise<void> {
    await this.scheduler.exclusive(async () => {
      await this.ctx.refreshDevices();
      await commitNow(this.state, true);
    });
  }

  /** Sets the room's name and topic (fields left out are kept). */
  async setMetadata(change: GroupMetadata): Promise<void> {
    await this.scheduler.exclusive(async () => {
      await this.ctx.refreshDevices();
      await commitMetadata(this.state, { ...this.state.record.metadata, ...change });
    });
  }

  /**
   * Asks to be added again when this device is stranded (ownRejoin.ts), and sets a timer for
   * what it should commit, if anything (roomCommits.ts `dueWork`).
   */
  schedule(): void {
    if (!this.scheduler.active) return;
    const { state } = this;
    this.ownRejoin.check(
      state.record.membership === 'join'
        ? rejoinDelay(
            state.group,
            this.ctx.identity,
            state.groupStore.refused || wasInGroup(this.ctx.store, this.roomId),
            this.ctx.welcomeWaitMs,
          )
        : undefined,
      this.suite,
    );
    this.scheduler.schedule();
  }
}
