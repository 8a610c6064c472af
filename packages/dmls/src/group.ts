import {
  basicCredential,
  cipherSuite,
  ContentType,
  createCommit,
  createGroup,
  CredentialType,
  deserializeEpochReader,
  deserializeGroupState,
  decode,
  encode,
  encryptApplication,
  epochReaderFromState,
  joinFromWelcome,
  MlsError,
  mlsMessageCodec,
  processMessage,
  serializeEpochReader,
  serializeGroupState,
  WireFormat,
  type CipherSuiteId,
  type CryptoProvider,
  type EpochReader,
  type Extension,
  type GroupState,
  type KeyPackage,
  type KeyPackageBundle,
  type KeyPair,
  type LeafNode,
  type MlsMessage,
} from '@trellis/mls';
import { DmlsError } from './errors.js';
import { chooseBase } from './base.js';
import { epochKey, identityFromBytes, type EpochId } from './ids.js';
import { DEFAULT_RETENTION, retentionStage, type RetentionPolicy } from './retention.js';
import {
  fromBase64,
  parsePlaintext,
  parseRoomEvent,
  roomEventContent,
  toBase64,
  welcomeContent,
  type ParsedRoomEvent,
  type ParsedWelcome,
  type Plaintext,
  type RoomEventContent,
  type WelcomeContent,
} from './wire.js';

/** What an epoch of this device's view still holds (see retention.ts). */
export type HeldSecrets =
  | { readonly kind: 'full'; readonly state: GroupState }
  | { readonly kind: 'messages'; readonly reader: EpochReader }
  | { readonly kind: 'none' };

/** One epoch of the graph: `(epoch number, creator)`, where it came from, what it holds. */
export interface EpochNode {
  readonly id: EpochId;
  readonly key: string;
  /** Event id of the commit that created it (the room's create event for the first epoch). */
  readonly commitEvent: string;
  /** The epoch the commit was applied to; unknown for the epoch a device joined at. */
  readonly base?: string;
  /** Other tips the commit merged. */
  readonly resolves: readonly string[];
  /** Members as `userId|deviceId` → leaf index; empty if this device is not one. */
  readonly members: ReadonlyMap<string, number>;
  readonly held: HeldSecrets;
  /** When the first successor appeared (ms); undefined while the epoch is a tip. */
  readonly supersededAt?: number;
  /** Created by this device's own commit. */
  readonly mine: boolean;
}

/** A room event as the transport delivers it. */
export interface RoomEvent {
  readonly eventId: string;
  /** The Matrix user who sent it: must be the user of the MLS sender. */
  readonly sender: string;
  readonly content: unknown;
}

/** What happened to a delivered event (or to a queued one that could now be processed). */
export type Received =
  | {
      readonly kind: 'message';
      readonly eventId: string;
      readonly epoch: EpochId;
      /** `userId|deviceId` of the sender, as its MLS credential and signature prove. */
      readonly sender: string;
      readonly plaintext: Plaintext;
    }
  | {
      readonly kind: 'commit';
      readonly eventId: string;
      readonly epoch: EpochId;
      readonly base: EpochId;
      readonly resolves: readonly EpochId[];
      readonly added: readonly string[];
      readonly removed: readonly string[];
      /** This device's own commit, seen accepted. */
      readonly mine: boolean;
    }
  /** A commit that removes this device: it is out of that branch. */
  | { readonly kind: 'removed'; readonly eventId: string; readonly epoch: EpochId }
  /** The epoch is not known yet: fetch these commit events, then deliver them. */
  | { readonly kind: 'queued'; readonly eventId: string; readonly missing: readonly string[] }
  | {
      readonly kind: 'failed';
      readonly eventId: string;
      readonly code: string;
      readonly reason: string;
    }
  | { readonly kind: 'duplicate'; readonly eventId: string };

/** A resolving commit to send (see `planResolution`). */
export interface ResolutionPlan {
  readonly base: EpochId;
  /** The other tips, merged by this commit. */
  readonly resolves: readonly EpochId[];
  /** Leaves of devices that are in the base but no longer in the room. */
  readonly remove: readonly number[];
  /** Room devices missing from the base, to be added from their KeyPackages. */
  readonly add: readonly string[];
  /** This device's own last update was lost on a branch that did not win. */
  readonly selfUpdate: boolean;
  /**
   * This device's place among the members that could send it (by leaf index): wait
   * `rank × slot` before resolving, so that usually only the first does (see `backoffMs`).
   */
  readonly rank: number;
}

