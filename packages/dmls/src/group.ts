import {
  type CipherSuiteId,
  type CryptoProvider,
  type Extension,
  type KeyPackage,
  type KeyPackageBundle,
} from '@trellis/mls';
import { current, type GroupCore } from './core.js';
import { DmlsError } from './errors.js';
import { EpochGraph, type EpochNode } from './graph.js';
import {
  addWelcome,
  foundingNode,
  openWelcome,
  welcomeNode,
  type FoundingOptions,
} from './join.js';
import type { DeviceKeys } from './membership.js';
import { planResolution, type ResolutionPlan, type RoomView } from './plan.js';
import { prune } from './prune.js';
import { receive, retry, type Received } from './receive.js';
import { DEFAULT_RETENTION, type RetentionPolicy } from './retention.js';
import { commit, encrypt } from './send.js';
import { decodeSnapshot, encodeSnapshot, type DmlsSnapshot } from './snapshot.js';
import { Waiting, type RoomEvent } from './waiting.js';
import type { ParsedWelcome, RoomEventContent, WelcomeContent } from './wire.js';

export type { ResolutionPlan, RoomView } from './plan.js';
export type { Received } from './receive.js';

export interface DmlsGroupOptions {
  readonly roomId: string;
  /** This device, `userId|deviceId`. */
  readonly identity: string;
  readonly provider: CryptoProvider;
  /** Published device keys: every leaf received is checked against them. */
  readonly deviceKeys: DeviceKeys;
  readonly retention?: RetentionPolicy;
  /** Events waiting for an epoch or for keys; the oldest are dropped beyond this. */
  readonly maxQueued?: number;
}

const DEFAULT_MAX_QUEUED = 10_000;

/**
 * One device's view of the MLS group of one room, as a graph of epochs (docs/dmls.md). The
 * delivery service does not order commits: two commits on one epoch both become epochs, each
 * branch stays readable, and a resolving commit merges tips again. Every field used to place an
 * event is authenticated (commitData.ts) and every leaf is checked against published keys.
 *
 * No I/O and no clock: events and the current time come in, what to send and what to fetch go
 * out. Group states inside are immutable values; this object only swaps them.
 */
export class DmlsGroup {
  private readonly core: GroupCore;

  private constructor(options: DmlsGroupOptions, suite: CipherSuiteId) {
    this.core = {
      roomId: options.roomId,
      identity: options.identity,
      suite,
      provider: options.provider,
      keys: options.deviceKeys,
      retention: options.retention ?? DEFAULT_RETENTION,
      graph: new EpochGraph(),
      waiting: new Waiting(options.maxQueued ?? DEFAULT_MAX_QUEUED),
      pending: new Map(),
      seen: new Set(),
      refused: new Set(),
      sentByMe: new Map(),
      joinedAt: 0n,
      unfollowable: new Set(),
      unavailable: new Set(),
      lostOwn: new Map(),
    };
  }

  get roomId(): string {
    return this.core.roomId;
  }

  get identity(): string {
    return this.core.identity;
  }

  get suite(): CipherSuiteId {
    return this.core.suite;
  }

  /**
   * A new group for a room, with this device its only member (epoch 0, created by it). The
   * room's create event stands in for the commit that created the first epoch.
   */
  static create(options: DmlsGroupOptions & FoundingOptions): DmlsGroup {
    const group = new DmlsGroup(options, options.suite);
    group.core.graph.add(foundingNode(options));
    return group;
  }

  /**
   * Joins from a Welcome: the first epoch this device knows is the one the Welcome's commit
   * created. Earlier epochs stay unknown (the backup covers them). Throws `NOT_READY` with
   * `devices` when leaves of the tree name devices whose keys must be fetched first.
   */
  static fromWelcome(
    options: DmlsGroupOptions & { welcome: ParsedWelcome; bundle: KeyPackageBundle },
  ): DmlsGroup {
    const group = new DmlsGroup(options, options.welcome.suite);
    const joined = openWelcome(group.core, options.welcome, options.bundle);
    group.core.joinedAt = joined.state.context.epoch;
    group.core.graph.add(welcomeNode(group.core, options.welcome, joined));
    return group;
  }

  /**
   * A Welcome for a group this device already follows (added on another branch, or removed and
   * added again): the Welcome's epoch joins the graph, and events that waited for it are
   * processed (their outcomes are returned).
   */
  addWelcome(welcome: ParsedWelcome, bundle: KeyPackageBundle, now: number): Received[] {
    return addWelcome(this.core, welcome, bundle, now);
  }

  // -------------------------------------------------------------------------------------------
  // The graph

  /** The epoch created by this commit event (or known under it). */
  epoch(key: string): EpochNode | undefined {
    return this.core.graph.get(key);
  }

  epochs(): EpochNode[] {
    return this.core.graph.all();
  }

  /** Epochs nothing builds on yet. */
  tips(): EpochNode[] {
    return this.core.graph.tips();
  }

  /**
   * The tip this device sends in: among the tips it holds in full, the one the base rule picks
   * (base.ts). Tips of branches this device is not in are not candidates: it cannot send there.
   */
  current(): EpochNode {
    return current(this.core);
  }

