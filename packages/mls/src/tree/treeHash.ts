import { encodeTransient } from '../codec/index.js';
import type { Hash } from '../crypto/provider.js';
import { leafNodeCodec } from '../messages/leafNode.js';
import * as math from './math.js';
import { NodeType, parentNodeCodec } from './nodes.js';
import type { RatchetTree } from './ratchetTree.js';

/**
 * Tree hash of the subtree under `node` (RFC 9420 §7.8), memoised in the tree so that after an
 * edit only the edited nodes and their ancestors are hashed again.
 */
export function treeHash(tree: RatchetTree, hash: Hash, node: number = tree.root): Uint8Array {
  const cached = tree.hashCache.get(node);
  if (cached) return cached;
  const slot = tree.node(node);
  let result: Uint8Array;
  if (math.isLeaf(node)) {
    result = encodeTransient((w) => {
      w.u8(NodeType.leaf);
      w.u32(math.nodeToLeaf(node));
      w.optional(slot?.nodeType === NodeType.leaf ? slot.leaf : undefined, leafNodeCodec.encode);
    }, hash.digest);
  } else {
    // The children first, so that one encoding is in progress at a time.
    const left = treeHash(tree, hash, math.left(node));
    const right = treeHash(tree, hash, math.right(node));
    result = encodeTransient((w) => {
      w.u8(NodeType.parent);
      const parent = slot?.nodeType === NodeType.parent ? slot.parent : undefined;
      w.optional(parent, parentNodeCodec.encode);
      w.opaque(left);
      w.opaque(right);
    }, hash.digest);
  }
  tree.hashCache.fill(node, result);
  return result;
}