/** A commit this device sent, waiting to be seen accepted. */
interface PendingCommit {
  readonly state: GroupState;
  readonly welcome?: MlsMessage;
  readonly base: string;
  readonly resolves: readonly EpochId[];
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

interface QueuedEvent {
  readonly event: RoomEvent;
  /** The epoch it waits for. */
  readonly awaiting: string;
  readonly since: number;
}

export interface DmlsGroupOptions {
  readonly roomId: string;
  /** This device, `userId|deviceId`. */
  readonly identity: string;
  readonly provider: CryptoProvider;
  readonly retention?: RetentionPolicy;
  /** Events waiting for an unknown epoch; the oldest are dropped beyond this. */
  readonly maxQueued?: number;
}

const DEFAULT_MAX_QUEUED = 10_000;
/** Own messages remembered until their echo comes back from the server. */
const MAX_SENT_REMEMBERED = 1000;

/**
 * One device's view of the MLS group of one room, as a graph of epochs (ARCHITECTURE.md,
 * "Decentralised MLS"). The delivery service does not order commits: two commits on one epoch
 * both become epochs, each branch stays readable, and a resolving commit merges tips again.
 *
 * No I/O and no clock: events and the current time come in, what to send and what to fetch go
 * out. Group states inside are immutable values; this object only swaps them.
 */
export class DmlsGroup {
  readonly roomId: string;
  readonly identity: string;
  readonly suite: CipherSuiteId;
  private readonly retention: RetentionPolicy;
  private readonly maxQueued: number;
  private readonly nodes = new Map<string, EpochNode>();
  /** Epoch key → number of epochs naming it as base or in `resolves`. */
  private readonly successors = new Map<string, number>();
  private queue: QueuedEvent[] = [];
  private readonly pending = new Map<string, PendingCommit>();
  private readonly seen = new Set<string>();
  /** Application messages this device sent, by ciphertext: their echo is read from here. */
  private readonly sentByMe = new Map<string, { epoch: EpochId; plaintext: Plaintext }>();
  /** The first epoch this device held: anything older it was never a member of. */
  private joinedAt = 0n;

  private constructor(options: DmlsGroupOptions, suite: CipherSuiteId) {
    this.roomId = options.roomId;
    this.identity = options.identity;
    this.suite = suite;
    this.retention = options.retention ?? DEFAULT_RETENTION;
    this.maxQueued = options.maxQueued ?? DEFAULT_MAX_QUEUED;
  }

  /**
   * A new group for a room, with this device its only member (epoch 0, created by it). The
   * room's create event stands in for the commit that created the first epoch.
   */
  static create(
    options: DmlsGroupOptions & {
      suite: CipherSuiteId;
      createEventId: string;
      signatureKeyPair: KeyPair;
      now: number;
      extensions?: Extension[];
      capabilities?: { extensions?: number[] };
    },
  ): DmlsGroup {
    const group = new DmlsGroup(options, options.suite);
    const state = createGroup(cipherSuite(options.suite, options.provider), {
      groupId: new TextEncoder().encode(options.roomId),
      credential: basicCredential(new TextEncoder().encode(options.identity)),
      signatureKeyPair: options.signatureKeyPair,
      now: BigInt(Math.floor(options.now / 1000)),
      ...(options.extensions && { extensions: options.extensions }),
      ...(options.capabilities && { capabilities: options.capabilities }),
    });
    group.addNode({
      id: { epoch: 0n, creator: options.identity },
      commitEvent: options.createEventId,
      resolves: [],
      held: { kind: 'full', state },
      mine: true,
    });
    return group;
  }

