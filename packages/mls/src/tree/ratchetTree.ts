import { MlsError } from '../errors.js';
import { bytesEqual } from '../util/bytes.js';
import type { LeafNode } from '../messages/leafNode.js';
import * as math from './math.js';
import { MemberIndex } from './memberIndex.js';
import { NodeType, type NodeSlot, type ParentNode } from './nodes.js';
import { PersistentArray } from './persistentArray.js';

/**
 * The public ratchet tree (RFC 9420 §7): a perfect binary tree in array form whose slots are
 * blank or hold a leaf or parent node. Immutable: every edit returns a new tree that shares its
 * untouched parts with the old one, so keeping many epochs costs little.
 *
 * Each tree also remembers the tree hashes (§7.8) it has computed. A node's hash depends only on
 * its subtree, so an edit forgets the hashes of the edited nodes and their ancestors and keeps
 * the rest, shared with the tree it came from.
 */
export class RatchetTree {
  private constructor(
    /** Number of leaves, a power of two. */
    readonly leafCount: number,
    private readonly nodes: PersistentArray<NodeSlot>,
    /** Cached tree hashes by node index; filled lazily, see treeHash.ts. */
    readonly hashCache: HashCache,
    /** Built on first use, then carried from tree to tree through edits. */
    private index: MemberIndex | undefined,
  ) {}

  /** Member keys and credential facts of this tree (memberIndex.ts). */
  get memberIndex(): MemberIndex {
    this.index ??= MemberIndex.build(this.nodes.toArray());
    return this.index;
  }

  /** Nodes holding encryption key `key`, ascending. */
  nodesWithEncryptionKey(key: Uint8Array): number[] {
    return this.memberIndex
      .encryptionKeyCandidates(key)
      .filter((node) => {
        const held = node < this.nodeCount ? this.encryptionKey(node) : undefined;
        return held !== undefined && bytesEqual(held, key);
      })
      .sort((a, b) => a - b);
  }

  /** Leaves holding signature key `key`, ascending. */
  leavesWithSignatureKey(key: Uint8Array): number[] {
    return this.memberIndex
      .signatureKeyCandidates(key)
      .filter((leaf) => {
        const held = this.leaf(leaf)?.signatureKey;
        return held !== undefined && bytesEqual(held, key);
      })
      .sort((a, b) => a - b);
  }

  /** A one-member tree. */
  static single(leaf: LeafNode): RatchetTree {
    return RatchetTree.fromNodeList([{ nodeType: NodeType.leaf, leaf }]);
  }

  /**
   * Builds a tree from the `ratchet_tree` extension's node list (RFC 9420 §12.4.3.3): the last
   * node must be non-blank, the list is padded with blanks to 2^(d+1) - 1 nodes, and leaf and
   * parent nodes must sit at even and odd positions respectively.
   */
  static fromNodeList(list: readonly NodeSlot[]): RatchetTree {
    if (list.length === 0) throw new MlsError('INVALID_TREE', 'ratchet tree is empty');
    if (list[list.length - 1] === undefined) {
      throw new MlsError('INVALID_TREE', 'ratchet tree ends in a blank node');
    }
    let leafCount = 1;
    while (math.nodeWidth(leafCount) < list.length) leafCount *= 2;
    const slots = list.slice();
    list.forEach((slot, i) => {
      if (slot === undefined) return;
      const wantLeaf = math.isLeaf(i);
      if ((slot.nodeType === NodeType.leaf) !== wantLeaf) {
        throw new MlsError(
          'INVALID_TREE',
          `node ${i} is a ${slot.nodeType === NodeType.leaf ? 'leaf' : 'parent'} at a ${wantLeaf ? 'leaf' : 'parent'} position`,
        );
      }
    });
    while (slots.length < math.nodeWidth(leafCount)) slots.push(undefined);
    return new RatchetTree(
      leafCount,
      PersistentArray.from(slots),
      HashCache.empty(slots.length),
      undefined,
    );
  }

