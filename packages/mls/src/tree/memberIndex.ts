import type { LeafNode } from '../messages/leafNode.js';
import * as math from './math.js';
import { NodeType, type NodeSlot } from './nodes.js';

/**
 * What validating a leaf needs to know about all members at once (RFC 9420 §7.3: unique keys,
 * credential types supported by everyone), kept up to date edit by edit so that a commit in a
 * large group never scans the whole tree.
 *
 * The key directory is shared by a tree and every tree derived from it, and entries are only
 * ever added: for any one tree an entry may be stale, so lookups confirm each hit against the
 * tree asked about. It is complete for every tree it serves, because every key written into
 * those trees was recorded on the way in.
 */
export class MemberIndex {
  private constructor(
    private readonly directory: KeyDirectory,
    /** Number of non-blank leaves. */
    readonly members: number,
    /** Credential type → number of members whose credential has it. */
    readonly credentialTypes: ReadonlyMap<number, number>,
    /** Credential type → number of members listing it in their capabilities. */
    readonly credentialSupport: ReadonlyMap<number, number>,
  ) {}

  /** The index of a tree given as its node slots, by node index. */
  static build(slots: readonly NodeSlot[]): MemberIndex {
    const directory = new KeyDirectory();
    const counts = new Counts(0, new Map(), new Map());
    slots.forEach((slot, node) => {
      directory.record(node, slot);
      if (slot?.nodeType === NodeType.leaf) counts.count(slot.leaf, 1);
    });
    return new MemberIndex(directory, counts.members, counts.types, counts.support);
  }

  /**
   * The index after `updates`, given each updated node's value before the edit. Returns
   * undefined when stale entries have piled up, so the caller rebuilds from scratch.
   */
  edited(
    updates: ReadonlyMap<number, NodeSlot>,
    before: (node: number) => NodeSlot,
    nodeCount: number,
  ): MemberIndex | undefined {
    if (this.directory.entries > 4 * nodeCount + 256) return undefined;
    const counts = new Counts(
      this.members,
      new Map(this.credentialTypes),
      new Map(this.credentialSupport),
    );
    for (const [node, slot] of updates) {
      this.directory.record(node, slot);
      if (!math.isLeaf(node)) continue;
      const old = before(node);
      if (old?.nodeType === NodeType.leaf) counts.count(old.leaf, -1);
      if (slot?.nodeType === NodeType.leaf) counts.count(slot.leaf, 1);
    }
    return new MemberIndex(this.directory, counts.members, counts.types, counts.support);
  }

  /** Candidate nodes holding encryption key `key`; the caller confirms each. */
  encryptionKeyCandidates(key: Uint8Array): readonly number[] {
    return this.directory.encryption.get(keyString(key)) ?? [];
  }

  /** Candidate leaves holding signature key `key`; the caller confirms each. */
  signatureKeyCandidates(key: Uint8Array): readonly number[] {
    return this.directory.signature.get(keyString(key)) ?? [];
  }
}

/**
 * Byte strings as Map keys: one UTF-16 unit per byte, cheaper to build than hex. `apply` takes
 * the bytes as arguments directly (spreading them first costs four times as much), in slices,
 * because a received key may be long enough to overflow the stack as one argument list.
 */
function keyString(bytes: Uint8Array): string {
  const slice = 4096;
  if (bytes.length <= slice) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  let s = '';
  for (let i = 0; i < bytes.length; i += slice) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + slice) as unknown as number[]);
  }
  return s;
}

class KeyDirectory {
  /** Encryption key → node indices (leaves and parents). */
  readonly encryption = new Map<string, number[]>();
  /** Signature key → leaf indices. */
  readonly signature = new Map<string, number[]>();
  entries = 0;

  record(node: number, slot: NodeSlot): void {
    if (slot === undefined) return;
    if (slot.nodeType === NodeType.leaf) {
      this.add(this.encryption, slot.leaf.encryptionKey, node);
      this.add(this.signature, slot.leaf.signatureKey, math.nodeToLeaf(node));
    } else {
      this.add(this.encryption, slot.parent.encryptionKey, node);
    }
  }

  private add(map: Map<string, number[]>, key: Uint8Array, index: number): void {
    const k = keyString(key);
    const list = map.get(k);
    if (list === undefined) map.set(k, [index]);
    else if (!list.includes(index)) list.push(index);
    else return;
    this.entries++;
  }
}

class Counts {
  constructor(
    public members: number,
    readonly types: Map<number, number>,
    readonly support: Map<number, number>,
  ) {}

  count(leaf: LeafNode, by: 1 | -1): void {
    this.members += by;
    bump(this.types, leaf.credential.credentialType, by);
    for (const t of new Set(leaf.capabilities.credentials)) bump(this.support, t, by);
  }
}

function bump(map: Map<number, number>, key: number, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n === 0) map.delete(key);
  else map.set(key, n);
}
