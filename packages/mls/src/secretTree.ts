/**
 * The secret tree of one epoch (RFC 9420 §9) and the per-sender hash ratchets it seeds.
 *
 * A `SecretTree` is an immutable value: taking a key returns the key and a new tree, and the old
 * tree is left exactly as it was (so a caller can drop a message that later fails to verify and
 * keep the old tree). Tree-node secrets are derived lazily, only along the path to a leaf when
 * that leaf is first used, and the per-leaf ratchets live in a `PersistentArray`, so one message
 * costs O(log N) work and no O(N) copy even for very large groups.
 *
 * The deletion schedule (§9.2) holds for every tree value handed out: a node secret is dropped
 * once its children are derived, a leaf secret once its two ratchets are, a ratchet secret once
 * the next one is, and a key once it is taken. Keys of skipped generations are kept for
 * out-of-order delivery, within a bounded window (§15.3).
 *
 * A tree can also be cut down to what receiving some senders' application messages needs
 * (`retainApplicationRatchets`, for decrypt-only epoch readers): the other ratchets are then
 * deleted, and a key asked of a deleted ratchet is refused with `RATCHET_DELETED`.
 */
import { deriveTreeSecret, expandWithLabel } from './crypto/labels.js';
import type { CipherSuite } from './crypto/suites.js';
import { MlsError } from './errors.js';
import { ContentType } from './framing/content.js';
import * as math from './tree/math.js';
import { PersistentArray } from './tree/persistentArray.js';
import { EMPTY, utf8 } from './util/bytes.js';

/** Each member has a handshake ratchet (proposals, commits) and an application ratchet. */
export type RatchetType = 'handshake' | 'application';

/** The ratchet a message of `contentType` is encrypted with (§6.3.1). */
export function ratchetTypeOf(contentType: ContentType): RatchetType {
  return contentType === ContentType.application ? 'application' : 'handshake';
}

export interface SecretTreeOptions {
  /**
   * How far ahead of the next expected generation a received message may be: more would make a
   * recipient derive that many keys for one message (§15.3). Default 1000.
   */
  readonly maxForwardDistance?: number;
  /**
   * How many generations behind the newest one taken from a ratchet a message may still arrive:
   * keys of skipped generations in this window are kept, older ones deleted. So at most this many
   * keys are kept per ratchet. Default 128; 0 keeps none.
   */
  readonly outOfOrderTolerance?: number;
}

export const DEFAULT_MAX_FORWARD_DISTANCE = 1000;
export const DEFAULT_OUT_OF_ORDER_TOLERANCE = 128;

/** The AEAD key and nonce of one generation of a ratchet. */
export interface KeyAndNonce {
  readonly key: Uint8Array;
  readonly nonce: Uint8Array;
}

/** A sender ratchet: the secret of the next generation, plus keys kept for late messages. */
export interface HashRatchet {
  /** The generation `secret` belongs to: every lower one has been derived. */
  readonly generation: number;
  readonly secret: Uint8Array;
  /** Keys of generations skipped over and not yet taken, by generation. */
  readonly skipped: ReadonlyMap<number, KeyAndNonce>;
}

/**
 * The ratchets of one leaf. Both are present in a group state's tree; a ratchet deleted by
 * `retainApplicationRatchets` is absent, and its keys are refused with `RATCHET_DELETED`.
 */
export interface LeafRatchets {
  readonly handshake?: HashRatchet;
  readonly application?: HashRatchet;
}

export interface SecretTree {
  readonly suite: CipherSuite;
  /** Number of leaves of the ratchet tree, a power of two. */
  readonly leafCount: number;
  readonly maxForwardDistance: number;
  readonly outOfOrderTolerance: number;
  /** Node secrets not yet expanded into their children, by node index; at first only the root. */
  readonly nodeSecrets: PersistentArray<Uint8Array | undefined>;
  /**
   * The ratchets of each leaf, once that leaf has been used in this epoch (or its ratchets were
   * derived ahead of use, by `retainApplicationRatchets`).
   */
  readonly ratchets: PersistentArray<LeafRatchets | undefined>;
}