  /** The node list for the `ratchet_tree` extension: trailing blanks removed. */
  toNodeList(): NodeSlot[] {
    const list = this.nodes.toArray();
    while (list.length > 0 && list[list.length - 1] === undefined) list.pop();
    return list;
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  get root(): number {
    return math.root(this.leafCount);
  }

  node(index: number): NodeSlot {
    return this.nodes.get(index);
  }

  isBlank(index: number): boolean {
    return this.nodes.get(index) === undefined;
  }

  leaf(leafIndex: number): LeafNode | undefined {
    if (leafIndex < 0 || leafIndex >= this.leafCount) return undefined;
    const slot = this.nodes.get(math.leafToNode(leafIndex));
    return slot?.nodeType === NodeType.leaf ? slot.leaf : undefined;
  }

  parent(index: number): ParentNode | undefined {
    const slot = this.nodes.get(index);
    return slot?.nodeType === NodeType.parent ? slot.parent : undefined;
  }

  /** The HPKE public key held at a node, if it is not blank. */
  encryptionKey(index: number): Uint8Array | undefined {
    const slot = this.nodes.get(index);
    if (slot === undefined) return undefined;
    return slot.nodeType === NodeType.leaf ? slot.leaf.encryptionKey : slot.parent.encryptionKey;
  }

  /** Leaf indices and leaf nodes of every member, in index order. */
  *members(): Generator<[number, LeafNode]> {
    for (let i = 0; i < this.leafCount; i++) {
      const leaf = this.leaf(i);
      if (leaf) yield [i, leaf];
    }
  }

  /** The leftmost blank leaf, or `leafCount` if every leaf is taken (RFC 9420 §12.1.1). */
  firstBlankLeaf(): number {
    for (let i = 0; i < this.leafCount; i++) {
      if (this.isBlank(math.leafToNode(i))) return i;
    }
    return this.leafCount;
  }

  /**
   * The resolution of a node (RFC 9420 §4.1.1): the nearest non-blank nodes covering its
   * subtree, left to right, each non-blank parent followed by its unmerged leaves.
   */
  resolution(index: number, exclude?: ReadonlySet<number>): number[] {
    const out: number[] = [];
    this.collectResolution(index, out, exclude);
    return out;
  }

  private collectResolution(index: number, out: number[], exclude?: ReadonlySet<number>): void {
    const slot = this.nodes.get(index);
    if (slot === undefined) {
      if (math.isLeaf(index)) return;
      this.collectResolution(math.left(index), out, exclude);
      this.collectResolution(math.right(index), out, exclude);
      return;
    }
    if (!exclude?.has(index)) out.push(index);
    if (slot.nodeType === NodeType.parent) {
      for (const leaf of slot.parent.unmergedLeaves) {
        const node = math.leafToNode(leaf);
        if (!exclude?.has(node)) out.push(node);
      }
    }
  }

  /** Whether a node's resolution is empty, without building it. */
  private resolutionIsEmpty(index: number): boolean {
    if (this.nodes.get(index) !== undefined) return false;
    if (math.isLeaf(index)) return true;
    return this.resolutionIsEmpty(math.left(index)) && this.resolutionIsEmpty(math.right(index));
  }

  directPath(leafIndex: number): number[] {
    return math.directPath(math.leafToNode(leafIndex), this.leafCount);
  }

  /**
   * The filtered direct path of a leaf (RFC 9420 §4.1.2): its direct path without the nodes
   * whose copath child has an empty resolution. Returned with the copath child of each node.
   */
  filteredDirectPath(leafIndex: number): { node: number; copathChild: number }[] {
    const out: { node: number; copathChild: number }[] = [];
    let child = math.leafToNode(leafIndex);
    const rootIndex = this.root;
    while (child !== rootIndex) {
      const node = math.parent(child, this.leafCount);
      const copathChild = math.sibling(child, this.leafCount);
      if (!this.resolutionIsEmpty(copathChild)) out.push({ node, copathChild });
      child = node;
    }
    return out;
  }

  /** A new tree with the given slots replaced. */
  withNodes(updates: readonly (readonly [number, NodeSlot])[]): RatchetTree {
    if (updates.length === 0) return this;
    const final = new Map(updates); // a node edited twice keeps its last value
    return new RatchetTree(
      this.leafCount,
      this.nodes.with(final),
      this.hashCache.invalidate([...final.keys()], this.leafCount),
      this.index?.edited(final, (node) => this.nodes.get(node), this.nodeCount),
    );
  }

  withLeaf(leafIndex: number, leaf: LeafNode | undefined): RatchetTree {
    const slot: NodeSlot = leaf && { nodeType: NodeType.leaf, leaf };
    return this.withNodes([[math.leafToNode(leafIndex), slot]]);
  }

  /** Doubles the leaf count: the old tree becomes the left subtree of a new blank root (§7.7). */
  extended(): RatchetTree {
    const width = math.nodeWidth(this.leafCount * 2);
    return new RatchetTree(
      this.leafCount * 2,
      this.nodes.resize(width, undefined),
      this.hashCache.resize(width),
      this.index, // only blank nodes are added
    );
  }

  /** Halves the tree while its right half is entirely blank, keeping at least one leaf (§7.7). */
  truncated(): RatchetTree {
    let leafCount = this.leafCount;
    while (leafCount > 1 && this.halfIsBlank(leafCount)) leafCount /= 2;
    if (leafCount === this.leafCount) return this;
    const width = math.nodeWidth(leafCount);
    return new RatchetTree(
      leafCount,
      this.nodes.resize(width, undefined),
      this.hashCache.resize(width),
      this.index, // dropped nodes are blank leaves and parents whose entries lookups ignore
    );
  }

  private halfIsBlank(leafCount: number): boolean {
    for (let i = leafCount / 2; i < leafCount; i++) {
      if (!this.isBlank(math.leafToNode(i))) return false;
    }
    return true;
  }
}

/**
 * Tree hashes by node index. Filling in a missing entry writes in place even where the storage is
 * shared with another tree: sharing only survives for nodes whose subtrees are identical in both
 * trees, so the value written is right for both.
 */
export class HashCache {
  private constructor(private readonly slots: PersistentArray<Uint8Array | undefined>) {}

  static empty(length: number): HashCache {
    return new HashCache(PersistentArray.filled<Uint8Array | undefined>(length, undefined));
  }

  get(index: number): Uint8Array | undefined {
    return this.slots.get(index);
  }

  fill(index: number, hash: Uint8Array): void {
    this.slots.setInPlace(index, hash);
  }

  /** Forgets the hashes of `changed` nodes and of all their ancestors. */
  invalidate(changed: readonly number[], leafCount: number): HashCache {
    const stale = new Set<number>();
    const rootIndex = math.root(leafCount);
    for (let node of changed) {
      stale.add(node);
      while (node !== rootIndex) {
        node = math.parent(node, leafCount);
        if (stale.has(node)) break;
        stale.add(node);
      }
    }
    return new HashCache(this.slots.with([...stale].map((i) => [i, undefined] as const)));
  }

  resize(length: number): HashCache {
    // The old root's position may become an interior node of a larger tree or vanish; either way
    // nodes above the old root are new and start empty, which `resize` guarantees.
    return new HashCache(this.slots.resize(length, undefined));
  }
}
