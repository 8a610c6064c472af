import type { KeyPair } from '../crypto/provider.js';
import { bytesEqual } from '../util/bytes.js';
import { leafToNode } from './math.js';
import type { RatchetTree } from './ratchetTree.js';

/**
 * The HPKE key pairs one member holds in a ratchet tree (RFC 9420 §4.2): its leaf's, and those of
 * the parent nodes on its direct path whose path secrets it learnt. Immutable, like the tree.
 *
 * Each private key is kept with its public key. Proposals and commits blank or replace nodes
 * without telling this structure, so a key counts only while the tree still holds its public key:
 * `forNode` checks that, and `matching` drops the keys that no longer fit.
 */
export class PrivateKeys {
  private constructor(
    /** The member's own leaf index. */
    readonly leafIndex: number,
    private readonly byNode: ReadonlyMap<number, KeyPair>,
  ) {}

  /** A member that holds only its leaf's key pair. */
  static forLeaf(leafIndex: number, leafKeyPair: KeyPair): PrivateKeys {
    return new PrivateKeys(leafIndex, new Map([[leafToNode(leafIndex), leafKeyPair]]));
  }

  /** Node indices with a key pair, ascending. */
  get nodes(): number[] {
    return [...this.byNode.keys()].sort((a, b) => a - b);
  }

  get(node: number): KeyPair | undefined {
    return this.byNode.get(node);
  }

  /** The private key for `node` if the tree's public key there is still the one it belongs to. */
  forNode(tree: RatchetTree, node: number): Uint8Array | undefined {
    const pair = this.byNode.get(node);
    if (pair === undefined || node >= tree.nodeCount) return undefined;
    const publicKey = tree.encryptionKey(node);
    return publicKey !== undefined && bytesEqual(publicKey, pair.publicKey)
      ? pair.privateKey
      : undefined;
  }

  with(entries: Iterable<readonly [number, KeyPair]>): PrivateKeys {
    const next = new Map(this.byNode);
    for (const [node, pair] of entries) next.set(node, pair);
    return new PrivateKeys(this.leafIndex, next);
  }

  without(nodes: Iterable<number>): PrivateKeys {
    const next = new Map(this.byNode);
    for (const node of nodes) next.delete(node);
    return new PrivateKeys(this.leafIndex, next);
  }

  /** Only the key pairs whose public keys `tree` still holds at their nodes. */
  matching(tree: RatchetTree): PrivateKeys {
    const stale = [...this.byNode.keys()].filter((node) => this.forNode(tree, node) === undefined);
    return stale.length === 0 ? this : this.without(stale);
  }
}
