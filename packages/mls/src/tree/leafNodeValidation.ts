/** Leaf node validation (RFC 9420 §7.3). */
import { decode, type Writer } from '../codec/index.js';
import type { Credential } from '../credentials/credential.js';
import {
  signEncodedWithLabel,
  verifyEncodedWithLabel,
  verifyManyWithLabel,
} from '../crypto/labels.js';
import type { CipherSuite } from '../crypto/suites.js';
import { MlsError } from '../errors.js';
import { requiredCapabilitiesCodec } from '../extensions/bodies.js';
import { ExtensionType, findExtension, type Extension } from '../extensions/extension.js';
import {
  encodeLeafNodeTbs,
  LeafNodeSource,
  type Capabilities,
  type LeafNode,
} from '../messages/leafNode.js';
import { ProposalType } from '../messages/proposals.js';
import * as math from './math.js';
import type { RatchetTree } from './ratchetTree.js';

// ---------------------------------------------------------------------------------------------
// Signatures

/** Writes the LeafNodeTBS (§7.2); group id and leaf index only count for update and commit leaves. */
function leafNodeTbs(leaf: LeafNode, groupId?: Uint8Array, leafIndex?: number) {
  return (w: Writer) => encodeLeafNodeTbs(w, leaf, groupId, leafIndex);
}

/** Signs a leaf node: returns it with `signature` set over its LeafNodeTBS. */
export function signLeafNode(
  suite: CipherSuite,
  signaturePrivateKey: Uint8Array,
  leaf: LeafNode,
  groupId?: Uint8Array,
  leafIndex?: number,
): LeafNode {
  const tbs = leafNodeTbs(leaf, groupId, leafIndex);
  return {
    ...leaf,
    signature: signEncodedWithLabel(suite, signaturePrivateKey, 'LeafNodeTBS', tbs),
  };
}

export function leafNodeSignatureValid(
  suite: CipherSuite,
  leaf: LeafNode,
  groupId?: Uint8Array,
  leafIndex?: number,
): boolean {
  const tbs = leafNodeTbs(leaf, groupId, leafIndex);
  return verifyEncodedWithLabel(suite, leaf.signatureKey, 'LeafNodeTBS', tbs, leaf.signature);
}

/**
 * `leafNodeSignatureValid` of many leaves at once (the provider may spread them over threads),
 * each with the leaf index its signature may cover.
 */
export function leafNodeSignaturesValid(
  suite: CipherSuite,
  leaves: readonly (readonly [leafIndex: number, leaf: LeafNode])[],
  groupId?: Uint8Array,
): boolean[] {
  return verifyManyWithLabel(
    suite,
    'LeafNodeTBS',
    leaves.map(([leafIndex, leaf]) => ({
      publicKey: leaf.signatureKey,
      write: leafNodeTbs(leaf, groupId, leafIndex),
      signature: leaf.signature,
    })),
  );
}

// ---------------------------------------------------------------------------------------------
// Validation

/** What a leaf node is checked against: the group it is in or is to join. */
export interface LeafValidationContext {
  suite: CipherSuite;
  /**
   * The tree whose other members the leaf must be compatible with and distinct from. Absent for
   * a KeyPackage checked on its own (by a directory, or before a group is chosen): then only the
   * leaf's own consistency is checked.
   */
  tree?: RatchetTree;
  /** Needed for update and commit leaves, whose signature covers it. */
  groupId?: Uint8Array;
  /** The GroupContext extensions in force; a `required_capabilities` among them is enforced. */
  extensions: readonly Extension[];
  /**
   * Seconds since the Unix epoch. When given, a key_package leaf's lifetime must contain it
   * (§7.3: required for leaves one sends, recommended for those one receives).
   */
  now?: bigint;
  /** The longest key_package lifetime the application accepts, in seconds (§7.2). */
  maxLifetime?: bigint;
  /** The application's credential check (§5.3.1); returning false rejects the leaf. */
  validateCredential?: (credential: Credential, signatureKey: Uint8Array) => boolean;
}

/**
 * Where a leaf node appears (§7.3), which fixes the `leaf_node_source` it must have, the context
 * its signature covers and which existing leaf, if any, it replaces.
 */
export type LeafNodeUse =
  /** In a KeyPackage, e.g. of an Add: joins the tree, replaces nothing. */
  | { use: 'key_package' }
  /** In an Update proposal from `leafIndex`. */
  | { use: 'update'; leafIndex: number }
  /** In the UpdatePath of a commit from `leafIndex` (for an external commit, its new leaf). */
  | { use: 'commit'; leafIndex: number }
  /** Already at `leafIndex` in the tree (validating a tree one joins): any source. */
  | { use: 'tree'; leafIndex: number };

