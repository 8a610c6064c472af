import { toHex, type GroupState, type KeyPackage } from '@trellis/mls';
import { chooseBase, crossedRounds, losers } from './base.js';
import { heldTips, type GroupCore } from './core.js';
import type { EpochNode } from './graph.js';
import type { EpochId } from './ids.js';
import { isUntrusted, offendingLeaves } from './membership.js';
import { excludedBy, unknownAncestry } from './mergeRules.js';

/** What the resolver knows of the room, beyond the group. */
export interface RoomView {
  /** Devices of the room's joined users, as `userId|deviceId`. */
  readonly devices: Iterable<string>;
  /**
   * Devices that asked to be added again with this KeyPackage (they cannot follow the group:
   * offline past the fork window, or re-admitted after a removal). Only room devices count.
   */
  readonly rejoins?: ReadonlyMap<string, KeyPackage>;
}

/** A resolving commit to send (see `planResolution`). */
export interface ResolutionPlan {
  readonly base: EpochId;
  readonly baseKey: string;
  /** The other tips, merged by this commit. */
  readonly resolves: readonly EpochId[];
  readonly resolveKeys: readonly string[];
  /** Leaves to remove: devices gone from the room or from a resolved branch, bad leaves. */
  readonly remove: readonly number[];
  /** Room devices to add: by claimed KeyPackage, or by the KeyPackage of their rejoin request. */
  readonly add: readonly string[];
  /** This device's own last update was lost on a branch that did not win. */
  readonly selfUpdate: boolean;
  /** Place among the devices that could send it: wait `rank × slot` first (`backoffMs`). */
  readonly rank: number;
  /** Resolution rounds in a row that crossed, ending at the base: the slot doubles for each. */
  readonly crossed: number;
}

/**
 * What a resolving commit would do, or undefined when the group already agrees with the room:
 * one tip, the room's devices exactly, no offending leaf, and this device's last update not
 * lost. `wait` means this device cannot make it (it does not hold the tips, or is leaving).
 *
 * The merge rule (docs/dmls.md): on the base the base rule picks, remove every device that is
 * gone from the room, that a resolved branch removed (removals are monotone), or whose leaf
 * does not match its published keys; add room devices missing from the base, except devices
 * removed on the way to it, which come back only by their own rejoin request.
 */
export function planResolution(
  core: GroupCore,
  room: RoomView,
): ResolutionPlan | 'wait' | undefined {
  const tips = heldTips(core);
  if (tips.length === 0) return 'wait';
  // Until the fork is known in full, the base rule and the merge rule could decide otherwise
  // here than on the devices that judge the merge (the missing epochs are fetched meanwhile).
  if (unknownAncestry(core, tips) !== undefined) return 'wait';
  const base = chooseBase(core.graph, tips);
  if (base.held.kind !== 'full') return 'wait';
  const state = base.held.state;
  const others = tips.filter((t) => t !== base);
  // A device the application does not trust is not added, whatever the room lists.
  const devices = new Set([...room.devices].filter((id) => !isUntrusted(core.keys(id))));
  // Its own request is for the others to answer: a device does not replace itself.
  const rejoins = new Map(
    [...(room.rejoins ?? [])].filter(([id]) => devices.has(id) && id !== core.identity),
  );
  const excluded = excludedBy(core, base, others);
  const remove = new Set(offendingLeaves(state, core.keys));
  for (const [id, leaf] of base.members) {
    if (
      !devices.has(id) ||
      excluded.has(id) ||
      (rejoins.has(id) && !sameLeaf(state, leaf, rejoins.get(id)!))
    ) {
      remove.add(leaf);
    }
  }
  const removedBefore = removedOnChain(core, base);
  const add = [...devices]
    .filter((id) => {
      const leaf = base.members.get(id);
      const staying = leaf !== undefined && !remove.has(leaf);
      if (staying || excluded.has(id)) return false;
      return rejoins.has(id) || !removedBefore.has(id);
    })
    .sort();
  const selfUpdate = ownUpdateLost(core, base);
  if (others.length === 0 && remove.size === 0 && add.length === 0 && !selfUpdate) return undefined;
  if (!devices.has(core.identity) || remove.has(base.members.get(core.identity) ?? -1)) {
    return 'wait'; // a device leaving, or being replaced, does not resolve
  }
  return {
    base: base.id,
    baseKey: base.key,
    resolves: others.map((t) => t.id),
    resolveKeys: others.map((t) => t.key),
    remove: [...remove].sort((a, b) => a - b),
    add,
    selfUpdate,
    rank: rank(
      core,
      base,
      tips,
      devices,
      others.length === 0 && remove.size === 0 && add.length === 0,
    ),
    crossed: crossedRounds(core.graph, base),
  };
}

/**
 * This device's place among those that could resolve: first the devices whose own commits
 * are on a losing branch (the merge's fresh path restores their post-compromise security at
 * once), then the other members of the base still in the room, by leaf index. A device with
 * only its own lost update to redo waits for every merge first.
 */
function rank(
  core: GroupCore,
  base: EpochNode,
  tips: EpochNode[],
  room: Set<string>,
  onlySelfUpdate: boolean,
): number {
  const lost = losers(core.graph, tips, base);
  // Only devices holding every tip can merge them all.
  const candidates = [...base.members]
    .filter(([id]) => room.has(id) && tips.every((t) => t.members.has(id)))
    .sort((a, b) => Number(lost.has(b[0])) - Number(lost.has(a[0])) || a[1] - b[1])
    .map(([id]) => id);
  return Math.max(0, candidates.indexOf(core.identity)) + (onlySelfUpdate ? candidates.length : 0);
}

/**
 * Devices removed by commits in the history of `tip` (merged branches and, for a device that
 * joined later, the history it fetched included) and not members of it. Removals are signed,
 * so this reads the same on every device that knows the same epochs.
 */
function removedOnChain(core: GroupCore, tip: EpochNode): Set<string> {
  const out = new Set<string>();
  const seen = new Set<string>();
  const stack = [tip];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (seen.has(n.key)) continue;
    seen.add(n.key);
    for (const d of n.removed) if (!tip.members.has(d)) out.add(d);
    stack.push(...core.graph.parents(n));
  }
  return out;
}

/**
 * Whether this device's newest commit is off the chain of bases that leads to `tip`: its
 * fresh keys were merged away with a losing branch, so it must update again.
 */
function ownUpdateLost(core: GroupCore, tip: EpochNode): boolean {
  // The newest by when it was made (the graph keeps insertion order), not by generation: a
  // later commit on a shorter branch is still the one whose keys are in use.
  const mine = core.graph
    .all()
    .filter((n) => n.mine && n.base !== undefined)
    .at(-1);
  if (!mine) return false;
  for (let n: EpochNode | undefined = tip; n; n = n.base ? core.graph.get(n.base) : undefined) {
    if (n.key === mine.key) return false;
  }
  return true;
}

function sameLeaf(state: GroupState, leaf: number, keyPackage: KeyPackage): boolean {
  const node = state.tree.leaf(leaf);
  return (
    node !== undefined && toHex(node.encryptionKey) === toHex(keyPackage.leafNode.encryptionKey)
  );
}
