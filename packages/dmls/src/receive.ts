import {
  ContentType,
  MlsError,
  processMessage as processGroupMessage,
  toHex,
  WireFormat,
  type GroupState,
  type LeafNode,
  type MlsMessage,
} from '@trellis/mls';
import { chooseBase } from './base.js';
import { commitDataOf, visibleConfirmationTag, type CommitData } from './commitData.js';
import type { GroupCore } from './core.js';
import { DmlsError } from './errors.js';
import type { EpochGraph, EpochNode } from './graph.js';
import type { EpochId } from './ids.js';
import { checkLeaves, credentialIdentity, identityAt, membersOf } from './membership.js';
import type { RoomEvent } from './waiting.js';
import { parsePlaintext, parseRoomEvent, type ParsedRoomEvent, type Plaintext } from './wire.js';

/** What happened to a delivered event (or to a waiting one that could now be processed). */
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
  /** Not decidable yet: fetch these commit events, or these devices' keys, then retry. */
  | {
      readonly kind: 'queued';
      readonly eventId: string;
      readonly missing: readonly string[];
      readonly devices: readonly string[];
    }
  | {
      readonly kind: 'failed';
      readonly eventId: string;
      readonly code: string;
      readonly reason: string;
    }
  | { readonly kind: 'duplicate'; readonly eventId: string };

/**
 * Processes one room event of this room: a commit is applied to the epoch it names (a fork
 * when that epoch already has a successor), a message is decrypted in its epoch, and an event
 * that cannot be decided yet waits. Waiting events that can now proceed are processed too,
 * and their outcomes follow the event's own.
 */
export function receive(core: GroupCore, event: RoomEvent, now: number): Received[] {
  const before = core.graph.version;
  const out = [process(core, event, now)];
  // A new epoch, or one this device now holds, may be what waiting or parked events need.
  if (core.graph.version !== before) out.push(...retry(core, now, true));
  return out;
}

/**
 * Processes what waits and can now proceed: after device keys were fetched, or (with
 * `parked`) after a Welcome brought an epoch this device was not in.
 */
export function retry(core: GroupCore, now: number, parked = true): Received[] {
  const out: Received[] = [];
  if (parked) {
    for (const p of core.waiting.takeParked()) out.push(process(core, p.event, now));
  }
  for (;;) {
    const ready = core.waiting.takeReady(core.graph, core.keys);
    if (ready.length === 0) break;
    for (const q of ready) out.push(process(core, q.event, now));
  }
  return out;
}

/**
 * Parsed once per delivered content object: events that wait are tried again on every new
 * epoch, and decoding their ciphertext each time showed in profiles. Parsing is pure, and the
 * parsed form is never changed.
 */
const parsedContents = new WeakMap<object, ParsedRoomEvent>();

function parseOnce(content: unknown): ParsedRoomEvent {
  if (typeof content !== 'object' || content === null) return parseRoomEvent(content);
  let parsed = parsedContents.get(content);
  if (!parsed) {
    parsed = parseRoomEvent(content);
    parsedContents.set(content, parsed);
  }
  return parsed;
}

/** Failures that do not condemn the event: it may yet be placed (a Welcome, another's commit). */
const UNREFUSED = new Set(['NOT_A_MEMBER', 'OWN_COMMIT_LOST']);

/** An epoch is named by its event id, which commit data carries in at most 255 bytes. */
const MAX_EVENT_ID_BYTES = 255;

function process(core: GroupCore, event: RoomEvent, now: number): Received {
  const { eventId } = event;
  if (core.seen.has(eventId)) return { kind: 'duplicate', eventId };
  let result: Received;
  try {
    const size = Buffer.byteLength(eventId, 'utf8');
    if (size === 0 || size > MAX_EVENT_ID_BYTES) {
      throw new DmlsError('MALFORMED_EVENT', `an event id of ${size} bytes cannot name an epoch`);
    }
    const parsed = parseOnce(event.content);
    if (parsed.suite !== core.suite) {
      throw new DmlsError('UNSUPPORTED_ALGORITHM', 'another cipher suite');
    }
    if (!parsed.sender.startsWith(`${event.sender}|`)) {
      throw new DmlsError(
        'SENDER_MISMATCH',
        `sent by ${event.sender} in the name of ${parsed.sender}`,
      );
    }
    result = isCommit(parsed.message)
      ? processCommit(core, event, parsed, now)
      : processMessage(core, event, parsed, now);
  } catch (e) {
    result = failed(eventId, e);
    if (result.kind === 'failed' && !UNREFUSED.has(result.code)) core.refused.add(eventId);
  }
  if (result.kind !== 'queued' && result.kind !== 'failed') core.seen.add(eventId);
  return result;
}