/** A key taken from a tree, with the tree that remains. */
export interface TakenKey extends KeyAndNonce {
  readonly generation: number;
  readonly tree: SecretTree;
}

const MAX_GENERATION = 0xffffffff;
const NO_SKIPPED: ReadonlyMap<number, KeyAndNonce> = new Map();
const LEFT = utf8('left');
const RIGHT = utf8('right');

/** The secret tree of an epoch: `encryptionSecret` at the root of a tree of `leafCount` leaves. */
export function createSecretTree(
  suite: CipherSuite,
  encryptionSecret: Uint8Array,
  leafCount: number,
  options: SecretTreeOptions = {},
): SecretTree {
  if (!Number.isInteger(leafCount) || leafCount < 1 || (leafCount & (leafCount - 1)) !== 0) {
    throw new RangeError(`a secret tree needs a power-of-two leaf count, not ${leafCount}`);
  }
  const maxForwardDistance = options.maxForwardDistance ?? DEFAULT_MAX_FORWARD_DISTANCE;
  const outOfOrderTolerance = options.outOfOrderTolerance ?? DEFAULT_OUT_OF_ORDER_TOLERANCE;
  for (const [name, value] of [
    ['maxForwardDistance', maxForwardDistance],
    ['outOfOrderTolerance', outOfOrderTolerance],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`invalid ${name} ${value}`);
  }
  const nodeSecrets = PersistentArray.filled<Uint8Array | undefined>(
    math.nodeWidth(leafCount),
    undefined,
  ).with([[math.root(leafCount), encryptionSecret]]);
  return {
    suite,
    leafCount,
    maxForwardDistance,
    outOfOrderTolerance,
    nodeSecrets,
    ratchets: PersistentArray.filled<LeafRatchets | undefined>(leafCount, undefined),
  };
}

/**
 * Takes the key of `generation` from the `type` ratchet of `leafIndex`, as a recipient does.
 * Refuses a leaf outside the tree (`INVALID_SENDER`), a deleted ratchet (`RATCHET_DELETED`), a
 * generation already taken (`GENERATION_REUSED`), one fallen out of the out-of-order window
 * (`GENERATION_TOO_OLD`) and one too far ahead (`GENERATION_TOO_FAR`). On any refusal no tree is
 * returned, and the given tree is unchanged as always.
 */
export function takeKey(
  tree: SecretTree,
  leafIndex: number,
  type: RatchetType,
  generation: number,
): TakenKey {
  if (!Number.isInteger(generation) || generation < 0 || generation > MAX_GENERATION) {
    throw new MlsError('INVALID_VALUE', `generation ${generation} is not a uint32`);
  }
  const { leaf, nodeSecrets } = leafRatchets(tree, leafIndex);
  const { keys, ratchet } = advance(tree, ratchetOf(leaf, leafIndex, type), generation);
  return {
    generation,
    ...keys,
    tree: withLeaf(tree, leafIndex, { ...leaf, [type]: ratchet }, nodeSecrets),
  };
}

/** Takes the next unused key of the `type` ratchet of `leafIndex`, as the sender does. */
export function takeNextKey(tree: SecretTree, leafIndex: number, type: RatchetType): TakenKey {
  const { leaf, nodeSecrets } = leafRatchets(tree, leafIndex);
  const current = ratchetOf(leaf, leafIndex, type);
  if (current.generation > MAX_GENERATION) {
    throw new MlsError('INVALID_STATE', `the ${type} ratchet of leaf ${leafIndex} is exhausted`);
  }
  const { keys, ratchet } = advance(tree, current, current.generation);
  return {
    generation: current.generation,
    ...keys,
    tree: withLeaf(tree, leafIndex, { ...leaf, [type]: ratchet }, nodeSecrets),
  };
}

/** The generation the next message of `type` from `leafIndex` will use, without taking it. */
export function nextGeneration(tree: SecretTree, leafIndex: number, type: RatchetType): number {
  checkLeaf(tree, leafIndex);
  const leaf = tree.ratchets.get(leafIndex);
  if (leaf) return ratchetOf(leaf, leafIndex, type).generation;
  if (!hasSecretFor(tree, leafIndex)) throw deleted(leafIndex, type);
  return 0;
}

