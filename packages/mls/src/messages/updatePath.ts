import type { Codec } from '../codec/index.js';
import { leafNodeCodec, type LeafNode } from './leafNode.js';

/** RFC 9420 §7.6: output of EncryptWithLabel. */
export interface HpkeCiphertext {
  kemOutput: Uint8Array;
  ciphertext: Uint8Array;
}

export interface UpdatePathNode {
  encryptionKey: Uint8Array;
  /** One ciphertext per node in the resolution of the copath child, in order. */
  encryptedPathSecret: HpkeCiphertext[];
}

export interface UpdatePath {
  leafNode: LeafNode;
  nodes: UpdatePathNode[];
}

export const hpkeCiphertextCodec: Codec<HpkeCiphertext> = {
  encode(w, c) {
    w.opaque(c.kemOutput);
    w.opaque(c.ciphertext);
  },
  decode: (r) => ({ kemOutput: r.opaque(), ciphertext: r.opaque() }),
};

export const updatePathNodeCodec: Codec<UpdatePathNode> = {
  encode(w, n) {
    w.opaque(n.encryptionKey);
    w.vector(n.encryptedPathSecret, hpkeCiphertextCodec.encode);
  },
  decode: (r) => ({
    encryptionKey: r.opaque(),
    encryptedPathSecret: r.vector(hpkeCiphertextCodec.decode),
  }),
};

export const updatePathCodec: Codec<UpdatePath> = {
  encode(w, p) {
    leafNodeCodec.encode(w, p.leafNode);
    w.vector(p.nodes, updatePathNodeCodec.encode);
  },
  decode: (r) => ({
    leafNode: leafNodeCodec.decode(r),
    nodes: r.vector(updatePathNodeCodec.decode),
  }),
};