  /**
   * Joins from a Welcome: the first epoch this device knows is the one the Welcome's commit
   * created, named after its sender. Earlier epochs stay unknown (the backup covers them).
   */
  static fromWelcome(
    options: DmlsGroupOptions & { welcome: ParsedWelcome; bundle: KeyPackageBundle },
  ): DmlsGroup {
    const { welcome } = options;
    if (welcome.roomId !== options.roomId) {
      throw new DmlsError('MALFORMED_EVENT', 'the Welcome is for another room');
    }
    if (welcome.message.wireFormat !== WireFormat.mls_welcome) {
      throw new DmlsError('MALFORMED_EVENT', 'not a Welcome');
    }
    const state = joinFromWelcome(options.provider, welcome.message.welcome, options.bundle);
    if (!hasMember(state, welcome.sender)) {
      throw new DmlsError('SENDER_MISMATCH', 'the Welcome names a sender that is not in the group');
    }
    const group = new DmlsGroup(options, welcome.suite);
    group.joinedAt = state.context.epoch;
    const [base, ...resolves] = welcome.resolves;
    group.addNode({
      id: { epoch: state.context.epoch, creator: welcome.sender },
      commitEvent: welcome.commitEvent,
      ...(base && { base: epochKey(base) }),
      resolves: resolves.map(epochKey),
      held: { kind: 'full', state },
      mine: false,
    });
    return group;
  }

  /**
   * A Welcome for a group this device already follows (it was removed on one branch and added
   * again by a resolving commit): the Welcome's epoch joins the graph, if it is new.
   */
  addWelcome(
    welcome: ParsedWelcome,
    bundle: KeyPackageBundle,
    provider: CryptoProvider,
    now: number,
  ): EpochNode {
    if (welcome.roomId !== this.roomId || welcome.message.wireFormat !== WireFormat.mls_welcome) {
      throw new DmlsError('MALFORMED_EVENT', 'the Welcome is not for this room');
    }
    const state = joinFromWelcome(provider, welcome.message.welcome, bundle);
    if (!hasMember(state, welcome.sender)) {
      throw new DmlsError('SENDER_MISMATCH', 'the Welcome names a sender that is not in the group');
    }
    const id = { epoch: state.context.epoch, creator: welcome.sender };
    const existing = this.nodes.get(epochKey(id));
    if (existing) {
      // Known as an epoch this device was not in: now it holds its state.
      if (existing.held.kind !== 'none') return existing;
      const node = {
        ...existing,
        held: { kind: 'full', state } as const,
        members: membersOf(state),
      };
      this.nodes.set(node.key, node);
      return node;
    }
    const [base, ...resolves] = welcome.resolves;
    return this.addNode(
      {
        id,
        commitEvent: welcome.commitEvent,
        ...(base && { base: epochKey(base) }),
        resolves: resolves.map(epochKey),
        held: { kind: 'full', state },
        mine: false,
      },
      now,
    );
  }

  // -------------------------------------------------------------------------------------------
  // The graph

  epoch(id: EpochId): EpochNode | undefined {
    return this.nodes.get(epochKey(id));
  }

  epochs(): EpochNode[] {
    return [...this.nodes.values()];
  }

  /** Epochs nothing builds on yet. */
  tips(): EpochNode[] {
    return this.epochs().filter((n) => !this.successors.has(n.key));
  }

  /** The tip every device holding the same events picks (base.ts), where sending happens. */
  current(): EpochNode {
    return chooseBase(this.tips());
  }

  /** Events that wait for an epoch, with the commit events that would create it. */
  missing(): string[] {
    const held = new Set(this.queue.map((q) => q.event.eventId));
    const wanted = new Set<string>();
    for (const q of this.queue) {
      const parsed = tryParse(q.event);
      // Not what is already here, waiting for its own base: that one's base is what is missing.
      if (parsed && !held.has(parsed.commitEvent)) wanted.add(parsed.commitEvent);
    }
    return [...wanted];
  }

  get queuedCount(): number {
    return this.queue.length;
  }

  private addNode(
    node: Omit<EpochNode, 'key' | 'members' | 'supersededAt'> & { supersededAt?: number },
    now?: number,
  ): EpochNode {
    const key = epochKey(node.id);
    const full: EpochNode = {
      ...node,
      key,
      members: node.held.kind === 'full' ? membersOf(node.held.state) : new Map(),
    };
    this.nodes.set(key, full);
    for (const parent of [...(node.base ? [node.base] : []), ...node.resolves]) {
      this.successors.set(parent, (this.successors.get(parent) ?? 0) + 1);
      const p = this.nodes.get(parent);
      if (p && p.supersededAt === undefined && now !== undefined) {
        this.nodes.set(parent, { ...p, supersededAt: now });
      }
    }
    return full;
  }

