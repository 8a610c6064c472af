import { Writer } from '../codec/index.js';
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
  const w = new Writer();
  const slot = tree.node(node);
  if (math.isLeaf(node)) {
    w.u8(NodeType.leaf);
    w.u32(math.nodeToLeaf(node));
    w.optional(slot?.nodeType === NodeType.leaf ? slot.leaf : undefined, leafNodeCodec.encode);
  } else {
    const left = treeHash(tree, hash, math.left(node));
    const right = treeHash(tree, hash, math.right(node));
    w.u8(NodeType.parent);
    w.optional(
      slot?.nodeType === NodeType.parent ? slot.parent : undefined,
      parentNodeCodec.encode,
    );
    w.opaque(left);
    w.opaque(right);
  }
  const result = hash.digest(w.finish());
  tree.hashCache.fill(node, result);
  return result;
}
