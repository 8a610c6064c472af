/**
 * Parent hashes (RFC 9420 §7.9): the chain that binds each parent node's key to the UpdatePath
 * that set it and to the leaf that signed that path.
 */
import { encodeTransient, type Writer } from '../codec/index.js';
import type { Hash } from '../crypto/provider.js';
import { MlsError } from '../errors.js';
import { LeafNodeSource } from '../messages/leafNode.js';
import { bytesEqual, EMPTY } from '../util/bytes.js';
import * as math from './math.js';
import { NodeType, type NodeSlot, type ParentNode } from './nodes.js';
import type { RatchetTree } from './ratchetTree.js';
import { treeHash } from './treeHash.js';

/** RFC 9420 §7.9 */
export interface ParentHashInput {
  encryptionKey: Uint8Array;
  parentHash: Uint8Array;
  originalSiblingTreeHash: Uint8Array;
}

export function encodeParentHashInput(w: Writer, input: ParentHashInput): void {
  w.opaque(input.encryptionKey);
  w.opaque(input.parentHash);
  w.opaque(input.originalSiblingTreeHash);
}

/** Hash(ParentHashInput) */
export function hashParentHashInput(hash: Hash, input: ParentHashInput): Uint8Array {
  return encodeTransient((w) => encodeParentHashInput(w, input), hash.digest);
}

/** The parent hash of a parent node whose copath child is `sibling` (§7.9). */
export function parentHashOf(
  tree: RatchetTree,
  hash: Hash,
  parent: ParentNode,
  sibling: number,
): Uint8Array {
  return hashParentHashInput(hash, {
    encryptionKey: parent.encryptionKey,
    parentHash: parent.parentHash,
    originalSiblingTreeHash: originalSiblingTreeHash(tree, hash, sibling, parent.unmergedLeaves),
  });
}

/**
 * `original_sibling_tree_hash` (§7.9): the tree hash of `sibling` in the tree where each leaf of
 * the parent's `unmergedLeaves` is blanked and struck from every unmerged_leaves list. Those
 * leaves joined after the parent was set, so this is the subtree as it was then.
 *
 * The edited tree is a throwaway copy sharing the original's hash cache, so only the subtrees
 * that hold an unmerged leaf are hashed again.
 */
export function originalSiblingTreeHash(
  tree: RatchetTree,
  hash: Hash,
  sibling: number,
  unmergedLeaves: readonly number[],
): Uint8Array {
  const excluded = new Set(
    unmergedLeaves.filter(
      (leaf) => leaf < tree.leafCount && math.isInSubtree(math.leafToNode(leaf), sibling),
    ),
  );
  if (excluded.size === 0) return treeHash(tree, hash, sibling);

  const edits = new Map<number, NodeSlot>();
  for (const leaf of excluded) {
    let node = math.leafToNode(leaf);
    edits.set(node, undefined);
    // A leaf can only be unmerged at its ancestors (validation.ts rejects any other tree), so
    // only the parents between it and `sibling` can list it.
    while (node !== sibling) {
      node = math.parent(node, tree.leafCount);
      const parent = edits.get(node) ?? tree.node(node);
      if (parent?.nodeType !== NodeType.parent) continue;
      const kept = parent.parent.unmergedLeaves.filter((l) => !excluded.has(l));
      if (kept.length === parent.parent.unmergedLeaves.length) continue;
      edits.set(node, {
        nodeType: NodeType.parent,
        parent: { ...parent.parent, unmergedLeaves: kept },
      });
    }
  }
  return treeHash(tree.withNodes([...edits]), hash, sibling);
}

/** The `parent_hash` a node carries: parent nodes always, leaves only when set by a commit. */
export function storedParentHash(slot: NodeSlot): Uint8Array | undefined {
  if (slot === undefined) return undefined;
  if (slot.nodeType === NodeType.parent) return slot.parent.parentHash;
  return slot.leaf.leafNodeSource === LeafNodeSource.commit ? slot.leaf.parentHash : undefined;
}

