import type { Codec } from '../codec/index.js';
import { checkEnum } from '../codec/index.js';
import { leafNodeCodec, type LeafNode } from '../messages/leafNode.js';

/** RFC 9420 §7.1: an interior node's public state. */
export interface ParentNode {
  encryptionKey: Uint8Array;
  parentHash: Uint8Array;
  /** Leaf indices (not node indices) added below this node since it was last set, ascending. */
  unmergedLeaves: number[];
}

/** RFC 9420 §12.4.3.3 */
export const NodeType = { leaf: 1, parent: 2 } as const;
const NODE_TYPES = new Set<number>(Object.values(NodeType));

export type Node =
  | { nodeType: typeof NodeType.leaf; leaf: LeafNode }
  | { nodeType: typeof NodeType.parent; parent: ParentNode };

/** A node slot of the array representation; `undefined` is a blank node. */
export type NodeSlot = Node | undefined;

export const parentNodeCodec: Codec<ParentNode> = {
  encode(w, p) {
    w.opaque(p.encryptionKey);
    w.opaque(p.parentHash);
    w.vector(p.unmergedLeaves, (w, i) => w.u32(i));
  },
  decode: (r) => ({
    encryptionKey: r.opaque(),
    parentHash: r.opaque(),
    unmergedLeaves: r.vector((r) => r.u32()),
  }),
};

export const nodeCodec: Codec<Node> = {
  encode(w, n) {
    w.u8(n.nodeType);
    if (n.nodeType === NodeType.leaf) leafNodeCodec.encode(w, n.leaf);
    else parentNodeCodec.encode(w, n.parent);
  },
  decode(r) {
    const nodeType = checkEnum<1 | 2>(r.u8(), NODE_TYPES, 'NodeType');
    return nodeType === NodeType.leaf
      ? { nodeType, leaf: leafNodeCodec.decode(r) }
      : { nodeType, parent: parentNodeCodec.decode(r) };
  },
};

/**
 * `optional<Node> ratchet_tree<V>` (RFC 9420 §12.4.3.3), the content of the ratchet_tree
 * extension. Only the codec lives here; shape checks (odd length, leaves at even indices,
 * no trailing blanks) belong to the tree that is built from it.
 */
export const ratchetTreeCodec: Codec<NodeSlot[]> = {
  encode(w, nodes) {
    w.vector(nodes, (w, n) => w.optional(n, nodeCodec.encode));
  },
  decode: (r) => r.vector((r) => r.optional(nodeCodec.decode)),
};