  private replaceHeld(node: EpochNode, held: HeldSecrets): void {
    this.nodes.set(node.key, { ...node, held });
  }

  // -------------------------------------------------------------------------------------------
  // Receiving

  /**
   * Processes one room event of this room: a commit is applied to the epoch it names (a fork
   * when that epoch already has a successor), a message is decrypted in its epoch, and an event
   * whose epoch is unknown is queued. Queued events that can now proceed are processed too, and
   * their outcomes follow the event's own.
   */
  receive(event: RoomEvent, now: number): Received[] {
    const before = this.nodes.size;
    const out = [this.process(event, now)];
    if (this.nodes.size > before) out.push(...this.drainQueue(now));
    return out;
  }

  private drainQueue(now: number): Received[] {
    const out: Received[] = [];
    let progress = true;
    while (progress) {
      progress = false;
      const ready = this.queue.filter((q) => this.nodes.has(q.awaiting));
      if (ready.length === 0) break;
      this.queue = this.queue.filter((q) => !this.nodes.has(q.awaiting));
      const before = this.nodes.size;
      for (const q of ready) out.push(this.process(q.event, now));
      progress = this.nodes.size > before;
    }
    return out;
  }

  private process(event: RoomEvent, now: number): Received {
    const { eventId } = event;
    if (this.seen.has(eventId)) return { kind: 'duplicate', eventId };
    let parsed: ParsedRoomEvent;
    try {
      parsed = parseRoomEvent(event.content);
    } catch (e) {
      return failed(eventId, e);
    }
    if (parsed.suite !== this.suite) {
      return {
        kind: 'failed',
        eventId,
        code: 'UNSUPPORTED_ALGORITHM',
        reason: 'another cipher suite',
      };
    }
    if (!parsed.sender.startsWith(`${event.sender}|`)) {
      return {
        kind: 'failed',
        eventId,
        code: 'SENDER_MISMATCH',
        reason: `sent by ${event.sender} in the name of ${parsed.sender}`,
      };
    }
    const result = isCommit(parsed.message)
      ? this.processCommit(event, parsed, now)
      : this.processMessage(event, parsed, now);
    if (result.kind !== 'queued' && result.kind !== 'failed') this.seen.add(eventId);
    return result;
  }

  private enqueue(event: RoomEvent, awaiting: EpochId, commitEvent: string, now: number): Received {
    if (awaiting.epoch <= this.joinedAt) {
      // Before (or beside) the epoch this device joined at: no state for it can ever come.
      return {
        kind: 'failed',
        eventId: event.eventId,
        code: 'NOT_A_MEMBER',
        reason: `epoch ${epochKey(awaiting)} is from before this device joined`,
      };
    }
    this.queue.push({ event, awaiting: epochKey(awaiting), since: now });
    if (this.queue.length > this.maxQueued) this.queue.shift();
    return { kind: 'queued', eventId: event.eventId, missing: [commitEvent] };
  }

  private processCommit(event: RoomEvent, parsed: ParsedRoomEvent, now: number): Received {
    const { eventId } = event;
    const id: EpochId = { epoch: parsed.epoch.epoch + 1n, creator: parsed.sender };
    if (this.nodes.has(epochKey(id))) return { kind: 'duplicate', eventId };
    const base = this.nodes.get(epochKey(parsed.epoch));
    if (!base) return this.enqueue(event, parsed.epoch, parsed.commitEvent, now);
    const resolves = parsed.resolves.map(epochKey);

    // Every outcome records the epoch, so the graph stays whole.
    const record = (held: HeldSecrets, mine: boolean) =>
      this.addNode({ id, commitEvent: eventId, base: base.key, resolves, held, mine }, now);
    const committed = (
      state: GroupState,
      added: readonly string[],
      removed: readonly string[],
      mine: boolean,
    ): Received => ({
      kind: 'commit',
      eventId,
      epoch: record({ kind: 'full', state }, mine).id,
      base: base.id,
      resolves: parsed.resolves,
      added,
      removed,
      mine,
    });

    const ciphertext = (event.content as { ciphertext: string }).ciphertext;
    const own = this.pending.get(ciphertext);
    if (own && parsed.sender === this.identity) {
      this.pending.delete(ciphertext);
      return committed(own.state, own.added, own.removed, true);
    }
    if (base.held.kind !== 'full') {
      // Messages of the new epoch are then refused for what they are instead of waiting for it
      // forever.
      record({ kind: 'none' }, false);
      return {
        kind: 'failed',
        eventId,
        code: base.members.size === 0 ? 'NOT_A_MEMBER' : 'EPOCH_EXPIRED',
        reason: `epoch ${epochKey(parsed.epoch)} can no longer take commits`,
      };
    }
    const baseState = base.held.state;
    try {
      const r = processMessage(baseState, parsed.message);
      if (r.kind === 'removed') {
        record({ kind: 'none' }, false);
        return { kind: 'removed', eventId, epoch: id };
      }
      if (r.kind !== 'commit') throw new DmlsError('MALFORMED_EVENT', 'not a commit');
      const committer = identityAt(r.state, r.committer.leafIndex);
      if (committer !== parsed.sender) {
        throw new DmlsError('SENDER_MISMATCH', `the commit is signed by ${committer}`);
      }
      return committed(
        r.state,
        r.summary.added.map((a) => credentialIdentity(a.keyPackage.leafNode)),
        r.summary.removed.map((leaf) => identityAt(baseState, leaf)),
        false,
      );
    } catch (e) {
      return failed(eventId, e);
    }
  }

