/**
 * A full ratchet tree for Trellis made by real commits: after the bulk add (every parent node
 * blank), one member under every pair of leaves commits a full UpdatePath, so every parent node
 * with members under both of its children ends up set, with the parent hashes, leaf signatures
 * and empty unmerged_leaves that those commits leave (RFC 9420 §7.5, §7.9).
 *
 * Each commit is made by the engine's `createCommit` from the committing member's view of the
 * epoch. Members' views of one epoch differ only in the member's leaf index, signature key and
 * HPKE private keys; the view used here is the previous commit's new epoch with the committer's
 * leaf, signature key and leaf key pair put in. The private keys of the committer's direct path
 * are left out: its commit replaces every one of them, and `createCommit` reads none. The last
 * two commits are by the two members the bench uses, so both end with every key they would hold
 * after real processing: the committer (leaf N−1) commits, then the observer (leaf 0) commits
 * and the committer processes that commit with `processMessage`.
 *
 * The pairs commit in bit-reversed order, so that a commit mostly finds the other half of each
 * subtree already set: about (N/2)·log2(N)/2 HPKE encryptions in all instead of N²/4.
 */
import {
  createCommit,
  processMessage,
  type CreatedCommit,
  type GroupState,
  type KeyPackageBundle,
  type KeyPair,
} from '../src/index.js';
import * as math from '../src/tree/math.js';
import { PrivateKeys } from '../src/tree/privateKeys.js';

export interface FullTree {
  /** Leaf N−1's state: it committed second to last and processed the last commit. */
  committer: GroupState;
  /** Leaf 0's state: it made the last commit. */
  observer: GroupState;
  /** How many commits built the tree. */
  commits: number;
}

/** A member's keys: what its view of an epoch holds that another member's does not. */
interface MemberKeys {
  signaturePrivateKey: Uint8Array;
  leafKeyPair: KeyPair;
}

/**
 * `creator` is leaf 0 right after it added the members of `bundles` (bundle i at leaf i+1) by a
 * commit without a path, that commit's new epoch. `onCommit` sees every commit in the order made,
 * with its committer's leaf (the tests have every other member process each one).
 */
export function buildFullTree(
  creator: GroupState,
  bundles: readonly KeyPackageBundle[],
  onCommit?: (leaf: number, made: CreatedCommit) => void,
): FullTree {
  const n = bundles.length + 1;
  if (n < 4) throw new Error('a full tree of fewer than 4 members is not worth building');
  const keys = new Map<number, MemberKeys>();
  keys.set(0, {
    signaturePrivateKey: creator.signaturePrivateKey,
    leafKeyPair: creator.privateKeys.get(math.leafToNode(0))!,
  });
  bundles.forEach((b, i) =>
    keys.set(i + 1, {
      signaturePrivateKey: b.signaturePrivateKey,
      leafKeyPair: {
        privateKey: b.encryptionPrivateKey,
        publicKey: b.keyPackage.leafNode.encryptionKey,
      },
    }),
  );

  // Every leaf commits at most once, so its keys are still those it joined with.
  const commit = (epoch: GroupState, leaf: number) => {
    const own = keys.get(leaf)!;
    const view: GroupState = {
      ...epoch,
      ownLeaf: leaf,
      signaturePrivateKey: own.signaturePrivateKey,
      privateKeys: PrivateKeys.forLeaf(leaf, own.leafKeyPair),
    };
    const made = createCommit(view, { forcePath: true });
    onCommit?.(leaf, made);
    return made;
  };

  // One committer per pair of leaves (2p, 2p+1): leaf 0 for the first pair, leaf N−1 for the
  // last, the odd leaf for the others.
  const pairs = Math.ceil(n / 2);
  const middle = bitReversed(pairs).filter((p) => p !== 0 && p !== pairs - 1);
  let epoch = creator;
  for (const p of middle) epoch = commit(epoch, 2 * p + 1).pending;
  const last = commit(epoch, n - 1);
  const final = commit(last.pending, 0);
  const processed = processMessage(last.pending, final.commit);
  if (processed.kind !== 'commit') throw new Error(`leaf ${n - 1} was removed`);
  return { committer: processed.state, observer: final.pending, commits: middle.length + 2 };
}

/** 0..count−1 in bit-reversed order (of the next power of two). */
function bitReversed(count: number): number[] {
  const bits = Math.max(1, Math.ceil(Math.log2(count)));
  const out: number[] = [];
  for (let i = 0; i < 1 << bits; i++) {
    let r = 0;
    for (let b = 0; b < bits; b++) if (i & (1 << b)) r |= 1 << (bits - 1 - b);
    if (r < count) out.push(r);
  }
  return out;
}

/** Whether every parent node with members under both children is set, with nothing unmerged. */
export function treeIsFull(state: GroupState): boolean {
  const tree = state.tree;
  const memberIn = (first: number, last: number): boolean => {
    for (let leaf = first; leaf <= last; leaf++) if (tree.leaf(leaf)) return true;
    return false;
  };
  for (let node = 1; node < tree.nodeCount; node += 2) {
    const half = 1 << (math.level(node) - 1);
    const first = (node + 1) / 2 - half;
    const split = memberIn(first, first + half - 1) && memberIn(first + half, first + 2 * half - 1);
    const parent = tree.parent(node);
    if (split && (parent === undefined || parent.unmergedLeaves.length > 0)) return false;
  }
  return true;
}
