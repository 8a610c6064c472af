import { DmlsError } from './errors.js';
import type { EpochGraph, EpochNode } from './graph.js';

/**
 * The deterministic choice of base among tips (docs/dmls.md, "The base rule"):
 *
 * 1. the tip whose own branch (its epochs since the tips diverged) was made by the most
 *    distinct devices, not counting devices that any of the branches removed;
 * 2. among those, the tip whose commit event id sorts first.
 *
 * Why: every device holding the same events must pick the same base, with no clock and no
 * communication, so the rule reads only the graph. It must also not be something one member
 * can win: counting epochs (the longest chain) lets a device, or a removed device still holding
 * an old epoch, take the group wherever it likes by committing more often. Counting distinct
 * committers gives a single device one vote however often it commits, and a removed device
 * none. Event ids are assigned by the server, once, the same for every reader.
 */
export function chooseBase(graph: EpochGraph, tips: readonly EpochNode[]): EpochNode {
  if (tips.length === 0) throw new DmlsError('NOT_READY', 'the group has no epoch');
  if (tips.length === 1) return tips[0]!;
  const branches = graph.branches(tips);
  const removed = new Set<string>();
  for (const branch of branches.values())
    for (const n of branch) for (const r of n.removed) removed.add(r);
  let best: EpochNode | undefined;
  let bestScore = -1;
  for (const tip of tips) {
    const committers = new Set(
      branches
        .get(tip.key)!
        .map((n) => n.id.creator)
        .filter((c) => !removed.has(c)),
    );
    const score = committers.size;
    if (score > bestScore || (score === bestScore && tip.key < best!.key)) {
      best = tip;
      bestScore = score;
    }
  }
  return best!;
}

/**
 * Devices whose own commits are on a branch other than `base`: a merge on `base` drops their
 * fresh keys, so one of them should make it (its merge carries a new path for itself) and the
 * others update at once (docs/dmls.md, "Post-compromise security across forks").
 */
export function losers(
  graph: EpochGraph,
  tips: readonly EpochNode[],
  base: EpochNode,
): Set<string> {
  const out = new Set<string>();
  if (tips.length < 2) return out;
  const branches = graph.branches(tips);
  const onBase = new Set(branches.get(base.key)!.map((n) => n.id.creator));
  for (const [key, branch] of branches) {
    if (key === base.key) continue;
    for (const n of branch) if (!onBase.has(n.id.creator)) out.add(n.id.creator);
  }
  return out;
}

/** Beyond this many crossed rounds the slot stops doubling (16 slots per rank). */
const MAX_DOUBLINGS = 4;

/**
 * How many resolution rounds in a row, ending at `base`, crossed another one: `base` is a merge
 * made on an epoch that got another merge too, and so was the base of that one, and so on.
 * Crossings happen when the commits of the ranks before take longer than a slot to arrive;
 * every device that knows the same epochs counts the same, so all of them widen their back-off
 * together and the rank order holds (simulation seed 103: with delivery slower than the slot,
 * merges crossed every round, and the room never went quiet).
 */
export function crossedRounds(graph: EpochGraph, base: EpochNode): number {
  let rounds = 0;
  for (let node = base; rounds < MAX_DOUBLINGS && node.resolves.length > 0; rounds++) {
    const parent = node.base !== undefined ? graph.get(node.base) : undefined;
    if (!parent || graph.builtOn(parent).filter((n) => n.resolves.length > 0).length < 2) break;
    node = parent;
  }
  return rounds;
}

/**
 * How long to wait before sending a resolving commit, from the device's rank among those that
 * could: the first resolves at once, the others only if nothing came in the meantime.
 * Concurrent resolutions then stay rare, and when they happen the next round merges them with
 * a slot doubled for every round in a row that crossed (`crossedRounds`).
 */
export function backoffMs(rank: number, slotMs = 500, crossed = 0): number {
  return rank * slotMs * 2 ** Math.min(crossed, MAX_DOUBLINGS);
}
