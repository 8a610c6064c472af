/**
 * The rules every device applies to another's merge, from the graph and signed data alone, so
 * that all devices that know a fork in full decide alike (docs/dmls.md, "The merge rule").
 */
import { chooseBase } from './base.js';
import type { GroupCore } from './core.js';
import { DmlsError } from './errors.js';
import type { EpochGraph, EpochNode } from './graph.js';

/**
 * What every device can check of another's merge, whether or not it can process it: the base
 * is the one the base rule picks among the epochs merged (so that no one can hide the branch
 * the group agreed on under a merge made on a branch of its own choosing, such as a removed
 * device's), and the committer, who is a member of the merged epoch, is not a device that a
 * resolved branch removed. It reads only the graph and signed data, and so decides alike
 * on every device that knows the fork in full.
 */
export function checkMerge(
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