function wait(
  core: GroupCore,
  event: RoomEvent,
  now: number,
  what: { awaiting?: string; devices?: readonly string[] },
): Received {
  core.waiting.add({ event, ...what, since: now });
  return {
    kind: 'queued',
    eventId: event.eventId,
    missing: what.awaiting !== undefined ? [what.awaiting] : [],
    devices: what.devices ?? [],
  };
}

function notMember(core: GroupCore, event: RoomEvent, node: EpochNode, now: number): Received {
  core.waiting.park(event, now);
  return {
    kind: 'failed',
    eventId: event.eventId,
    code: 'NOT_A_MEMBER',
    reason: `this device is not a member of epoch ${node.id.epoch} (${node.key})`,
  };
}

function processCommit(
  core: GroupCore,
  event: RoomEvent,
  parsed: ParsedRoomEvent,
  now: number,
): Received {
  const { eventId } = event;
  const data = commitDataOf(parsed.message);
  if (data.baseEvent !== parsed.commitEvent) {
    throw new DmlsError('INVALID_METADATA', 'commit_event differs from the signed base');
  }
  const existing = core.graph.get(eventId);
  if (existing && existing.held.kind !== 'none') return { kind: 'duplicate', eventId };
  const base = core.graph.get(data.baseEvent) ?? placeLostOwn(core, data.baseEvent, now);
  if (!base) return foreignOrWait(core, event, parsed, data, now);
  if (parsed.epoch.epoch !== base.id.epoch) {
    throw new DmlsError('INVALID_METADATA', 'the commit is not of its base epoch number');
  }
  const resolved: EpochNode[] = [];
  for (const ref of data.resolves) {
    const node = core.graph.get(ref.event) ?? placeLostOwn(core, ref.event, now);
    if (!node) {
      if (core.refused.has(ref.event)) {
        throw new DmlsError('INVALID_RESOLVES', `the commit resolves refused event ${ref.event}`);
      }
      return wait(core, event, now, { awaiting: ref.event });
    }
    resolved.push(node);
  }
  data.resolves.forEach((ref, i) =>
    checkResolvable(core.graph, base, resolved[i]!, toHex(ref.tag)),
  );
  const id: EpochId = { epoch: base.id.epoch + 1n, creator: parsed.sender };
  const edges = { base: base.key, resolves: resolved.map((n) => n.key) };
  if (edges.base === eventId || edges.resolves.includes(eventId)) {
    // A server reusing an event id could otherwise make an epoch its own parent.
    throw new DmlsError('INVALID_METADATA', 'the commit names its own event as a parent');
  }

  const own = core.pending.get((event.content as { ciphertext: string }).ciphertext);
  if (own && parsed.sender === core.identity) {
    core.pending.delete((event.content as { ciphertext: string }).ciphertext);
    const node = record(core, eventId, id, edges, own.state, own.added, own.removed, true, now);
    return committed(node, base, resolved, own.added, own.removed);
  }
  // Another device's merge is judged on the whole fork, as every other device judges it (this
  // device's own was planned only once its fork was known in full).
  const gap = unknownAncestry(core, [base, ...resolved]);
  if (gap !== undefined) return wait(core, event, now, { awaiting: gap });
  if (resolved.length > 0) checkMerge(core, base, resolved, parsed.sender);
  if (base.held.kind === 'messages') {
    // Too late to apply: this device can no longer follow that branch, and should rejoin.
    core.unfollowable.add(eventId);
    recordNone(core, eventId, id, parsed, edges, data, now);
    throw new DmlsError('EPOCH_EXPIRED', `epoch ${base.key} can no longer take commits`);
  }
  if (base.held.kind === 'none') {
    const node = recordNone(core, eventId, id, parsed, edges, data, now);
    if (base.members.size > 0) {
      throw new DmlsError('EPOCH_EXPIRED', `epoch ${base.key} can no longer take commits`);
    }
    return notMember(core, event, node, now);
  }

  const baseState = base.held.state;
  const r = processOrSetAside(core, event, parsed, baseState, now);
  if (r.kind !== 'commit' && r.kind !== 'removed') {
    throw new DmlsError('MALFORMED_EVENT', 'not a commit');
  }
  // A commit that removes this device is checked like any other before it is believed: the
  // same commit must not take this device out alone while every other device refuses it.
  const committer = identityAt(r.kind === 'commit' ? r.state : baseState, r.committer.leafIndex);
  if (committer !== parsed.sender) {
    throw new DmlsError('SENDER_MISMATCH', `the commit is signed by ${committer}`);
  }
  // Every leaf that enters the tree is one its user published (ghost leaves are refused).
  const entering: LeafNode[] = r.summary.added.map((a) => a.keyPackage.leafNode);
  if (r.kind === 'commit' && r.summary.hasPath) {
    entering.push(r.state.tree.leaf(r.committer.leafIndex)!);
  }
  const { unknown } = checkLeaves(entering, core.keys);
  if (unknown.length > 0) return wait(core, event, now, { devices: unknown });
  const removedIds = r.summary.removed.map((leaf) => identityAt(baseState, leaf));
  const addedIds = r.summary.added.map((a) => credentialIdentity(a.keyPackage.leafNode));
  const members =
    r.kind === 'commit'
      ? membersOf(r.state)
      : new Set([...base.members.keys()].filter((d) => !removedIds.includes(d)).concat(addedIds));
  if (
    addedIds.length !== new Set(addedIds).size ||
    addedIds.some((d) => base.members.has(d) && !removedIds.includes(d))
  ) {
    throw new DmlsError('DUPLICATE_IDENTITY', 'the commit adds a device already in the group');
  }
  if (!sameDevices(data.removed, removedIds) || !sameDevices(data.added, addedIds)) {
    throw new DmlsError('INVALID_METADATA', "the signed device changes are not the commit's");
  }
  if (resolved.length > 0) {
    if (!r.summary.hasPath) {
      throw new DmlsError('INVALID_RESOLVES', 'a merge must carry a fresh path');
    }
    const kept = [...excludedBy(core, base, resolved)].filter((d) => members.has(d));
    if (kept.length > 0) {
      throw new DmlsError(
        'REMOVAL_UNDONE',
        `the merge keeps ${kept.join(', ')}, removed on a branch it resolves`,
      );
    }
  }
  if (r.kind === 'removed') {
    recordNone(core, eventId, id, parsed, edges, data, now);
    return { kind: 'removed', eventId, epoch: id };
  }
  const tag = toHex(r.state.confirmationTag);
  const same = core.graph.withTag(tag);
  if (same && same.key !== eventId) {
    // The same commit again under another event id (a replay): one epoch, two names.
    core.graph.alias(eventId, same);
    return { kind: 'duplicate', eventId };
  }
  const node = record(core, eventId, id, edges, r.state, addedIds, removedIds, false, now);
  return committed(node, base, resolved, addedIds, removedIds);
}

