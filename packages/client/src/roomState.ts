/**
 * A room's state as its modules share it: the stored record, the dMLS group and its store, the
 * rejoin requests of other devices, and the room's devices. What the group should become (the
 * resolution plan) is derived from these. It is the host the room's modules work on
 * (roomIntake.ts, roomCommits.ts, roomSend.ts); the room (rooms.ts) supplies the two steps that
 * need its other parts: reading this device's own events, and what follows a change.
 */
import {
  DmlsGroup,
  type DmlsGroupOptions,
  type EpochNode,
  type ResolutionPlan,
  type RoomEventContent,
} from '@trellis/dmls';
import type { CipherSuiteId, KeyPackage } from '@trellis/mls';
import { ClientError } from './errors.js';
import { GroupStore } from './groupStore.js';
import type { ClientEvent } from './clientEvent.js';
import { metadataOf, type GroupMetadata } from './metadata.js';
import { RejoinRequests } from './rejoin.js';
import type { CommitHost } from './roomCommits.js';
import type { RoomContext } from './roomContext.js';
import { RoomDevices } from './roomDevices.js';
import type { IntakeHost } from './roomIntake.js';
import { metadataToRedo } from './roomMetadata.js';
import { applyStateEvent, type RoomRecord } from './roomRecord.js';

/** What the room does for its state. */
export interface RoomHooks {
  /** Reads this device's own event as the server will deliver it. */
  deliverOwn(eventId: string, content: RoomEventContent): void;
  /** After the group changed: notices, then whatever work follows. */
  afterBatch(): void;
}

export class RoomState implements IntakeHost, CommitHost {
  group: DmlsGroup | undefined;
  readonly groupStore: GroupStore;
  /** Other devices' rejoin requests. */
  readonly rejoins: RejoinRequests;
  private readonly devices: RoomDevices;

  constructor(
    readonly ctx: RoomContext,
    readonly roomId: string,
    readonly record: RoomRecord,
    private readonly hooks: RoomHooks,
  ) {
    this.groupStore = new GroupStore(ctx.store, roomId);
    this.rejoins = new RejoinRequests(
      {
        ...ctx,
        roomId,
        suite: ctx.device.suite,
        reportError: (error, context) => ctx.reportError(error, context),
      },
      (record.rejoins ??= { requests: {}, done: [] }),
      () => this.save(),
    );
    this.devices = new RoomDevices(ctx.directory, ctx.identity);
  }

  groupOptions(): DmlsGroupOptions {
    return {
      roomId: this.roomId,
      identity: this.ctx.identity,
      provider: this.ctx.provider,
      deviceKeys: this.ctx.keyLookup.keys,
      ...(this.ctx.retention && { retention: this.ctx.retention }),
    };
  }

  get suite(): CipherSuiteId | undefined {
    return this.record.suite as CipherSuiteId | undefined;
  }

  save(): void {
    this.ctx.store.setRoom(this.roomId, JSON.stringify(this.record));
  }

  /** Writes the epochs that changed since the last write, and the group's own record. */
  persistGroup(): void {
    if (this.group) this.groupStore.save(this.group);
  }

  currentGroup(): DmlsGroup | undefined {
    return this.group;
  }

  /** The group's current epoch, if this device holds a tip to send in. */
  currentNode(): EpochNode | undefined {
    const group = this.group;
    if (!group?.tips().some((t) => t.held.kind === 'full')) return undefined;
    return group.current();
  }

  requireGroup(): DmlsGroup {
    if (this.record.membership !== 'join') {
      throw new ClientError('UNKNOWN_ROOM', `not joined to ${this.roomId}`);
    }
    if (!this.group) {
      throw new ClientError('NOT_READY', `no group for ${this.roomId} yet (waiting for a Welcome)`);
    }
    return this.group;
  }

  /** The room's devices (roomDevices.ts). */
  roomDevices(): string[] {
    return this.devices.of(this.record, this.currentNode()?.members);
  }

  /** Whether every joined user's device list is known (else the room's devices are not). */
  devicesKnown(): boolean {
    return this.devices.known(this.record);
  }

  /** The resolution due now (`wait`: this device is not in the current epoch). */
  plan(): ResolutionPlan | 'wait' | undefined {
    if (!this.group || this.record.membership !== 'join' || !this.devicesKnown()) return undefined;
    return this.group.planResolution({
      devices: this.roomDevices(),
      rejoins: this.rejoinKeyPackages(),
    });
  }

  /** KeyPackages of the rejoin requests that count now. */
  rejoinKeyPackages(): Map<string, KeyPackage> {
    return this.rejoins.view(this.suite, (u) => this.record.members[u] === 'join');
  }

  unusable(identity: string, error: unknown): void {
    this.devices.markUnavailable(identity);
    this.ctx.reportError(error, `KeyPackage of ${identity}`);
  }

  /** An epoch to the backup (when one is enabled). */
  seal(node: EpochNode): void {
    if (this.ctx.backup.version === undefined) return;
    try {
      this.ctx.backup.seal(this.roomId, node);
      this.ctx.backupChanged();
    } catch (error) {
      this.ctx.reportError(error, `backing up epoch ${node.key} of ${this.roomId}`);
    }
  }

  metadataToRedo(): GroupMetadata | undefined {
    return metadataToRedo(this.record, this.group, this.currentNode());
  }

  metadataSent(epoch: string, metadata: GroupMetadata): void {
    // What the change was made on: the metadata of the epoch the commit built on.
    const baseKey = this.group?.epoch(epoch)?.base;
    const base = baseKey === undefined ? undefined : this.group?.epoch(baseKey);
    const from = base?.held.kind === 'full' ? metadataOf(base.held.state.context.extensions) : {};
    this.record.metadataIntent = { epoch, metadata, from };
    this.save();
  }

  deliverOwn(eventId: string, content: RoomEventContent): void {
    this.hooks.deliverOwn(eventId, content);
  }

  afterBatch(): void {
    this.hooks.afterBatch();
  }

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
}