  /**
   * Commit events to fetch: those waiting events need, and the parents of known epochs that
   * this device has not seen (history from before it joined), so that it knows every branch a
   * merge may resolve as far back as the others do.
   */
  missing(): string[] {
    const wanted = new Set(this.core.waiting.missing(this.core.graph));
    for (const event of this.core.graph.missingParents()) wanted.add(event);
    return [...wanted].filter(
      (event) => !this.core.unavailable.has(event) && !this.core.lostOwn.has(event),
    );
  }

  /**
   * Tells the group that an event it asked for cannot be had (the server refuses it, or it is
   * not a commit): forks reaching back to it are judged on what this device knows.
   */
  unavailable(eventId: string): void {
    this.core.unavailable.add(eventId);
  }

  /** Devices whose published keys are needed before waiting events can be decided. */
  missingDevices(): string[] {
    return this.core.waiting.missingDevices(this.core.keys);
  }

  get queuedCount(): number {
    return this.core.waiting.queue.length;
  }

  /**
   * Whether this device saw commits it cannot follow for want of state (it was offline past
   * the fork window, or its epochs were dropped): it should ask to be added again.
   */
  get needsRejoin(): boolean {
    return this.core.unfollowable.size > 0;
  }

  // -------------------------------------------------------------------------------------------
  // Receiving

  /**
   * Processes one room event of this room: a commit is applied to the epoch it names (a fork
   * when that epoch already has a successor), a message is decrypted in its epoch, and an event
   * that cannot be decided yet waits. Waiting events that can now proceed are processed too,
   * and their outcomes follow the event's own.
   */
  receive(event: RoomEvent, now: number): Received[] {
    return receive(this.core, event, now);
  }

  /**
   * Processes what waits and can now proceed: after device keys were fetched, or (with
   * `parked`) after a Welcome brought an epoch this device was not in.
   */
  retry(now: number, parked = true): Received[] {
    return retry(this.core, now, parked);
  }

  // -------------------------------------------------------------------------------------------
  // Sending

  /** Encrypts an application message in the current epoch (resolve first if that is needed). */
  encrypt(type: string, content: Record<string, unknown>): RoomEventContent {
    return encrypt(this.core, type, content);
  }

  /** What a resolving commit would do (plan.ts), `wait`, or undefined when nothing is needed. */
  planResolution(room: RoomView): ResolutionPlan | 'wait' | undefined {
    return planResolution(this.core, room);
  }

  /** A commit on the plan's base (send.ts); it takes effect when its echo is received. */
  commit(
    plan: Parameters<typeof commit>[1],
    keyPackages: ReadonlyMap<string, KeyPackage>,
    extra: { groupContextExtensions?: Extension[] } = {},
  ): {
    content: RoomEventContent;
    added: string[];
    welcomeFor(commitEventId: string): WelcomeContent | undefined;
  } {
    return commit(this.core, plan, keyPackages, extra);
  }

  /** Whether a commit of this device is waiting to be seen accepted. */
  get commitInFlight(): boolean {
    return this.core.pending.size > 0;
  }

  /** Forgets a commit the server did not accept. */
  discardCommit(content: RoomEventContent): void {
    this.core.pending.delete(content.ciphertext);
  }

  // -------------------------------------------------------------------------------------------
  // Retention

  /**
   * Applies the retention policy: superseded epochs past the fork window keep only their
   * message keys, past the message window nothing. Returns the epochs whose holdings changed,
   * so a store can rewrite or delete them.
   */
  prune(now: number): EpochNode[] {
    return prune(this.core, now);
  }

  // -------------------------------------------------------------------------------------------
  // Persistence

  /** The group as storable records: one per epoch (so pruned ones can be deleted) and the rest. */
  snapshot(): DmlsSnapshot {
    return encodeSnapshot({
      roomId: this.roomId,
      identity: this.identity,
      suite: this.suite,
      joinedAt: this.core.joinedAt,
      nodes: this.core.graph.all(),
      aliases: this.core.graph.aliasList(),
      waiting: this.core.waiting,
      pending: this.core.pending,
      seen: this.core.seen,
      refused: this.core.refused,
      unfollowable: this.core.unfollowable,
      unavailable: this.core.unavailable,
    });
  }

  static restore(options: DmlsGroupOptions, snapshot: DmlsSnapshot): DmlsGroup {
    const decoded = decodeSnapshot(options.provider, snapshot);
    if (decoded.roomId !== options.roomId || decoded.identity !== options.identity) {
      throw new DmlsError('MALFORMED_EVENT', 'the snapshot is of another group');
    }
    const group = new DmlsGroup(options, decoded.suite);
    const core = group.core;
    core.joinedAt = decoded.joinedAt;
    core.graph.load(decoded.nodes, decoded.aliases);
    core.waiting.queue = decoded.queue;
    core.waiting.parked = decoded.parked;
    for (const [k, p] of decoded.pending) core.pending.set(k, p);
    for (const id of decoded.seen) core.seen.add(id);
    for (const id of decoded.refused) core.refused.add(id);
    for (const id of decoded.unfollowable) core.unfollowable.add(id);
    for (const id of decoded.unavailable) core.unavailable.add(id);
    return group;
  }
}