/**
 * The tree cut down to receiving application messages from `senders` (leaf indices), for a
 * decrypt-only reader of the epoch: each sender keeps its application ratchet, with the keys
 * kept for its late messages, and nothing else is kept. Every handshake ratchet, the ratchets
 * of every other leaf and every node secret (from which they could be derived again) are
 * dropped; a sender's ratchet that was not derived yet is derived now, costing O(n) hashes in
 * all for n senders. A sender whose application ratchet is already deleted stays without one.
 * The given tree is left as it was.
 */
export function retainApplicationRatchets(tree: SecretTree, senders: Iterable<number>): SecretTree {
  const kept: [number, LeafRatchets][] = [];
  let source = tree;
  for (const leafIndex of new Set(senders)) {
    checkLeaf(tree, leafIndex);
    let leaf = source.ratchets.get(leafIndex);
    if (!leaf) {
      if (!hasSecretFor(source, leafIndex)) continue;
      const derived = leafRatchets(source, leafIndex);
      leaf = derived.leaf;
      // Later senders derive from the siblings' secrets kept on the way down.
      source = { ...source, nodeSecrets: derived.nodeSecrets };
    }
    if (leaf.application) kept.push([leafIndex, { application: leaf.application }]);
  }
  return {
    ...tree,
    nodeSecrets: PersistentArray.filled(math.nodeWidth(tree.leafCount), undefined),
    ratchets: PersistentArray.filled<LeafRatchets | undefined>(tree.leafCount, undefined).with(
      kept,
    ),
  };
}

function ratchetOf(leaf: LeafRatchets, leafIndex: number, type: RatchetType): HashRatchet {
  const ratchet = leaf[type];
  if (!ratchet) throw deleted(leafIndex, type);
  return ratchet;
}

function deleted(leafIndex: number, type: RatchetType): MlsError {
  return new MlsError(
    'RATCHET_DELETED',
    `the ${type} ratchet of leaf ${leafIndex} was deleted: this tree keeps no keys for it`,
  );
}

/** Whether a node on the root path of an unused leaf still holds the secret it derives from. */
function hasSecretFor(tree: SecretTree, leafIndex: number): boolean {
  const root = math.root(tree.leafCount);
  for (let node = math.leafToNode(leafIndex); ; node = math.parent(node, tree.leafCount)) {
    if (tree.nodeSecrets.get(node) !== undefined) return true;
    if (node === root) return false;
  }
}

function checkLeaf(tree: SecretTree, leafIndex: number): void {
  if (!Number.isInteger(leafIndex) || leafIndex < 0 || leafIndex >= tree.leafCount) {
    throw new MlsError(
      'INVALID_SENDER',
      `leaf ${leafIndex} is outside a tree of ${tree.leafCount} leaves`,
    );
  }
}

/**
 * The ratchets of a leaf, deriving them on first use: from the nearest ancestor that still holds
 * a secret, down to the leaf, keeping each sibling's secret on the way and dropping the rest.
 * Returns the node secrets to store alongside when they changed.
 */
