/**
 * TreeKEM (RFC 9420 §7.4–7.6): creating an UpdatePath as a committer, and merging and decrypting
 * one as a receiver. Works on the tree after the commit's proposals have been applied (§12.4.1,
 * §12.4.2): filtered direct paths and resolutions are those of that tree.
 */
import { decryptWithLabel, deriveSecret, encryptWithLabelEach } from '../crypto/labels.js';
import type { KeyPair } from '../crypto/provider.js';
import type { CipherSuite } from '../crypto/suites.js';
import { MlsError } from '../errors.js';
import type { Credential } from '../credentials/credential.js';
import type { Extension } from '../extensions/extension.js';
import { LeafNodeSource, type LeafNode } from '../messages/leafNode.js';
import type { UpdatePath, UpdatePathNode } from '../messages/updatePath.js';
import { bytesEqual, EMPTY } from '../util/bytes.js';
import { signLeafNode, validateLeafNode } from './leafNodeValidation.js';
import * as math from './math.js';
import { NodeType, type NodeSlot } from './nodes.js';
import { blankedDirectPath } from './operations.js';
import { pathParentHashes } from './parentHash.js';
import { PrivateKeys } from './privateKeys.js';
import type { RatchetTree } from './ratchetTree.js';
import { treeHash } from './treeHash.js';

/** The path secret of one node of a filtered direct path. */
export interface PathSecret {
  node: number;
  pathSecret: Uint8Array;
}

/** What both sides of an UpdatePath need to know about the commit carrying it. */
export interface UpdatePathContext {
  suite: CipherSuite;
  groupId: Uint8Array;
  /** Leaves added by this commit's Add proposals: they get their path secret in the Welcome. */
  newMembers?: readonly number[];
  /**
   * The encoded provisional GroupContext (§12.4.1) for the tree hash of the tree with the path
   * merged: the context under which every path secret is encrypted. Called once per path.
   */
  provisionalGroupContext(treeHash: Uint8Array): Uint8Array;
}

/** HPKE key pair of a node from its path secret (§7.4): DeriveKeyPair(DeriveSecret(ps, "node")). */
export function nodeKeyPair(suite: CipherSuite, pathSecret: Uint8Array): KeyPair {
  return suite.kem.deriveKeyPair(deriveSecret(suite, pathSecret, 'node'));
}

/** path_secret[n+1] = DeriveSecret(path_secret[n], "path") (§7.4). */
export function nextPathSecret(suite: CipherSuite, pathSecret: Uint8Array): Uint8Array {
  return deriveSecret(suite, pathSecret, 'path');
}

function excludedNodes(newMembers: readonly number[] | undefined): ReadonlySet<number> {
  return new Set((newMembers ?? []).map(math.leafToNode));
}

// ---------------------------------------------------------------------------------------------
// Committer

export interface CreateUpdatePathInput extends UpdatePathContext {
  /** The tree after the commit's proposals; for an external commit, with the sender's leaf blank. */
  tree: RatchetTree;
  leafIndex: number;
  /** The committer's new leaf node content; the rest (keys, source, signature) is set here. */
  leafNode: {
    signatureKey: Uint8Array;
    credential: Credential;
    capabilities: LeafNode['capabilities'];
    extensions: Extension[];
  };
  signaturePrivateKey: Uint8Array;
}

export interface CreatedUpdatePath {
  updatePath: UpdatePath;
  /** The tree with the path merged: what the new epoch's GroupContext hashes. */
  tree: RatchetTree;
  treeHash: Uint8Array;
  /** path_secret[n+1], one past the last node's (§12.4.1). */
  commitSecret: Uint8Array;
  /** One per filtered-direct-path node, leaf to root; new members get theirs in the Welcome. */
  pathSecrets: PathSecret[];
  /** The committer's key pairs: the new leaf's and those of its filtered direct path. */
  privateKeys: PrivateKeys;
}

/**
 * Updates the committer's direct path (§7.5): blanks it, gives every node of the filtered direct
 * path a key pair from a fresh chain of path secrets, links them by parent hash, signs the new
 * leaf, and encrypts each path secret to the resolution of the node's copath child minus the new
 * members, under the provisional GroupContext of the resulting tree.
 */