/**
 * Processes a commit on a base this device holds. An authentic commit of this device's own that
 * it has no pending state for (lost in a crash, or made by a clone of its state, or by someone
 * who holds its key) cannot be checked here: the engine takes in its own commits only from the
 * pending state. It is kept aside; if another member builds on it or resolves it, it was valid
 * for them, and it is placed then (`placeLostOwn`).
 */
function processOrSetAside(
  core: GroupCore,
  event: RoomEvent,
  parsed: ParsedRoomEvent,
  baseState: GroupState,
  now: number,
): ReturnType<typeof processGroupMessage> {
  try {
    return processGroupMessage(baseState, parsed.message);
  } catch (e) {
    if (!(e instanceof MlsError) || e.code !== 'OWN_COMMIT') throw e;
    core.lostOwn.set(event.eventId, event);
    // A commit that came first and waits for this one builds on it: place it now.
    if (core.waiting.queue.some((q) => q.awaiting === event.eventId)) {
      placeLostOwn(core, event.eventId, now);
    }
    throw new DmlsError(
      'OWN_COMMIT_LOST',
      `commit ${event.eventId} is this device's, made elsewhere`,
    );
  }
}

/**
 * Places a lost own commit that another member's commit names as its base or resolves: the
 * others took it in and this device never can, so its epoch is recorded from its signed data
 * (what builds on it is then parked, not left waiting), and the device must rejoin.
 */
function placeLostOwn(core: GroupCore, eventId: string, now: number): EpochNode | undefined {
  const event = core.lostOwn.get(eventId);
  if (!event) return undefined;
  core.lostOwn.delete(eventId);
  const parsed = parseOnce(event.content);
  const data = commitDataOf(parsed.message);
  const base = core.graph.get(data.baseEvent);
  const resolves = data.resolves.map((r) => core.graph.get(r.event)?.key);
  if (!base || resolves.some((k) => k === undefined)) return undefined;
  core.unfollowable.add(eventId);
  const id = { epoch: base.id.epoch + 1n, creator: parsed.sender };
  const edges = { base: base.key, resolves: resolves as string[] };
  return recordNone(core, eventId, id, parsed, edges, data, now);
}

