import type { Credential } from '../credentials/credential.js';
import { CredentialType } from '../credentials/credential.js';
import type { CipherSuite } from '../crypto/suites.js';
import { MlsError } from '../errors.js';
import type { GroupContext } from '../messages/groupContext.js';
import { isGrease, type Extension } from '../extensions/extension.js';
import { SenderType, type Sender } from '../framing/content.js';
import type { KeyPackage } from '../messages/keyPackage.js';
import type { LeafNode } from '../messages/leafNode.js';
import type { PreSharedKeyId, ResumptionPskUsage } from '../messages/preSharedKeyId.js';
import {
  isCustomProposal,
  proposalOfType,
  ProposalType,
  type CustomProposal,
  type Proposal,
  type ReInit,
} from '../messages/proposals.js';
import type { PskInput } from '../psk.js';
import {
  checkLeafCapabilities,
  supportsProposal,
  validateLeafNode,
} from '../tree/leafNodeValidation.js';
import { applyAdd, applyRemove, applyUpdate } from '../tree/operations.js';
import type { RatchetTree } from '../tree/ratchetTree.js';
import { bytesEqual } from '../util/bytes.js';
import { checkUniqueExtensions } from './groupInfo.js';
import { validateKeyPackage } from './keyPackage.js';
import {
  checkPskProposal,
  ownResumptionPsks,
  resolvePsks,
  samePskId,
  type OwnResumptionPsks,
  type PskSource,
} from './psks.js';
import type { GroupState } from './state.js';

/** A proposal as a commit covers it: with its sender, and its ref when named by reference. */
export interface ProposalItem {
  readonly proposal: Proposal;
  readonly sender: Sender;
  readonly ref?: Uint8Array;
  /** This member's own Update: the private key of the leaf it proposes. */
  readonly updatePrivateKey?: Uint8Array;
}

/** Who commits: a member at a leaf, or a new member by external commit with its new leaf. */
export type Committer =
  | { readonly external: false; readonly leafIndex: number }
  | { readonly external: true; readonly leaf: LeafNode };

/** Checks and look-ups the application supplies (policies that are functions). */
export interface ProposalPolicy {
  /** Seconds since the epoch, for KeyPackage lifetimes; omitted: lifetimes are not checked. */
  readonly now?: bigint;
  readonly validateCredential?: (credential: Credential, signatureKey: Uint8Array) => boolean;
  /**
   * An external commit that removes a leaf ("resync", §12.2) is accepted when this returns true
   * for the removed leaf and the joiner's new one. Default: their credentials are identical.
   */
  readonly acceptResync?: (removed: LeafNode, joiner: LeafNode) => boolean;
  readonly pskSource?: PskSource;
  /**
   * Set only for the first commit of a group that resumes another by reinit or branch (§11.2,
   * §11.3), where a resumption PSK of that usage is expected.
   */
  readonly resuming?: ResumptionPskUsage;
}

/** The epoch a proposal list is applied to. */
export interface ProposalBase {
  readonly suite: CipherSuite;
  readonly context: GroupContext;
  readonly tree: RatchetTree;
  /** This member's leaf, so that its own committed Update takes effect; absent for a joiner. */
  readonly ownLeaf?: number;
  /** The resumption PSKs this member holds for the group's past epochs. */
  readonly resumption?: OwnResumptionPsks;
}

/** The proposal base of a member's state. */
export function proposalBase(state: GroupState): ProposalBase {
  return {
    suite: state.suite,
    context: state.context,
    tree: state.tree,
    ownLeaf: state.ownLeaf,
    resumption: ownResumptionPsks(state),
  };
}

/** What applying a proposal list (§12.3) yields, before any UpdatePath. */
export interface AppliedProposals {
  readonly tree: RatchetTree;
  readonly extensions: readonly Extension[];
  readonly added: readonly { leafIndex: number; keyPackage: KeyPackage }[];
  readonly removed: readonly number[];
  readonly updated: readonly number[];
  readonly psks: readonly PskInput[];
  readonly externalInit?: Uint8Array;
  readonly reinit?: ReInit;
  readonly custom: readonly CustomProposal[];
  /** §12.4: whether the commit must carry an UpdatePath. */
  readonly pathRequired: boolean;
  /** This member's own Update was committed: the key pair of its new leaf. */
  readonly ownUpdate?: { privateKey: Uint8Array; publicKey: Uint8Array };
}

/** Proposal types that may come from an `external` sender (§12.1.8). */
const EXTERNAL_SENDER_TYPES: ReadonlySet<number> = new Set([
  ProposalType.add,
  ProposalType.remove,
  ProposalType.psk,
  ProposalType.reinit,
  ProposalType.group_context_extensions,
]);

/** Proposal types whose presence makes the UpdatePath mandatory (§12.4). */
const PATH_REQUIRED_TYPES: ReadonlySet<number> = new Set([
  ProposalType.update,
  ProposalType.remove,
  ProposalType.external_init,
  ProposalType.group_context_extensions,
]);