  private processMessage(event: RoomEvent, parsed: ParsedRoomEvent, now: number): Received {
    const { eventId } = event;
    const mine = this.sentByMe.get((event.content as { ciphertext: string }).ciphertext);
    if (mine && parsed.sender === this.identity) {
      // Its key is used up on sending; the echo is known by its ciphertext.
      return {
        kind: 'message',
        eventId,
        epoch: mine.epoch,
        sender: this.identity,
        plaintext: mine.plaintext,
      };
    }
    const node = this.nodes.get(epochKey(parsed.epoch));
    if (!node) return this.enqueue(event, parsed.epoch, parsed.commitEvent, now);
    try {
      let sender: string;
      let data: Uint8Array;
      const held = node.held;
      if (held.kind === 'full') {
        const r = processMessage(held.state, parsed.message);
        if (r.kind === 'proposal') {
          this.replaceHeld(node, { kind: 'full', state: r.state });
          throw new DmlsError(
            'MALFORMED_EVENT',
            'standalone proposals are not used in Trellis rooms',
          );
        }
        if (r.kind !== 'application')
          throw new DmlsError('MALFORMED_EVENT', 'not application data');
        sender = identityAt(held.state, r.sender);
        data = r.data;
        if (sender !== parsed.sender) throw new DmlsError('SENDER_MISMATCH', `signed by ${sender}`);
        this.replaceHeld(node, { kind: 'full', state: r.state });
      } else if (held.kind === 'messages') {
        const r = held.reader.decrypt(parsed.message);
        sender = credentialIdentity(r.sender);
        data = r.data;
        if (sender !== parsed.sender) throw new DmlsError('SENDER_MISMATCH', `signed by ${sender}`);
        this.replaceHeld(node, { kind: 'messages', reader: r.reader });
      } else {
        return {
          kind: 'failed',
          eventId,
          code: node.members.size === 0 ? 'NOT_A_MEMBER' : 'EPOCH_EXPIRED',
          reason:
            node.members.size === 0
              ? `this device is not a member of epoch ${node.key}`
              : `the keys of epoch ${node.key} were deleted (retention)`,
        };
      }
      return {
        kind: 'message',
        eventId,
        epoch: node.id,
        sender,
        plaintext: parsePlaintext(data, this.roomId),
      };
    } catch (e) {
      return failed(eventId, e);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Sending

  /** Encrypts an application message in the current epoch (resolve first if that is needed). */
  encrypt(type: string, content: Record<string, unknown>): RoomEventContent {
    const node = this.current();
    if (node.held.kind !== 'full') {
      throw new DmlsError('NOT_READY', `this device cannot send in epoch ${node.key}`);
    }
    const plaintext: Plaintext = { type, content, room_id: this.roomId };
    const sent = encryptApplication(
      node.held.state,
      new TextEncoder().encode(JSON.stringify(plaintext)),
    );
    this.replaceHeld(node, { kind: 'full', state: sent.state });
    const out = roomEventContent(
      this.suite,
      sent.message,
      node.id,
      this.identity,
      node.commitEvent,
    );
    this.sentByMe.set(out.ciphertext, { epoch: node.id, plaintext });
    if (this.sentByMe.size > MAX_SENT_REMEMBERED) {
      this.sentByMe.delete(this.sentByMe.keys().next().value!);
    }
    return out;
  }

  /**
   * What a resolving commit would do, or undefined when the group already agrees with the room:
   * one tip, the room's devices exactly, and this device's last update not lost. `wait` means
   * the chosen base is an epoch this device cannot commit on; another device will.
   */
  planResolution(roomDevices: Iterable<string>): ResolutionPlan | 'wait' | undefined {
    const tips = this.tips();
    const base = chooseBase(tips);
    if (base.held.kind !== 'full') return 'wait';
    const room = new Set(roomDevices);
    const remove = [...base.members].filter(([id]) => !room.has(id)).map(([, leaf]) => leaf);
    const add = [...room].filter((id) => !base.members.has(id)).sort();
    const resolves = tips.filter((t) => t !== base).map((t) => t.id);
    const selfUpdate = this.ownUpdateLost(base);
    if (resolves.length === 0 && remove.length === 0 && add.length === 0 && !selfUpdate) {
      return undefined;
    }
    if (!room.has(this.identity)) return 'wait'; // a device leaving does not resolve
    const candidates = [...base.members]
      .filter(([id]) => room.has(id))
      .sort((a, b) => a[1] - b[1])
      .map(([id]) => id);
    return {
      base: base.id,
      resolves,
      remove,
      add,
      selfUpdate,
      // Merging tips and fixing membership go before making up a lost update: a device with
      // only its own update to redo waits until every member ranked for a resolution had its turn.
      rank:
        Math.max(0, candidates.indexOf(this.identity)) +
        (resolves.length === 0 && remove.length === 0 && add.length === 0 ? candidates.length : 0),
    };
  }

  /**
   * Whether this device's newest commit is off the chain of bases that leads to `tip`: its
   * fresh keys were merged away with a losing branch, so it must update again.
   */
  private ownUpdateLost(tip: EpochNode): boolean {
    const mine = this.epochs()
      .filter((n) => n.mine)
      .sort((a, b) => (a.id.epoch < b.id.epoch ? 1 : a.id.epoch > b.id.epoch ? -1 : 0))[0];
    if (!mine || mine.id.epoch === 0n) return false;
    for (let n: EpochNode | undefined = tip; n; n = n.base ? this.nodes.get(n.base) : undefined) {
      if (n.key === mine.key) return false;
    }
    return true;
  }

  /**
   * Creates a commit on the plan's base with a fresh update path: adds the devices whose
   * KeyPackages are given, removes the plan's leaves, and lists the other tips in `resolves`.
   * Nothing changes until the commit comes back from the server (`receive` adopts it then);
   * the Welcome is made only once its commit event is stored (`welcomeFor`).
   */
  commit(
    plan: Pick<ResolutionPlan, 'base' | 'resolves' | 'remove'> & { add?: readonly string[] },
    keyPackages: ReadonlyMap<string, KeyPackage>,
    extra: { groupContextExtensions?: Extension[] } = {},
  ): {
    content: RoomEventContent;
    added: string[];
    welcomeFor(commitEventId: string): WelcomeContent | undefined;
  } {
    const base = this.nodes.get(epochKey(plan.base));
    if (!base || base.held.kind !== 'full') {
      throw new DmlsError('NOT_READY', 'the base epoch is not held in full');
    }
    if (this.pending.size > 0) {
      // A second commit before the first is seen could name a second epoch exactly like it:
      // `(epoch number, creator)` must stay unique.
      throw new DmlsError('NOT_READY', 'a commit of this device is still in flight');
    }
    const added = (plan.add ?? []).filter((id) => keyPackages.has(id));
    const created = createCommit(base.held.state, {
      add: added.map((id) => keyPackages.get(id)!),
      remove: [...plan.remove],
      forcePath: true,
      pending: 'none',
      ...(extra.groupContextExtensions && { groupContextExtensions: extra.groupContextExtensions }),
    });
    const content = roomEventContent(
      this.suite,
      created.commit,
      base.id,
      this.identity,
      base.commitEvent,
      plan.resolves,
    );
    const removed = plan.remove.map((leaf) =>
      identityAt(base.held.kind === 'full' ? base.held.state : created.pending, leaf),
    );
    this.pending.set(content.ciphertext, {
      state: created.pending,
      ...(created.welcome && { welcome: created.welcome }),
      base: base.key,
      resolves: plan.resolves,
      added,
      removed,
    });
    this.replaceHeld(base, { kind: 'full', state: created.state });
    return {
      content,
      added,
      welcomeFor: (commitEventId) =>
        created.welcome &&
        welcomeContent(this.suite, created.welcome, this.roomId, this.identity, commitEventId, [
          base.id,
          ...plan.resolves,
        ]),
    };
  }

  /** Whether a commit of this device is waiting to be seen accepted. */
  get commitInFlight(): boolean {
    return this.pending.size > 0;
  }

  /** Forgets a commit the server did not accept. */
  discardCommit(content: RoomEventContent): void {
    this.pending.delete(content.ciphertext);
  }

  // -------------------------------------------------------------------------------------------
  // Retention

  /**
   * Applies the retention policy: superseded epochs past the fork window keep only their
   * message keys, past the message window nothing. Returns the epochs whose holdings changed,
   * so a store can rewrite or delete them.
   */
  prune(now: number): EpochNode[] {
    const changed: EpochNode[] = [];
    for (const node of this.epochs()) {
      if (node.supersededAt === undefined || node.held.kind === 'none') continue;
      const stage = retentionStage(this.retention, now - node.supersededAt);
      if (stage === 'full' || stage === node.held.kind) continue;
      let held: HeldSecrets = { kind: 'none' };
      if (stage === 'messages' && node.held.kind === 'full') {
        held = { kind: 'messages', reader: epochReaderFromState(node.held.state) };
      }
      this.replaceHeld(node, held);
      changed.push(this.nodes.get(node.key)!);
    }
    // Events waiting longer than an epoch's keys would be kept are not worth keeping.
    const horizon = now - this.retention.forkWindowMs - this.retention.messageWindowMs;
    this.queue = this.queue.filter((q) => q.since >= horizon);
    return changed;
  }

  // -------------------------------------------------------------------------------------------
  // Persistence

  /** The group as storable records: one per epoch (so pruned ones can be deleted) and the rest. */
  snapshot(): DmlsSnapshot {
    return {
      meta: {
        version: 1,
        roomId: this.roomId,
        identity: this.identity,
        suite: this.suite,
        queue: this.queue.map((q) => ({ event: q.event, awaiting: q.awaiting, since: q.since })),
        pending: [...this.pending].map(([ciphertext, p]) => ({
          ciphertext,
          state: toBase64(serializeGroupState(p.state)),
          ...(p.welcome && { welcome: toBase64(encode(mlsMessageCodec, p.welcome)) }),
          base: p.base,
          resolves: p.resolves.map((r) => [r.epoch.toString(), r.creator] as [string, string]),
          added: [...p.added],
          removed: [...p.removed],
        })),
        seen: [...this.seen],
      },
      epochs: this.epochs().map(encodeNode),
    };
  }

  static restore(options: DmlsGroupOptions, snapshot: DmlsSnapshot): DmlsGroup {
    const { meta } = snapshot;
    if (
      meta.version !== 1 ||
      meta.roomId !== options.roomId ||
      meta.identity !== options.identity
    ) {
      throw new DmlsError('MALFORMED_EVENT', 'the snapshot is of another group');
    }
    const group = new DmlsGroup(options, meta.suite);
    for (const record of snapshot.epochs) {
      const node = decodeNode(options.provider, record);
      group.nodes.set(node.key, node);
      for (const parent of [...(node.base ? [node.base] : []), ...node.resolves]) {
        group.successors.set(parent, (group.successors.get(parent) ?? 0) + 1);
      }
    }
    group.queue = meta.queue.map((q) => ({ ...q }));
    for (const p of meta.pending) {
      group.pending.set(p.ciphertext, {
        state: deserializeGroupState(options.provider, fromBase64(p.state, 'state')),
        ...(p.welcome && {
          welcome: decodeMessage(fromBase64(p.welcome, 'welcome')),
        }),
        base: p.base,
        resolves: p.resolves.map(([epoch, creator]) => ({ epoch: BigInt(epoch), creator })),
        added: p.added,
        removed: p.removed,
      });
    }
    for (const id of meta.seen) group.seen.add(id);
    return group;
  }
}

/** The storable form of a group (JSON-safe). */
export interface DmlsSnapshot {
  meta: {
    version: 1;
    roomId: string;
    identity: string;
    suite: CipherSuiteId;
    queue: { event: RoomEvent; awaiting: string; since: number }[];
    pending: {
      ciphertext: string;
      state: string;
      welcome?: string;
      base: string;
      resolves: [string, string][];
      added: string[];
      removed: string[];
    }[];
    seen: string[];
  };
  epochs: EpochRecord[];
}

/** One epoch as stored: its place in the graph and, base64, whatever secrets it still holds. */
export interface EpochRecord {
  key: string;
  epoch: string;
  creator: string;
  commitEvent: string;
  base?: string;
  resolves: string[];
  members: [string, number][];
  held: 'full' | 'messages' | 'none';
  secrets?: string;
  supersededAt?: number;
  mine: boolean;
}

function encodeNode(node: EpochNode): EpochRecord {
  const held = node.held;
  return {
    key: node.key,
    epoch: node.id.epoch.toString(),
    creator: node.id.creator,
    commitEvent: node.commitEvent,
    ...(node.base && { base: node.base }),
    resolves: [...node.resolves],
    members: [...node.members],
    held: held.kind,
    ...(held.kind === 'full' && { secrets: toBase64(serializeGroupState(held.state)) }),
    ...(held.kind === 'messages' && { secrets: toBase64(serializeEpochReader(held.reader)) }),
    ...(node.supersededAt !== undefined && { supersededAt: node.supersededAt }),
    mine: node.mine,
  };
}

function decodeNode(provider: CryptoProvider, record: EpochRecord): EpochNode {
  const id: EpochId = { epoch: BigInt(record.epoch), creator: record.creator };
  let held: HeldSecrets = { kind: 'none' };
  if (record.held !== 'none') {
    const bytes = fromBase64(record.secrets ?? '', 'secrets');
    held =
      record.held === 'full'
        ? { kind: 'full', state: deserializeGroupState(provider, bytes) }
        : { kind: 'messages', reader: deserializeEpochReader(provider, bytes) };
  }
  return {
    id,
    key: epochKey(id),
    commitEvent: record.commitEvent,
    ...(record.base && { base: record.base }),
    resolves: record.resolves,
    members: new Map(record.members),
    held,
    ...(record.supersededAt !== undefined && { supersededAt: record.supersededAt }),
    mine: record.mine,
  };
}

function decodeMessage(bytes: Uint8Array): MlsMessage {
  return decode(mlsMessageCodec, bytes);
}

function tryParse(event: RoomEvent): ParsedRoomEvent | undefined {
  try {
    return parseRoomEvent(event.content);
  } catch {
    return undefined;
  }
}

function isCommit(message: MlsMessage): boolean {
  if (message.wireFormat === WireFormat.mls_public_message) {
    return message.publicMessage.content.contentType === ContentType.commit;
  }
  if (message.wireFormat === WireFormat.mls_private_message) {
    return message.privateMessage.contentType === ContentType.commit;
  }
  return false;
}

function failed(eventId: string, e: unknown): Received {
  if (e instanceof DmlsError || e instanceof MlsError) {
    return { kind: 'failed', eventId, code: e.code, reason: e.message };
  }
  throw e;
}

function credentialIdentity(leaf: LeafNode): string {
  if (leaf.credential.credentialType !== CredentialType.basic) {
    throw new DmlsError('SENDER_MISMATCH', 'a member without a basic credential');
  }
  return identityFromBytes(leaf.credential.identity);
}

function identityAt(state: GroupState, leafIndex: number): string {
  const leaf = state.tree.leaf(leafIndex);
  if (!leaf) throw new DmlsError('SENDER_MISMATCH', `leaf ${leafIndex} is blank`);
  return credentialIdentity(leaf);
}

function membersOf(state: GroupState): Map<string, number> {
  const out = new Map<string, number>();
  for (const [leafIndex, leaf] of state.tree.members())
    out.set(credentialIdentity(leaf), leafIndex);
  return out;
}

function hasMember(state: GroupState, identity: string): boolean {
  return membersOf(state).has(identity);
}
