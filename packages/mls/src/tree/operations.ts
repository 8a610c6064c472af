/**
 * The tree edits of the Add, Update and Remove proposals (RFC 9420 §12.1.1–12.1.3). Pure: each
 * returns a new tree and leaves its input as it was. Validating the proposals themselves (leaf
 * nodes, KeyPackages, who may send what) is the caller's part.
 */
import { MlsError } from '../errors.js';
import type { LeafNode } from '../messages/leafNode.js';
import * as math from './math.js';
import { NodeType, type NodeSlot } from './nodes.js';
import type { RatchetTree } from './ratchetTree.js';

/**
 * §12.1.1 Add: the new member takes the leftmost blank leaf, or the first leaf of a new right
 * half if there is none, and becomes an unmerged leaf of every non-blank parent above it.
 */
export function applyAdd(
  tree: RatchetTree,
  leaf: LeafNode,
): { tree: RatchetTree; leafIndex: number } {
  let leafIndex = tree.firstBlankLeaf();
  if (leafIndex === tree.leafCount) tree = tree.extended();
  const node = math.leafToNode(leafIndex);
  const updates: [number, NodeSlot][] = [[node, { nodeType: NodeType.leaf, leaf }]];
  for (const ancestor of math.directPath(node, tree.leafCount)) {
    const parent = tree.parent(ancestor);
    if (parent === undefined) continue;
    // unmerged_leaves stays sorted (§7.1); a re-used blank leaf may sit left of earlier ones.
    const unmergedLeaves = [...parent.unmergedLeaves.filter((l) => l !== leafIndex), leafIndex];
    unmergedLeaves.sort((a, b) => a - b);
    updates.push([ancestor, { nodeType: NodeType.parent, parent: { ...parent, unmergedLeaves } }]);
  }
  return { tree: tree.withNodes(updates), leafIndex };
}

/** §12.1.2 Update: the sender's leaf is replaced and every parent above it blanked. */
export function applyUpdate(tree: RatchetTree, leafIndex: number, leaf: LeafNode): RatchetTree {
  requireMember(tree, leafIndex, 'Update');
  return tree.withNodes([
    [math.leafToNode(leafIndex), { nodeType: NodeType.leaf, leaf }],
    ...blankedDirectPath(tree, leafIndex),
  ]);
}

/**
 * §12.1.3 Remove: the leaf and every parent above it are blanked, then the tree is halved for
 * as long as its right half is all blank.
 */
export function applyRemove(tree: RatchetTree, leafIndex: number): RatchetTree {
  requireMember(tree, leafIndex, 'Remove');
  const edited = tree.withNodes([
    [math.leafToNode(leafIndex), undefined],
    ...blankedDirectPath(tree, leafIndex),
  ]);
  return edited.truncated();
}

/** Edits that blank the direct path of a leaf (only its non-blank nodes need touching). */
export function blankedDirectPath(tree: RatchetTree, leafIndex: number): [number, NodeSlot][] {
  return tree
    .directPath(leafIndex)
    .filter((node) => !tree.isBlank(node))
    .map((node) => [node, undefined]);
}

function requireMember(tree: RatchetTree, leafIndex: number, proposal: string): void {
  if (!Number.isInteger(leafIndex) || tree.leaf(leafIndex) === undefined) {
    throw new MlsError('INVALID_PROPOSAL', `${proposal} names leaf ${leafIndex}, which is blank`);
  }
}