const invalid = (message: string) => new MlsError('INVALID_PROPOSAL_LIST', message);

/**
 * Whether a sender of this type may send this proposal at all (§12.1.8): checked when a
 * proposal arrives and again when a commit covers it. Throws `INVALID_PROPOSAL`.
 */
export function checkProposalSender(proposal: Proposal, sender: Sender): void {
  const type = proposal.proposalType;
  const fail = (why: string) => {
    throw new MlsError('INVALID_PROPOSAL', `proposal type ${type} ${why}`);
  };
  switch (sender.senderType) {
    case SenderType.external:
      if (!EXTERNAL_SENDER_TYPES.has(type)) fail('may not come from an external sender');
      break;
    case SenderType.new_member_proposal:
      if (type !== ProposalType.add) fail('may not come from a new member proposal');
      break;
    case SenderType.new_member_commit:
      fail('may not be sent as a standalone proposal by a new member');
      break;
    case SenderType.member:
      if (type === ProposalType.external_init) fail('may only appear in an external commit');
      break;
  }
}

/**
 * Validates a commit's proposal list (§12.2) and applies it (§12.3): GroupContextExtensions,
 * then Updates, Removes and Adds in order, then PSK look-up, ExternalInit and ReInit. Each
 * failure is an `MlsError`: `INVALID_PROPOSAL_LIST` for a list that breaks a rule of §12.2,
 * `INVALID_PROPOSAL` for one invalid proposal, or the code of the failed leaf or KeyPackage check.
 */