export function createUpdatePath(input: CreateUpdatePathInput): CreatedUpdatePath {
  const { suite, tree, leafIndex } = input;
  if (!(Number.isInteger(leafIndex) && leafIndex >= 0 && leafIndex < tree.leafCount)) {
    throw new MlsError('INVALID_STATE', `committer leaf ${leafIndex} is outside the tree`);
  }
  const path = tree.filteredDirectPath(leafIndex);

  const pathSecrets: PathSecret[] = [];
  const keyPairs: [number, KeyPair][] = [];
  let secret = suite.provider.randomBytes(suite.kdf.size);
  for (const { node } of path) {
    pathSecrets.push({ node, pathSecret: secret });
    keyPairs.push([node, nodeKeyPair(suite, secret)]);
    secret = nextPathSecret(suite, secret);
  }
  const commitSecret = secret;

  const leafKeyPair = suite.kem.generateKeyPair();
  // Picked field by field: the template may be a whole LeafNode with source-specific fields.
  const { signatureKey, credential, capabilities, extensions } = input.leafNode;
  const { merged, leafParentHash } = mergePublicKeys(
    suite,
    tree,
    leafIndex,
    keyPairs.map(([, pair]) => pair.publicKey),
  );
  const leaf = signLeafNode(
    suite,
    input.signaturePrivateKey,
    {
      encryptionKey: leafKeyPair.publicKey,
      signatureKey,
      credential,
      capabilities,
      leafNodeSource: LeafNodeSource.commit,
      parentHash: leafParentHash,
      extensions,
      signature: EMPTY,
    },
    input.groupId,
    leafIndex,
  );
  const newTree = merged.withNodes([
    [math.leafToNode(leafIndex), { nodeType: NodeType.leaf, leaf }],
  ]);
  const newTreeHash = treeHash(newTree, suite.hash);
  const context = input.provisionalGroupContext(newTreeHash);

  const exclude = excludedNodes(input.newMembers);
  const nodes: UpdatePathNode[] = path.map(({ copathChild }, i) => ({
    encryptionKey: keyPairs[i]![1].publicKey,
    encryptedPathSecret: encryptWithLabelEach(
      suite,
      'UpdatePathNode',
      context,
      newTree.resolution(copathChild, exclude).map((target) => ({
        publicKey: newTree.encryptionKey(target)!,
        plaintext: pathSecrets[i]!.pathSecret,
      })),
    ),
  }));

  return {
    updatePath: { leafNode: leaf, nodes },
    tree: newTree,
    treeHash: newTreeHash,
    commitSecret,
    pathSecrets,
    privateKeys: PrivateKeys.forLeaf(leafIndex, leafKeyPair).with(keyPairs),
  };
}

/** The path secret a new member at `leafIndex` gets in its Welcome: its common ancestor's. */
export function pathSecretForNewMember(
  created: Pick<CreatedUpdatePath, 'pathSecrets'>,
  committerLeafIndex: number,
  leafIndex: number,
): PathSecret | undefined {
  const ancestor = math.commonAncestor(
    math.leafToNode(committerLeafIndex),
    math.leafToNode(leafIndex),
  );
  return created.pathSecrets.find((p) => p.node === ancestor);
}

/**
 * "Merges UpdatePath into the tree" (§7.5), without the leaf: blanks the direct path, sets the
 * filtered direct path's keys with empty unmerged_leaves, then fills in their parent hashes.
 */
function mergePublicKeys(
  suite: CipherSuite,
  tree: RatchetTree,
  leafIndex: number,
  publicKeys: readonly Uint8Array[],
): { merged: RatchetTree; leafParentHash: Uint8Array } {
  const path = tree.filteredDirectPath(leafIndex);
  const withKeys = tree.withNodes([
    ...blankedDirectPath(tree, leafIndex),
    ...path.map(({ node }, i): [number, NodeSlot] => [
      node,
      {
        nodeType: NodeType.parent,
        parent: { encryptionKey: publicKeys[i]!, parentHash: EMPTY, unmergedLeaves: [] },
      },
    ]),
  ]);
  const { edits, leafParentHash } = pathParentHashes(withKeys, suite.hash, path);
  return { merged: withKeys.withNodes(edits), leafParentHash };
}

// ---------------------------------------------------------------------------------------------
// Receiver

export interface MergeUpdatePathInput extends UpdatePathContext {
  /** The tree after the commit's proposals (for an external commit, with the sender's leaf). */
  tree: RatchetTree;
  senderLeafIndex: number;
  updatePath: UpdatePath;
  /** The new epoch's GroupContext extensions, which the committer's leaf must support. */
  extensions: readonly Extension[];
  /** Passed to leaf validation: see `LeafValidationContext`. */
  now?: bigint;
  validateCredential?: (credential: Credential, signatureKey: Uint8Array) => boolean;
}

export interface MergedUpdatePath {
  tree: RatchetTree;
  treeHash: Uint8Array;
  /** The provisional GroupContext the path secrets are encrypted under. */
  context: Uint8Array;
  /** What the path came with, for `decryptUpdatePath`. */
  senderLeafIndex: number;
  updatePath: UpdatePath;
  newMembers: readonly number[];
}