/**
 * Fills in the `parent_hash` fields along a filtered direct path (`path`, leaf to root, as
 * `RatchetTree.filteredDirectPath` returns it), from the top down: each node's field is the
 * parent hash of the next node above it, the topmost's is empty (§7.9). Every node on `path` must
 * be a non-blank parent. Returns the edits to make and the parent hash the leaf must carry.
 *
 * Each copath child's subtree is disjoint from the path, so all hashes are taken on `tree` as it
 * is and its cached tree hashes serve: O(log n) hashing for a tree whose hashes are cached.
 */
export function pathParentHashes(
  tree: RatchetTree,
  hash: Hash,
  path: readonly { node: number; copathChild: number }[],
): { edits: [number, NodeSlot][]; leafParentHash: Uint8Array } {
  const edits: [number, NodeSlot][] = [];
  let above: Uint8Array = EMPTY;
  for (let i = path.length - 1; i >= 0; i--) {
    const { node, copathChild } = path[i]!;
    const current = tree.parent(node);
    if (current === undefined) {
      throw new MlsError('INVALID_TREE', `filtered direct path node ${node} is not a parent node`);
    }
    const parent: ParentNode = { ...current, parentHash: above };
    edits.push([node, { nodeType: NodeType.parent, parent }]);
    above = parentHashOf(tree, hash, parent, copathChild);
  }
  return { edits, leafParentHash: above };
}

/**
 * RFC 9420 §7.9.2, checked top down: every non-blank parent node P must have exactly one
 * descendant D whose parent hash is valid with respect to P, meaning that for P's children C
 * (above D) and S (the other one):
 *
 * - D's `parent_hash` is the parent hash of P with copath child S, and
 * - D is in the resolution of C and the rest of that resolution is exactly P's unmerged leaves
 *   under C (so the nodes between P and D are blank: they were skipped by the same UpdatePath).
 *
 * Since D is strictly below P, this chains every parent node down to a leaf. Throws
 * `BAD_PARENT_HASH` for the first parent node that fails.
 */
export function verifyParentHashes(tree: RatchetTree, hash: Hash): void {
  for (let node = 1; node < tree.nodeCount; node += 2) {
    const parent = tree.parent(node);
    if (parent === undefined) continue;
    let linked = 0;
    const left = math.left(node);
    const right = math.right(node);
    for (const [child, sibling] of [
      [left, right],
      [right, left],
    ] as const) {
      const d = linkCandidate(tree, parent, child);
      if (d === undefined) continue;
      const stored = storedParentHash(tree.node(d));
      if (stored === undefined) continue;
      if (bytesEqual(stored, parentHashOf(tree, hash, parent, sibling))) linked++;
    }
    if (linked !== 1) {
      throw new MlsError(
        'BAD_PARENT_HASH',
        linked === 0
          ? `parent node ${node} is not parent-hash valid: no descendant links to it`
          : `parent node ${node} has ${linked} descendants linking to it, not one`,
      );
    }
  }
}

/**
 * The one node D of `child`'s resolution that may link to the parent: the resolution without D
 * must be exactly the parent's unmerged leaves under `child`. So D is the only resolution node
 * that is not such a leaf, and the others must be those leaves, each once.
 */
function linkCandidate(tree: RatchetTree, parent: ParentNode, child: number): number | undefined {
  const resolution = tree.resolution(child);
  const unmerged = new Set<number>();
  for (const leaf of parent.unmergedLeaves) {
    const leafNode = math.leafToNode(leaf);
    if (leaf < tree.leafCount && math.isInSubtree(leafNode, child)) unmerged.add(leafNode);
  }
  if (resolution.length !== unmerged.size + 1) return undefined;
  const others = resolution.filter((n) => !unmerged.has(n));
  if (others.length !== 1) return undefined;
  const d = others[0]!;
  const rest = new Set(resolution.filter((n) => n !== d));
  return rest.size === unmerged.size ? d : undefined;
}