/** Extension and proposal types RFC 9420 defines: supported by every client, never listed (§7.2). */
const DEFAULT_EXTENSION_TYPES: ReadonlySet<number> = new Set([
  ExtensionType.application_id,
  ExtensionType.ratchet_tree,
  ExtensionType.required_capabilities,
  ExtensionType.external_pub,
  ExtensionType.external_senders,
]);
const DEFAULT_PROPOSAL_TYPES: ReadonlySet<number> = new Set(Object.values(ProposalType));

function supportsExtension(capabilities: Capabilities, type: number): boolean {
  return DEFAULT_EXTENSION_TYPES.has(type) || capabilities.extensions.includes(type);
}

export function supportsProposal(capabilities: Capabilities, type: number): boolean {
  return DEFAULT_PROPOSAL_TYPES.has(type) || capabilities.proposals.includes(type);
}

const EXPECTED_SOURCE = {
  key_package: LeafNodeSource.key_package,
  update: LeafNodeSource.update,
  commit: LeafNodeSource.commit,
} as const;

/**
 * Validates a leaf node as RFC 9420 §7.3 requires, throwing an MlsError on the first failure:
 * `INVALID_LEAF_NODE` (wrong source, malformed), `INVALID_CREDENTIAL`, `BAD_SIGNATURE`,
 * `UNSUPPORTED_CAPABILITY` (required capabilities, GroupContext extensions, its own extensions,
 * credential types against the other members), `KEY_PACKAGE_EXPIRED` and `DUPLICATE_KEY`
 * (encryption or signature key already in the tree, or an Update/commit reusing the replaced
 * leaf's encryption key).
 *
 * Costs one signature verification plus O(1) lookups in the tree's member index (built in O(n)
 * on first use for a tree that was not derived through `editTree`). `signatureValid`, when given,
 * is the outcome of that verification made beforehand (`leafNodeSignaturesValid`).
 */
export function validateLeafNode(
  leaf: LeafNode,
  use: LeafNodeUse,
  ctx: LeafValidationContext,
  signatureValid?: boolean,
): void {
  const replaced = use.use === 'key_package' ? undefined : use.leafIndex;
  if (replaced !== undefined && !(ctx.tree && replaced >= 0 && replaced < ctx.tree.leafCount)) {
    throw new MlsError('INVALID_LEAF_NODE', `leaf index ${replaced} is outside the tree`);
  }
  const where = replaced === undefined ? 'key package leaf node' : `leaf node ${replaced}`;

  if (use.use !== 'tree' && leaf.leafNodeSource !== EXPECTED_SOURCE[use.use]) {
    throw new MlsError(
      'INVALID_LEAF_NODE',
      `${where} has leaf_node_source ${leaf.leafNodeSource}, expected ${EXPECTED_SOURCE[use.use]} for ${use.use}`,
    );
  }
  checkExtensionList(leaf, where);

  if (ctx.validateCredential && !ctx.validateCredential(leaf.credential, leaf.signatureKey)) {
    throw new MlsError('INVALID_CREDENTIAL', `${where}: credential rejected`);
  }
  if (!(signatureValid ?? leafNodeSignatureValid(ctx.suite, leaf, ctx.groupId, replaced))) {
    throw new MlsError('BAD_SIGNATURE', `${where}: LeafNodeTBS signature does not verify`);
  }

  checkLeafCapabilities(leaf, ctx.extensions, where);
  if (ctx.tree) checkCredentialTypes(ctx.tree, leaf, replaced, where);
  if (leaf.leafNodeSource === LeafNodeSource.key_package) {
    const { notBefore, notAfter } = leaf.lifetime;
    if (ctx.now !== undefined && (ctx.now < notBefore || ctx.now > notAfter)) {
      throw new MlsError(
        'KEY_PACKAGE_EXPIRED',
        `${where}: lifetime ${notBefore}..${notAfter} does not contain ${ctx.now}`,
      );
    }
    if (ctx.maxLifetime !== undefined && notAfter - notBefore > ctx.maxLifetime) {
      throw new MlsError('INVALID_LEAF_NODE', `${where}: lifetime longer than ${ctx.maxLifetime}s`);
    }
  }
  if (ctx.tree) checkUniqueKeys(ctx.tree, leaf, use, replaced, where);
}