/**
 * Validates an UpdatePath and merges it into the tree (§12.4.2): the committer's leaf node must
 * be valid for a commit (§7.3), the path must have one node per filtered-direct-path node with
 * one ciphertext per resolution node (new members excluded) (`INVALID_PATH`), its keys must be
 * new to the tree (`DUPLICATE_KEY`), and the leaf's parent hash must be the one the merged path
 * yields (`BAD_PARENT_HASH`).
 */
export function mergeUpdatePath(input: MergeUpdatePathInput): MergedUpdatePath {
  const { suite, tree, senderLeafIndex: sender, updatePath } = input;
  if (!(Number.isInteger(sender) && sender >= 0 && sender < tree.leafCount)) {
    throw new MlsError('INVALID_PATH', `UpdatePath sender ${sender} is outside the tree`);
  }
  validateLeafNode(
    updatePath.leafNode,
    { use: 'commit', leafIndex: sender },
    {
      suite,
      tree,
      groupId: input.groupId,
      extensions: input.extensions,
      ...(input.now !== undefined && { now: input.now }),
      ...(input.validateCredential && { validateCredential: input.validateCredential }),
    },
  );

  const path = tree.filteredDirectPath(sender);
  if (updatePath.nodes.length !== path.length) {
    throw new MlsError(
      'INVALID_PATH',
      `UpdatePath has ${updatePath.nodes.length} nodes, the filtered direct path ${path.length}`,
    );
  }
  const exclude = excludedNodes(input.newMembers);
  path.forEach(({ node, copathChild }, i) => {
    const expected = tree.resolution(copathChild, exclude).length;
    const got = updatePath.nodes[i]!.encryptedPathSecret.length;
    if (got !== expected) {
      throw new MlsError(
        'INVALID_PATH',
        `UpdatePath node for ${node} has ${got} ciphertexts, its copath resolution ${expected} nodes`,
      );
    }
  });

  const keys = updatePath.nodes.map((n) => n.encryptionKey);
  keys.forEach((key, i) => {
    const held = tree.nodesWithEncryptionKey(key);
    const repeated = [updatePath.leafNode.encryptionKey, ...keys.slice(0, i)].some((k) =>
      bytesEqual(k, key),
    );
    if (held.length > 0 || repeated) {
      throw new MlsError(
        'DUPLICATE_KEY',
        `UpdatePath key for node ${path[i]!.node} is ${repeated ? 'repeated in the path' : `already held by node ${held[0]}`}`,
      );
    }
  });

  const { merged, leafParentHash } = mergePublicKeys(suite, tree, sender, keys);
  const leaf = updatePath.leafNode;
  if (
    leaf.leafNodeSource !== LeafNodeSource.commit ||
    !bytesEqual(leaf.parentHash, leafParentHash)
  ) {
    throw new MlsError(
      'BAD_PARENT_HASH',
      `committer leaf ${sender}: parent_hash does not match the merged UpdatePath`,
    );
  }
  const newTree = merged.withNodes([[math.leafToNode(sender), { nodeType: NodeType.leaf, leaf }]]);
  const newTreeHash = treeHash(newTree, suite.hash);
  return {
    tree: newTree,
    treeHash: newTreeHash,
    context: input.provisionalGroupContext(newTreeHash),
    senderLeafIndex: sender,
    updatePath,
    newMembers: input.newMembers ?? [],
  };
}

export interface ApplyUpdatePathInput extends MergeUpdatePathInput {
  /** The receiver's key pairs before the commit. */
  privateKeys: PrivateKeys;
}

export interface DecryptedUpdatePath {
  /** The receiver's key pairs after the commit: stale ones dropped, the path's new ones added. */
  privateKeys: PrivateKeys;
  commitSecret: Uint8Array;
  /** The path secrets the receiver learnt: from the decrypted one up to the last, leaf to root. */
  pathSecrets: PathSecret[];
}

export interface AppliedUpdatePath extends DecryptedUpdatePath {
  tree: RatchetTree;
  treeHash: Uint8Array;
  context: Uint8Array;
}

/**
 * Processes an UpdatePath as a member other than its sender (§7.5, §12.4.2): `mergeUpdatePath`
 * then `decryptUpdatePath`.
 */
export function applyUpdatePath(input: ApplyUpdatePathInput): AppliedUpdatePath {
  checkReceiver(input.privateKeys.leafIndex, input.senderLeafIndex, input.newMembers ?? []);
  const merged = mergeUpdatePath(input);
  const { tree, treeHash, context } = merged;
  return { tree, treeHash, context, ...decryptUpdatePath(input.suite, merged, input.privateKeys) };
}