function leafRatchets(
  tree: SecretTree,
  leafIndex: number,
): { leaf: LeafRatchets; nodeSecrets: SecretTree['nodeSecrets'] } {
  checkLeaf(tree, leafIndex);
  const existing = tree.ratchets.get(leafIndex);
  if (existing) return { leaf: existing, nodeSecrets: tree.nodeSecrets };

  const { suite, leafCount } = tree;
  const nh = suite.kdf.size;
  const target = math.leafToNode(leafIndex);
  let node = target;
  let secret = tree.nodeSecrets.get(node);
  while (secret === undefined) {
    // The root path of an unused leaf keeps one secret, unless the tree was cut down to some
    // senders (`retainApplicationRatchets`): then this leaf's ratchets were deleted.
    if (node === math.root(leafCount)) {
      throw new MlsError(
        'RATCHET_DELETED',
        `the ratchets of leaf ${leafIndex} were deleted: this tree keeps no keys for it`,
      );
    }
    node = math.parent(node, leafCount);
    secret = tree.nodeSecrets.get(node);
  }
  const updates: [number, Uint8Array | undefined][] = [[node, undefined]];
  while (node !== target) {
    const left = expandWithLabel(suite, secret, 'tree', LEFT, nh);
    const right = expandWithLabel(suite, secret, 'tree', RIGHT, nh);
    if (target < node) {
      updates.push([math.right(node), right]);
      node = math.left(node);
      secret = left;
    } else {
      updates.push([math.left(node), left]);
      node = math.right(node);
      secret = right;
    }
  }
  const leaf: LeafRatchets = {
    handshake: {
      generation: 0,
      secret: expandWithLabel(suite, secret, 'handshake', EMPTY, nh),
      skipped: NO_SKIPPED,
    },
    application: {
      generation: 0,
      secret: expandWithLabel(suite, secret, 'application', EMPTY, nh),
      skipped: NO_SKIPPED,
    },
  };
  return { leaf, nodeSecrets: tree.nodeSecrets.with(updates) };
}

function withLeaf(
  tree: SecretTree,
  leafIndex: number,
  leaf: LeafRatchets,
  nodeSecrets: SecretTree['nodeSecrets'],
): SecretTree {
  return { ...tree, nodeSecrets, ratchets: tree.ratchets.with([[leafIndex, leaf]]) };
}

/** ratchet_key_[j] and ratchet_nonce_[j] from ratchet_secret_[j]. */
function deriveKeyAndNonce(
  suite: CipherSuite,
  secret: Uint8Array,
  generation: number,
): KeyAndNonce {
  return {
    key: deriveTreeSecret(suite, secret, 'key', generation, suite.aead.keySize),
    nonce: deriveTreeSecret(suite, secret, 'nonce', generation, suite.aead.nonceSize),
  };
}

/** The key of `generation` and the ratchet after taking it. */
function advance(
  tree: SecretTree,
  ratchet: HashRatchet,
  generation: number,
): { keys: KeyAndNonce; ratchet: HashRatchet } {
  const { suite, outOfOrderTolerance: tolerance } = tree;

  if (generation < ratchet.generation) {
    const kept = ratchet.skipped.get(generation);
    if (kept) {
      const skipped = new Map(ratchet.skipped);
      skipped.delete(generation);
      return { keys: kept, ratchet: { ...ratchet, skipped: skipped.size ? skipped : NO_SKIPPED } };
    }
    const newest = ratchet.generation - 1;
    if (newest - generation > tolerance) {
      throw new MlsError(
        'GENERATION_TOO_OLD',
        `generation ${generation} is more than ${tolerance} behind ${newest}`,
      );
    }
    throw new MlsError('GENERATION_REUSED', `generation ${generation} has already been used`);
  }

  const distance = generation - ratchet.generation;
  if (distance > tree.maxForwardDistance) {
    throw new MlsError(
      'GENERATION_TOO_FAR',
      `generation ${generation} is ${distance} ahead of ${ratchet.generation}, more than ${tree.maxForwardDistance}`,
    );
  }

  // After this step `generation` is the newest taken; keep skipped keys no older than the window.
  const oldestKept = generation - tolerance;
  let skipped: Map<number, KeyAndNonce> | undefined;
  if (ratchet.skipped.size > 0 || (distance > 0 && tolerance > 0)) {
    skipped = new Map();
    for (const [g, keys] of ratchet.skipped) if (g >= oldestKept) skipped.set(g, keys);
  }

  const nh = suite.kdf.size;
  let secret = ratchet.secret;
  for (let g = ratchet.generation; g < generation; g++) {
    if (skipped && g >= oldestKept) skipped.set(g, deriveKeyAndNonce(suite, secret, g));
    secret = deriveTreeSecret(suite, secret, 'secret', g, nh);
  }
  const keys = deriveKeyAndNonce(suite, secret, generation);
  secret = deriveTreeSecret(suite, secret, 'secret', generation, nh);
  return {
    keys,
    ratchet: { generation: generation + 1, secret, skipped: skipped?.size ? skipped : NO_SKIPPED },
  };
}