/**
 * A commit on an epoch this device does not know. If that epoch is from before this device
 * joined, no state for it can come from the room: the commit is recorded as a foreign epoch
 * (so that merges naming it can be placed), or recognised as the commit of the epoch this
 * device joined at. Otherwise it waits for its base, which the client backfills.
 */
function foreignOrWait(
  core: GroupCore,
  event: RoomEvent,
  parsed: ParsedRoomEvent,
  data: CommitData,
  now: number,
): Received {
  const { eventId } = event;
  if (parsed.epoch.epoch >= core.joinedAt) {
    return wait(core, event, now, { awaiting: data.baseEvent });
  }
  const tag = visibleConfirmationTag(parsed.message);
  const joined = tag && core.graph.withTag(toHex(tag));
  if (joined) {
    core.graph.alias(eventId, joined);
    return { kind: 'duplicate', eventId };
  }
  if (core.graph.get(eventId)) return { kind: 'duplicate', eventId };
  const id = { epoch: parsed.epoch.epoch + 1n, creator: parsed.sender };
  // Its parents are linked when they are fetched, so that branches older than this device's
  // join are known in full: a merge of them is then judged here as everywhere else.
  // (Epoch 0 is the room's create event, not a commit: nothing to fetch.)
  const signedParents = [
    ...(parsed.epoch.epoch > 0n ? [data.baseEvent] : []),
    ...data.resolves.map((r) => r.event),
  ];
  const node = recordNone(core, eventId, id, parsed, { resolves: [], signedParents }, data, now);
  return notMember(core, event, node, now);
}

/**
 * What every device can check of another's merge, whether or not it can process it: the base
 * is the one the base rule picks among the epochs merged (so that no one can hide the branch
 * the group agreed on under a merge made on a branch of its own choosing, such as a removed
 * device's), and the committer, who is a member of the merged epoch, is not a device that a
 * resolved branch removed. It reads only the graph and signed data, and so decides alike
 * on every device that knows the fork in full.
 */
function checkMerge(
  core: GroupCore,
  base: EpochNode,
  resolved: readonly EpochNode[],
  committer: string,
): void {
  const chosen = chooseBase(core.graph, [base, ...resolved]);
  if (chosen !== base) {
    throw new DmlsError(
      'INVALID_RESOLVES',
      `the merge is made on ${base.key}, but the base rule picks ${chosen.key}`,
    );
  }
  if (excludedBy(core, base, resolved).has(committer)) {
    throw new DmlsError(
      'REMOVAL_UNDONE',
      `the merge is made by ${committer}, removed on a branch it resolves`,
    );
  }
}

/**
 * Devices a merge on `base` must not keep: removed on a resolved branch and not added again
 * later on that branch (a commit that removes and adds a device replaces its leaf). An add on
 * the base's own branch does not count: without a clock nobody can tell whether it came before
 * or after the removal, and a removal must win. It reads only the signed device changes of the
 * branches' epochs, so every device that knows the same epochs decides alike, whether or not it
 * could decrypt them.
 */
export function excludedBy(
  core: GroupCore,
  base: EpochNode,
  resolved: readonly EpochNode[],
): Set<string> {
  const out = new Set<string>();
  for (const node of resolved) {
    const branch = core.graph.branches([base, node]).get(node.key)!;
    for (const n of branch) {
      for (const d of n.removed) {
        if (n.added.includes(d)) continue; // replaced
        const back = branch.some(
          (m) => m !== n && m.added.includes(d) && core.graph.isAncestor(n, m),
        );
        if (!back) out.add(d);
      }
    }
  }
  return out;
}

/** An epoch to fetch before the fork of `heads` is known in full, if any. */
export function unknownAncestry(core: GroupCore, heads: readonly EpochNode[]): string | undefined {
  if (heads.length < 2) return undefined;
  return core.graph
    .gaps(heads)
    .find((event) => !core.refused.has(event) && !core.unavailable.has(event));
}

function sameDevices(signed: readonly string[], actual: readonly string[]): boolean {
  const sorted = [...actual].sort();
  return signed.length === sorted.length && signed.every((d, i) => d === sorted[i]);
}