function checkReceiver(receiver: number, sender: number, newMembers: readonly number[]): void {
  if (receiver === sender) {
    throw new MlsError('INVALID_STATE', 'the committer does not process its own UpdatePath');
  }
  if (newMembers.includes(receiver)) {
    throw new MlsError(
      'INVALID_STATE',
      `leaf ${receiver} joins in this commit: it uses the Welcome`,
    );
  }
}

/**
 * The receiver's half of an UpdatePath that `mergeUpdatePath` accepted: decrypts the path secret
 * of the lowest path node above the receiver, with the key it holds for a node of that node's
 * copath resolution, derives the secrets above it, and checks that their public keys are the
 * ones sent (`INVALID_PATH`).
 */
export function decryptUpdatePath(
  suite: CipherSuite,
  merged: MergedUpdatePath,
  privateKeys: PrivateKeys,
): DecryptedUpdatePath {
  const { tree, senderLeafIndex: sender } = merged;
  const receiver = privateKeys.leafIndex;
  checkReceiver(receiver, sender, merged.newMembers);

  const receiverNode = math.leafToNode(receiver);
  const path = tree.filteredDirectPath(sender);
  const start = path.findIndex(({ copathChild }) => math.isInSubtree(receiverNode, copathChild));
  if (start < 0) {
    throw new MlsError('INVALID_STATE', `leaf ${receiver} is not below the sender's path`);
  }
  // The copath subtree is untouched by the merge, so its resolution and keys are as before.
  const { copathChild } = path[start]!;
  const resolution = tree.resolution(copathChild, excludedNodes(merged.newMembers));
  const slot = resolution.findIndex((node) => privateKeys.forNode(tree, node) !== undefined);
  if (slot < 0) {
    throw new MlsError(
      'INVALID_STATE',
      `leaf ${receiver} holds no key for the resolution of node ${copathChild}`,
    );
  }
  const ciphertext = merged.updatePath.nodes[start]!.encryptedPathSecret[slot]!;
  const pathSecret = decryptWithLabel(
    suite,
    privateKeys.forNode(tree, resolution[slot]!)!,
    'UpdatePathNode',
    merged.context,
    ciphertext.kemOutput,
    ciphertext.ciphertext,
  );

  const derived = derivePathKeys(suite, tree, path.slice(start), pathSecret);
  return {
    privateKeys: privateKeys.matching(tree).with(derived.keyPairs),
    commitSecret: derived.commitSecret,
    pathSecrets: derived.pathSecrets,
  };
}

/**
 * From the path secret of `path[0]`, the secrets and key pairs of every node of `path` and the
 * secret one past the last, checking each key pair against the tree (`INVALID_PATH`).
 */
function derivePathKeys(
  suite: CipherSuite,
  tree: RatchetTree,
  path: readonly { node: number }[],
  pathSecret: Uint8Array,
): { pathSecrets: PathSecret[]; keyPairs: [number, KeyPair][]; commitSecret: Uint8Array } {
  const pathSecrets: PathSecret[] = [];
  const keyPairs: [number, KeyPair][] = [];
  let secret = pathSecret;
  for (const { node } of path) {
    const pair = nodeKeyPair(suite, secret);
    const expected = tree.encryptionKey(node);
    if (expected === undefined || !bytesEqual(pair.publicKey, expected)) {
      throw new MlsError(
        'INVALID_PATH',
        `path secret for node ${node} does not yield its public key`,
      );
    }
    pathSecrets.push({ node, pathSecret: secret });
    keyPairs.push([node, pair]);
    secret = nextPathSecret(suite, secret);
  }
  return { pathSecrets, keyPairs, commitSecret: secret };
}

/**
 * A new member's key pairs from the path secret in its Welcome (§12.4.3.1): the secret is that of
 * the lowest common ancestor of its leaf and the committer's, and each higher node of the
 * committer's filtered direct path takes the next one. Each derived key must match the tree's
 * (`INVALID_PATH`).
 */
export function privateKeysFromPathSecret(
  suite: CipherSuite,
  tree: RatchetTree,
  privateKeys: PrivateKeys,
  committerLeafIndex: number,
  pathSecret: Uint8Array,
): PrivateKeys {
  const ancestor = math.commonAncestor(
    math.leafToNode(privateKeys.leafIndex),
    math.leafToNode(committerLeafIndex),
  );
  const path = tree.filteredDirectPath(committerLeafIndex);
  const start = path.findIndex(({ node }) => node === ancestor);
  if (start < 0) {
    throw new MlsError('INVALID_PATH', `node ${ancestor} is not on the committer's filtered path`);
  }
  const { keyPairs } = derivePathKeys(suite, tree, path.slice(start), pathSecret);
  return privateKeys.matching(tree).with(keyPairs);
}