export function applyProposals(
  base: ProposalBase,
  items: readonly ProposalItem[],
  committer: Committer,
  policy: ProposalPolicy,
): AppliedProposals {
  const { suite, context } = base;
  const byType = (type: number) => items.filter((i) => i.proposal.proposalType === type);
  const updates = byType(ProposalType.update);
  const removes = byType(ProposalType.remove);
  const adds = byType(ProposalType.add);
  const pskItems = byType(ProposalType.psk);
  const gces = byType(ProposalType.group_context_extensions);
  const reinits = byType(ProposalType.reinit);
  const externalInits = byType(ProposalType.external_init);
  const custom = items.map((i) => i.proposal).filter(isCustomProposal);

  // An external commit's own proposals are checked by the external-commit rules below.
  if (!committer.external) {
    for (const item of items) checkProposalSender(item.proposal, item.sender);
  }

  if (committer.external) {
    if (externalInits.length !== 1)
      throw invalid('an external commit needs exactly one ExternalInit');
    if (removes.length > 1) throw invalid('an external commit may remove at most one leaf');
    const others = items.length - externalInits.length - removes.length - pskItems.length;
    if (others > 0) throw invalid('an external commit may only hold ExternalInit, Remove and PSKs');
  } else {
    if (externalInits.length > 0) throw invalid('ExternalInit outside an external commit');
    for (const u of updates) {
      if (senderLeaf(u.sender) === committer.leafIndex) {
        throw invalid('the committer may not commit its own Update');
      }
    }
    for (const r of removes) {
      if (removedLeaf(r) === committer.leafIndex) {
        throw new MlsError('REMOVED_SENDER', 'the commit removes its own committer');
      }
    }
    if (gces.length > 1) throw invalid('more than one GroupContextExtensions proposal');
    if (reinits.length > 0 && items.length > 1) throw invalid('ReInit with other proposals');
  }
  const touched = new Set<number>();
  for (const leaf of [...updates.map((u) => senderLeaf(u.sender)), ...removes.map(removedLeaf)]) {
    if (touched.has(leaf)) throw invalid(`several Updates or Removes for leaf ${leaf}`);
    touched.add(leaf);
  }
  const pskIds: PreSharedKeyId[] = pskItems.map((i) => pskOf(i.proposal));
  pskIds.forEach((id, i) => {
    checkPskProposal(suite, id, policy.resuming);
    if (pskIds.slice(0, i).some((other) => samePskId(other, id))) {
      throw invalid('the same PSK is proposed twice');
    }
  });
  for (const r of reinits) {
    const p = proposalOfType(r.proposal, ProposalType.reinit)!;
    if (p.version < context.version) {
      throw new MlsError('INVALID_PROPOSAL', `ReInit to version ${p.version}, below the group's`);
    }
  }

  // §12.3: the new extensions apply to everything after them in the list.
  let extensions = context.extensions;
  if (gces[0]) {
    extensions = proposalOfType(
      gces[0].proposal,
      ProposalType.group_context_extensions,
    )!.extensions;
    checkUniqueExtensions(extensions, 'GroupContextExtensions');
    if (extensions.some((e) => isGrease(e.extensionType))) {
      throw new MlsError('INVALID_PROPOSAL', 'GREASE extension in GroupContextExtensions');
    }
  }

  const leafContext = {
    suite,
    groupId: context.groupId,
    extensions,
    ...(policy.validateCredential && { validateCredential: policy.validateCredential }),
  };
  let tree = base.tree;
  let ownUpdate: AppliedProposals['ownUpdate'];
  for (const u of updates) {
    const leafIndex = senderLeaf(u.sender);
    const leaf = proposalOfType(u.proposal, ProposalType.update)!.leafNode;
    if (tree.leaf(leafIndex) === undefined) {
      throw new MlsError('INVALID_PROPOSAL', `Update from blank leaf ${leafIndex}`);
    }
    validateLeafNode(leaf, { use: 'update', leafIndex }, { ...leafContext, tree });
    tree = applyUpdate(tree, leafIndex, leaf);
    if (leafIndex === base.ownLeaf) {
      if (u.updatePrivateKey === undefined) {
        throw new MlsError('INVALID_STATE', 'own Update committed, but its private key is gone');
      }
      ownUpdate = { privateKey: u.updatePrivateKey, publicKey: leaf.encryptionKey };
    }
  }
  const removed = removes.map(removedLeaf);
  for (const leafIndex of removed) {
    if (tree.leaf(leafIndex) === undefined) {
      throw new MlsError('INVALID_PROPOSAL', `Remove of blank leaf ${leafIndex}`);
    }
  }
  if (committer.external && removed[0] !== undefined) {
    const old = base.tree.leaf(removed[0])!;
    const accept = policy.acceptResync ?? ((r, j) => sameCredential(r.credential, j.credential));
    if (!accept(old, committer.leaf)) {
      throw invalid(`the external commit removes leaf ${removed[0]}, which is not the joiner's`);
    }
  }
  for (const leafIndex of removed) tree = applyRemove(tree, leafIndex);

  const added: { leafIndex: number; keyPackage: KeyPackage }[] = [];
  for (const a of adds) {
    const keyPackage = proposalOfType(a.proposal, ProposalType.add)!.keyPackage;
    // Checked against the tree with the earlier Adds in place, so that the same client twice,
    // or a client already in the group, meets its own keys (DUPLICATE_KEY).
    validateKeyPackage(suite, keyPackage, {
      group: { tree, groupId: context.groupId, extensions, version: context.version },
      ...(policy.now !== undefined && { now: policy.now }),
      ...(policy.validateCredential && { validateCredential: policy.validateCredential }),
    });
    const result = applyAdd(tree, keyPackage.leafNode);
    tree = result.tree;
    added.push({ leafIndex: result.leafIndex, keyPackage });
  }

  if (gces[0]) {
    // §12.1.7: every member of the resulting group supports the new extensions.
    for (const [leafIndex, leaf] of tree.members()) {
      checkLeafCapabilities(leaf, extensions, `member ${leafIndex}`);
    }
  }
  const newcomers = new Set(added.map((a) => a.leafIndex));
  for (const p of custom) {
    for (const [leafIndex, leaf] of tree.members()) {
      if (!newcomers.has(leafIndex) && !supportsProposal(leaf.capabilities, p.proposalType)) {
        throw invalid(`member ${leafIndex} does not support proposal type ${p.proposalType}`);
      }
    }
  }

  const psks = resolvePsks(pskIds, policy.pskSource ?? {}, base.resumption);
  const pathRequired =
    items.length === 0 ||
    items.some(
      (i) => PATH_REQUIRED_TYPES.has(i.proposal.proposalType) || isCustomProposal(i.proposal),
    );
  const externalInit =
    externalInits[0] && (externalInits[0].proposal as { kemOutput: Uint8Array }).kemOutput;
  const reinit = reinits[0] && (reinits[0].proposal as ReInit);
  return {
    tree,
    extensions,
    added,
    removed,
    updated: updates.map((u) => senderLeaf(u.sender)),
    psks,
    custom,
    pathRequired,
    ...(externalInit && { externalInit }),
    ...(reinit && { reinit }),
    ...(ownUpdate && { ownUpdate }),
  };
}

function senderLeaf(sender: Sender): number {
  if (sender.senderType !== SenderType.member) {
    throw new MlsError('INVALID_PROPOSAL', 'only members send Update proposals');
  }
  return sender.leafIndex;
}

function removedLeaf(item: ProposalItem): number {
  return proposalOfType(item.proposal, ProposalType.remove)!.removed;
}

function pskOf(proposal: Proposal): PreSharedKeyId {
  return proposalOfType(proposal, ProposalType.psk)!.psk;
}

/** Two credentials are the same: same type and the same identity or certificate chain. */
export function sameCredential(a: Credential, b: Credential): boolean {
  if (a.credentialType === CredentialType.basic && b.credentialType === CredentialType.basic) {
    return bytesEqual(a.identity, b.identity);
  }
  if (a.credentialType === CredentialType.x509 && b.credentialType === CredentialType.x509) {
    return (
      a.certificates.length === b.certificates.length &&
      a.certificates.every((c, i) => bytesEqual(c, b.certificates[i]!))
    );
  }
  return false;
}
