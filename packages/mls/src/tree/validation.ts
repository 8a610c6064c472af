/**
 * Validating a ratchet tree received from others, as a new member must before using it
 * (RFC 9420 §12.4.3.1 "Verify the integrity of the ratchet tree").
 */
import type { Credential } from '../credentials/credential.js';
import type { CipherSuite } from '../crypto/suites.js';
import { MlsError } from '../errors.js';
import type { Extension } from '../extensions/extension.js';
import { bytesEqual } from '../util/bytes.js';
import { leafNodeSignaturesValid, validateLeafNode } from './leafNodeValidation.js';
import * as math from './math.js';
import { verifyParentHashes } from './parentHash.js';
import type { RatchetTree } from './ratchetTree.js';
import { treeHash } from './treeHash.js';

export interface TreeValidationContext {
  suite: CipherSuite;
  groupId: Uint8Array;
  /** The `tree_hash` of the GroupContext the tree comes with. */
  treeHash: Uint8Array;
  /** The GroupContext extensions, which every leaf must support. */
  extensions: readonly Extension[];
  /** When given, key_package leaves must be within their lifetime (§7.3: recommended). */
  now?: bigint;
  validateCredential?: (credential: Credential, signatureKey: Uint8Array) => boolean;
}

/**
 * Checks, throwing an MlsError on the first failure:
 * - the tree hash is the expected one (`BAD_TREE_HASH`);
 * - every unmerged_leaves list is sorted, names non-blank leaves below its node, and each such
 *   leaf is unmerged at every non-blank node between (`INVALID_TREE`);
 * - no parent node's encryption key appears in another node (`DUPLICATE_KEY`);
 * - every leaf node is valid (§7.3, see `validateLeafNode`; this includes unique leaf keys);
 * - every non-blank parent node is parent-hash valid (`BAD_PARENT_HASH`, §7.9.2).
 *
 * O(n) node visits plus one signature verification per member: inherent to joining, and spread
 * over threads by providers that can (`Signature.verifyMany`).
 */
export function validateRatchetTree(tree: RatchetTree, ctx: TreeValidationContext): void {
  if (!bytesEqual(treeHash(tree, ctx.suite.hash), ctx.treeHash)) {
    throw new MlsError(
      'BAD_TREE_HASH',
      'ratchet tree hash differs from the GroupContext tree_hash',
    );
  }
  checkUnmergedLeaves(tree);
  for (let node = 1; node < tree.nodeCount; node += 2) {
    const parent = tree.parent(node);
    if (parent === undefined) continue;
    const holders = tree.nodesWithEncryptionKey(parent.encryptionKey);
    if (holders.length > 1) {
      throw new MlsError(
        'DUPLICATE_KEY',
        `encryption key of node ${node} also at ${holders.find((n) => n !== node)}`,
      );
    }
  }
  // Leaves before parent hashes: a forged leaf also breaks the hashes above it, and is the
  // more telling error. Their signatures are checked in one batch (on several threads where the
  // provider can), then each leaf in order, so the first bad leaf is the one reported.
  const members = [...tree.members()];
  const signaturesValid = leafNodeSignaturesValid(ctx.suite, members, ctx.groupId);
  const leafContext = {
    suite: ctx.suite,
    tree,
    groupId: ctx.groupId,
    extensions: ctx.extensions,
    ...(ctx.now !== undefined && { now: ctx.now }),
    ...(ctx.validateCredential && { validateCredential: ctx.validateCredential }),
  };
  members.forEach(([leafIndex, leaf], i) =>
    validateLeafNode(leaf, { use: 'tree', leafIndex }, leafContext, signaturesValid[i]),
  );
  verifyParentHashes(tree, ctx.suite.hash);
}

/** §12.4.3.1 and §7.1 on unmerged_leaves. */
export function checkUnmergedLeaves(tree: RatchetTree): void {
  for (let node = 1; node < tree.nodeCount; node += 2) {
    const parent = tree.parent(node);
    if (parent === undefined) continue;
    const unmerged = parent.unmergedLeaves;
    unmerged.forEach((leaf, i) => {
      if (i > 0 && leaf <= unmerged[i - 1]!) {
        throw new MlsError(
          'INVALID_TREE',
          `unmerged_leaves of node ${node} are not strictly ascending`,
        );
      }
      const leafNode = math.leafToNode(leaf);
      if (leaf >= tree.leafCount || !math.isInSubtree(leafNode, node)) {
        throw new MlsError(
          'INVALID_TREE',
          `node ${node} lists leaf ${leaf}, not below it, as unmerged`,
        );
      }
      if (tree.isBlank(leafNode)) {
        throw new MlsError('INVALID_TREE', `node ${node} lists blank leaf ${leaf} as unmerged`);
      }
      for (
        let between = math.parent(leafNode, tree.leafCount);
        between !== node;
        between = math.parent(between, tree.leafCount)
      ) {
        const p = tree.parent(between);
        if (p !== undefined && !p.unmergedLeaves.includes(leaf)) {
          throw new MlsError(
            'INVALID_TREE',
            `leaf ${leaf} is unmerged at node ${node} but not at node ${between} below it`,
          );
        }
      }
    });
  }
}