function record(
  core: GroupCore,
  key: string,
  id: EpochId,
  edges: { base?: string; resolves: string[] },
  state: GroupState,
  added: readonly string[],
  removed: readonly string[],
  mine: boolean,
  now: number,
): EpochNode {
  const node = {
    id,
    key,
    tag: toHex(state.confirmationTag),
    ...edges,
    members: membersOf(state),
    added,
    removed,
    held: { kind: 'full', state } as const,
    mine,
  };
  return core.graph.add(node, now);
}

/** An epoch this device cannot hold: kept in the graph so its events are placed. */
function recordNone(
  core: GroupCore,
  key: string,
  id: EpochId,
  parsed: ParsedRoomEvent,
  edges: { base?: string; resolves: string[]; signedParents?: string[] },
  data: CommitData,
  now: number,
): EpochNode {
  const known = core.graph.get(key);
  if (known) return known;
  const tag = visibleConfirmationTag(parsed.message);
  return core.graph.add(
    {
      id,
      key,
      tag: tag ? toHex(tag) : '',
      ...edges,
      members: new Map(),
      // As signed: this device cannot check them, but only places the epoch by them.
      added: data.added,
      removed: data.removed,
      held: { kind: 'none' },
      mine: false,
    },
    now,
  );
}

function committed(
  node: EpochNode,
  base: EpochNode,
  resolved: readonly EpochNode[],
  added: readonly string[],
  removed: readonly string[],
): Received {
  return {
    kind: 'commit',
    eventId: node.key,
    epoch: node.id,
    base: base.id,
    resolves: resolved.map((n) => n.id),
    added,
    removed,
    mine: node.mine,
  };
}

function processMessage(
  core: GroupCore,
  event: RoomEvent,
  parsed: ParsedRoomEvent,
  now: number,
): Received {
  const { eventId } = event;
  const mine = core.sentByMe.get((event.content as { ciphertext: string }).ciphertext);
  if (mine && parsed.sender === core.identity) {
    // Its key is used up on sending; the echo is known by its ciphertext.
    return {
      kind: 'message',
      eventId,
      epoch: mine.epoch,
      sender: core.identity,
      plaintext: mine.plaintext,
    };
  }
  const node = core.graph.get(parsed.commitEvent);
  if (!node) return wait(core, event, now, { awaiting: parsed.commitEvent });
  if (parsed.epoch.epoch !== node.id.epoch) {
    throw new DmlsError('INVALID_METADATA', 'the message is not of its epoch number');
  }
  const held = node.held;
  let sender: string;
  let data: Uint8Array;
  if (held.kind === 'full') {
    const r = processGroupMessage(held.state, parsed.message);
    if (r.kind !== 'application') {
      throw new DmlsError('MALFORMED_EVENT', 'Trellis rooms carry no standalone proposals');
    }
    sender = identityAt(held.state, r.sender);
    data = r.data;
    if (sender !== parsed.sender) throw new DmlsError('SENDER_MISMATCH', `signed by ${sender}`);
    core.graph.update({ ...node, held: { kind: 'full', state: r.state } });
  } else if (held.kind === 'messages') {
    const r = held.reader.decrypt(parsed.message);
    sender = credentialIdentity(r.sender);
    data = r.data;
    if (sender !== parsed.sender) throw new DmlsError('SENDER_MISMATCH', `signed by ${sender}`);
    core.graph.update({ ...node, held: { kind: 'messages', reader: r.reader } });
  } else if (node.members.size > 0) {
    throw new DmlsError('EPOCH_EXPIRED', `the keys of epoch ${node.key} were deleted (retention)`);
  } else {
    return notMember(core, event, node, now);
  }
  return {
    kind: 'message',
    eventId,
    epoch: node.id,
    sender,
    plaintext: parsePlaintext(data, core.roomId),
  };
}

/**
 * A commit on `base` may resolve `node` only if the tag it names is the epoch's, and the epoch
 * is on another branch: not the base, not an ancestor of it (already merged) and not a
 * descendant (the base could not have been chosen over it). With edges only to epochs that
 * exist, the graph has no cycle and every new epoch is a tip.
 */
export function checkResolvable(
  graph: EpochGraph,
  base: EpochNode,
  node: EpochNode,
  tag: string,
): void {
  if (node.tag !== '' && node.tag !== tag) {
    throw new DmlsError('INVALID_RESOLVES', `the commit names epoch ${node.key} with another tag`);
  }
  if (graph.isAncestor(node, base)) {
    throw new DmlsError('INVALID_RESOLVES', `epoch ${node.key} is the base or before it`);
  }
  if (graph.isAncestor(base, node)) {
    throw new DmlsError('INVALID_RESOLVES', `epoch ${node.key} descends from the base`);
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
