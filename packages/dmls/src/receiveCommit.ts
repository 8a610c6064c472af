/**
 * Receiving a commit: placed on the epoch it names (a fork when that epoch already has a
 * successor), checked against the published devices, the signed device changes and the merge
 * rules (mergeRules.ts), and recorded in the graph, held in full or only as a place.
 */
import {
  MlsError,
  processMessage as processGroupMessage,
  toHex,
  type GroupState,
  type LeafNode,
} from '@trellis/mls';
import { commitDataOf, visibleConfirmationTag, type CommitData } from './commitData.js';
import type { GroupCore } from './core.js';
import { DmlsError } from './errors.js';
import type { EpochNode } from './graph.js';
import type { EpochId } from './ids.js';
import { checkLeaves, credentialIdentity, identityAt, membersOf } from './membership.js';
import { checkMerge, checkResolvable, excludedBy, unknownAncestry } from './mergeRules.js';
import { notMember, wait, type Received } from './received.js';
import type { RoomEvent } from './waiting.js';
import { parseRoomEventOnce, type ParsedRoomEvent } from './wire.js';

export function processCommit(
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
  const parsed = parseRoomEventOnce(event.content);
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