/** §13.4: a list of extensions has at most one of each type. */
function checkExtensionList(leaf: LeafNode, where: string): void {
  const types = new Set(leaf.extensions.map((e) => e.extensionType));
  if (types.size !== leaf.extensions.length) {
    throw new MlsError('INVALID_LEAF_NODE', `${where}: an extension type appears twice`);
  }
}

/**
 * Throws `UNSUPPORTED_CAPABILITY` unless the leaf supports its own credential type and extensions,
 * every GroupContext extension, and what a `required_capabilities` among them requires.
 */
export function checkLeafCapabilities(
  leaf: LeafNode,
  groupExtensions: readonly Extension[],
  where: string,
): void {
  const caps = leaf.capabilities;
  const fail = (what: string) => {
    throw new MlsError('UNSUPPORTED_CAPABILITY', `${where}: ${what}`);
  };
  // §7.2: its own credential type and extensions must be among its capabilities.
  if (!caps.credentials.includes(leaf.credential.credentialType)) {
    fail(`credential type ${leaf.credential.credentialType} not in its capabilities`);
  }
  for (const e of leaf.extensions) {
    if (!supportsExtension(caps, e.extensionType)) {
      fail(`extension ${e.extensionType} not in its capabilities`);
    }
  }
  // §13.4: every GroupContext extension must be supported by every member.
  for (const e of groupExtensions) {
    if (!supportsExtension(caps, e.extensionType)) {
      fail(`GroupContext extension ${e.extensionType} unsupported`);
    }
  }
  const required = findExtension(groupExtensions, ExtensionType.required_capabilities);
  if (required === undefined) return;
  const r = decode(requiredCapabilitiesCodec, required.extensionData);
  for (const t of r.extensionTypes) {
    if (!supportsExtension(caps, t)) fail(`required extension ${t} unsupported`);
  }
  for (const t of r.proposalTypes) {
    if (!supportsProposal(caps, t)) fail(`required proposal ${t} unsupported`);
  }
  for (const t of r.credentialTypes) {
    if (!caps.credentials.includes(t)) fail(`required credential type ${t} unsupported`);
  }
}

/**
 * §7.3: the leaf's credential type is supported by every other member, and it supports every
 * credential type the other members use. "Other" leaves out the leaf being replaced.
 */
function checkCredentialTypes(
  tree: RatchetTree,
  leaf: LeafNode,
  replaced: number | undefined,
  where: string,
): void {
  const facts = tree.memberIndex;
  const old = replaced === undefined ? undefined : tree.leaf(replaced);
  const type = leaf.credential.credentialType;
  const others = facts.members - (old ? 1 : 0);
  const oldSupports = old !== undefined && old.capabilities.credentials.includes(type);
  const supportingOthers = (facts.credentialSupport.get(type) ?? 0) - (oldSupports ? 1 : 0);
  if (supportingOthers < others) {
    throw new MlsError(
      'UNSUPPORTED_CAPABILITY',
      `${where}: credential type ${type} is not supported by every member`,
    );
  }
  for (const [used, count] of facts.credentialTypes) {
    const usedByOthers = count - (old?.credential.credentialType === used ? 1 : 0);
    if (usedByOthers > 0 && !leaf.capabilities.credentials.includes(used)) {
      throw new MlsError(
        'UNSUPPORTED_CAPABILITY',
        `${where}: does not support credential type ${used}, used in the group`,
      );
    }
  }
}

/**
 * §7.3: encryption and signature keys are unique among the members. The encryption key is also
 * checked against parent nodes (§12.4.3.1 wants no node key twice in a tree), and a leaf that
 * replaces another may keep its signature key but must bring a new encryption key.
 */
function checkUniqueKeys(
  tree: RatchetTree,
  leaf: LeafNode,
  use: LeafNodeUse,
  replaced: number | undefined,
  where: string,
): void {
  const self = replaced === undefined ? undefined : math.leafToNode(replaced);
  for (const node of tree.nodesWithEncryptionKey(leaf.encryptionKey)) {
    // In a tree being validated, the leaf finds itself.
    if (node === self && use.use === 'tree') continue;
    throw new MlsError(
      'DUPLICATE_KEY',
      node === self
        ? `${where}: encryption key unchanged from the leaf it replaces`
        : `${where}: encryption key already held by node ${node}`,
    );
  }
  for (const other of tree.leavesWithSignatureKey(leaf.signatureKey)) {
    if (other === replaced) continue;
    throw new MlsError('DUPLICATE_KEY', `${where}: signature key already used by leaf ${other}`);
  }
}
