import { encode } from '../codec/index.js';
import type { Credential } from '../credentials/credential.js';
import type { CipherSuite } from '../crypto/suites.js';
import { MlsError } from '../errors.js';
import type { Extension } from '../extensions/extension.js';
import {
  ContentType,
  SenderType,
  WireFormat,
  type AuthenticatedContent,
  type FramedContent,
} from '../framing/content.js';
import type { MlsMessage } from '../framing/mlsMessage.js';
import {
  confirmationTag as computeConfirmationTag,
  externalInitReceive,
  externalKeyPair,
  nextEpoch,
  zeroSecret,
  type EpochKeySchedule,
} from '../keySchedule.js';
import { ProposalOrRefType, type Commit, type ProposalOrRef } from '../messages/commit.js';
import { groupContextCodec, type GroupContext } from '../messages/groupContext.js';
import type { GroupInfo } from '../messages/groupInfo.js';
import type { KeyPackage } from '../messages/keyPackage.js';
import type { Capabilities } from '../messages/leafNode.js';
import type { PreSharedKeyId } from '../messages/preSharedKeyId.js';
import { ProposalType, type Proposal, type ReInit } from '../messages/proposals.js';
import { pskSecret } from '../psk.js';
import { confirmedTranscriptHashOf } from '../transcript.js';
import { PrivateKeys } from '../tree/privateKeys.js';
import type { RatchetTree } from '../tree/ratchetTree.js';
import {
  applyUpdatePath,
  createUpdatePath,
  mergeUpdatePath,
  type PathSecret,
} from '../tree/treekem.js';
import { treeHash } from '../tree/treeHash.js';
import { bytesEqual, constantTimeEqual } from '../util/bytes.js';
import { buildEpoch } from './epoch.js';
import { createGroupInfo, type GroupInfoOptions } from './groupInfo.js';
import { protectOwn, signOwn } from './messaging.js';
import {
  applyProposals,
  proposalBase,
  type AppliedProposals,
  type ProposalItem,
  type ProposalPolicy,
} from './proposals.js';
import { checkCanSend, ownLeafNode, type GroupState } from './state.js';
import { createWelcome } from './welcome.js';
import type { Welcome } from '../messages/welcome.js';

/** The encoded provisional GroupContext (§12.4.1): new epoch, tree and extensions, old transcript. */
export function provisionalContext(
  old: GroupContext,
  extensions: readonly Extension[],
): (treeHash: Uint8Array) => Uint8Array {
  return (th) =>
    encode(groupContextCodec, {
      ...old,
      epoch: old.epoch + 1n,
      treeHash: th,
      extensions: [...extensions],
    });
}

/** The key schedule of the epoch a commit starts, and the GroupContext it hashes (§8, §12.4). */
export interface EpochStep {
  context: GroupContext;
  keySchedule: EpochKeySchedule;
  confirmationTag: Uint8Array;
}

/**
 * From the signed commit and everything the proposals and path produced, the new GroupContext
 * (with the confirmed transcript hash), the key schedule, and the confirmation tag.
 */
export function stepEpoch(
  suite: CipherSuite,
  old: { context: GroupContext; interimTranscriptHash: Uint8Array },
  commit: AuthenticatedContent,
  applied: AppliedProposals,
  tree: RatchetTree,
  initSecret: Uint8Array,
  commitSecret: Uint8Array,
): EpochStep {
  const context: GroupContext = {
    ...old.context,
    epoch: old.context.epoch + 1n,
    treeHash: treeHash(tree, suite.hash),
    confirmedTranscriptHash: confirmedTranscriptHashOf(suite, old.interimTranscriptHash, commit),
    extensions: [...applied.extensions],
  };
  const keySchedule = nextEpoch(suite, {
    initSecret,
    commitSecret,
    pskSecret: pskSecret(suite, applied.psks),
    groupContext: encode(groupContextCodec, context),
  });
  return {
    context,
    keySchedule,
    confirmationTag: computeConfirmationTag(
      suite,
      keySchedule.secrets.confirmationKey,
      context.confirmedTranscriptHash,
    ),
  };
}

export interface CommitOptions extends ProposalPolicy {
  /** Members to add, by KeyPackage (checked as §10.1 requires). */
  add?: KeyPackage[];
  /** Leaves to remove. */
  remove?: number[];
  psks?: PreSharedKeyId[];
  /** Replaces the GroupContext extensions (a GroupContextExtensions proposal). */
  groupContextExtensions?: Extension[];
  reinit?: ReInit;
  /** Further proposals by value: application-defined ones. */
  proposals?: Proposal[];
  /**
   * Which proposals received in this epoch to cover by reference: all of them (the default, as
   * §12.4 recommends), none, or those with the given refs.
   */
  pending?: 'all' | 'none' | Uint8Array[];
  /** Send an UpdatePath even when no proposal requires one (§12.4: "MAY"). */
  forcePath?: boolean;
  /** Changes to the committer's own leaf when it sends a path. */
  leaf?: { capabilities?: Capabilities; extensions?: Extension[]; credential?: Credential };
  /** What the GroupInfo in the Welcome carries; the ratchet tree by default. */
  welcomeGroupInfo?: GroupInfoOptions;
  /** What the returned GroupInfo of the new epoch carries (for external joins, say). */
  groupInfo?: GroupInfoOptions;
  authenticatedData?: Uint8Array;
  /** PrivateMessage or PublicMessage; the group's `encryptHandshake` setting by default. */
  encrypt?: boolean;
}

/** A commit ready to send, and the epoch it starts once the delivery service accepts it. */
export interface CreatedCommit {
  commit: MlsMessage;
  /** For the members the commit adds, if any. */
  welcome?: Extract<MlsMessage, { wireFormat: typeof WireFormat.mls_welcome }>;
  /** A signed GroupInfo of the new epoch. */
  groupInfo: GroupInfo;
  /** The new epoch: adopt it when the commit is confirmed (RFC 9420 §14), not before. */
  pending: GroupState;
  /**
   * The current epoch after sending: the handshake ratchet moved on if the commit was
   * encrypted. Keep it in place of the old state until the commit is confirmed or dropped, so
   * that no key is used twice.
   */
  state: GroupState;
  /** What the commit does. */
  summary: CommitSummary;
}

export interface CommitSummary {
  added: readonly { leafIndex: number; keyPackage: KeyPackage }[];
  removed: readonly number[];
  updated: readonly number[];
  psks: readonly PreSharedKeyId[];
  custom: readonly Proposal[];
  reinit?: ReInit;
  hasPath: boolean;
}

function summarise(applied: AppliedProposals, hasPath: boolean): CommitSummary {
  return {
    added: applied.added,
    removed: applied.removed,
    updated: applied.updated,
    psks: applied.psks.map((p) => p.id),
    custom: applied.custom,
    hasPath,
    ...(applied.reinit && { reinit: applied.reinit }),
  };
}

/** The proposals a commit sends by value, from its options. */
function proposalsByValue(options: CommitOptions): Proposal[] {
  return [
    ...(options.groupContextExtensions
      ? [
          {
            proposalType: ProposalType.group_context_extensions,
            extensions: options.groupContextExtensions,
          } as const,
        ]
      : []),
    ...(options.remove ?? []).map(
      (removed) => ({ proposalType: ProposalType.remove, removed }) as const,
    ),
    ...(options.add ?? []).map(
      (keyPackage) => ({ proposalType: ProposalType.add, keyPackage }) as const,
    ),
    ...(options.psks ?? []).map((psk) => ({ proposalType: ProposalType.psk, psk }) as const),
    ...(options.reinit ? [{ proposalType: ProposalType.reinit, ...options.reinit } as const] : []),
    ...(options.proposals ?? []),
  ];
}

/**
 * Creates a commit (RFC 9420 §12.4.1) covering the given proposals by value and, by default, the
 * proposals received this epoch by reference. The state passed in is not advanced: the new
 * epoch is returned as `pending`.
 */
export function createCommit(state: GroupState, options: CommitOptions = {}): CreatedCommit {
  checkCanSend(state);
  const { suite, context } = state;
  const self = { senderType: SenderType.member, leafIndex: state.ownLeaf } as const;
  const byValue = proposalsByValue(options);
  const pending =
    options.pending === 'none'
      ? []
      : options.pending === undefined || options.pending === 'all'
        ? state.proposals
        : options.pending.map((ref) => {
            const cached = state.proposals.find((p) => bytesEqual(p.ref, ref));
            if (!cached) throw new MlsError('UNKNOWN_PROPOSAL_REF', 'no such pending proposal');
            return cached;
          });
  const items: ProposalItem[] = [
    ...pending.map((p) => ({
      proposal: p.proposal,
      sender: p.sender,
      ref: p.ref,
      ...(p.updatePrivateKey && { updatePrivateKey: p.updatePrivateKey }),
    })),
    ...byValue.map((proposal) => ({ proposal, sender: self })),
  ];
  const applied = applyProposals(
    proposalBase(state),
    items,
    { external: false, leafIndex: state.ownLeaf },
    options,
  );

  let tree = applied.tree;
  let commitSecret = zeroSecret(suite);
  let privateKeys = state.privateKeys;
  let pathSecrets: PathSecret[] | undefined;
  let path: Commit['path'];
  if (applied.pathRequired || options.forcePath) {
    const current = ownLeafNode(state);
    const created = createUpdatePath({
      suite,
      groupId: context.groupId,
      newMembers: applied.added.map((a) => a.leafIndex),
      provisionalGroupContext: provisionalContext(context, applied.extensions),
      tree,
      leafIndex: state.ownLeaf,
      leafNode: {
        signatureKey: current.signatureKey,
        credential: options.leaf?.credential ?? current.credential,
        capabilities: options.leaf?.capabilities ?? current.capabilities,
        extensions: options.leaf?.extensions ?? current.extensions,
      },
      signaturePrivateKey: state.signaturePrivateKey,
    });
    tree = created.tree;
    commitSecret = created.commitSecret;
    privateKeys = created.privateKeys;
    pathSecrets = created.pathSecrets;
    path = created.updatePath;
  }

  const proposals: ProposalOrRef[] = items.map((i) =>
    i.ref
      ? { type: ProposalOrRefType.reference, reference: i.ref }
      : { type: ProposalOrRefType.proposal, proposal: i.proposal },
  );
  const content: FramedContent = {
    groupId: context.groupId,
    epoch: context.epoch,
    sender: self,
    authenticatedData: options.authenticatedData ?? new Uint8Array(0),
    contentType: ContentType.commit,
    commit: path ? { proposals, path } : { proposals },
  };
  const encrypt = options.encrypt ?? state.config.encryptHandshake;
  const wireFormat = encrypt ? WireFormat.mls_private_message : WireFormat.mls_public_message;
  // The confirmed transcript hash covers the signature and the confirmation tag covers the
  // transcript: sign once, derive the epoch, then add the tag to that same signed content.
  const signed = signOwn(state, content, wireFormat);
  const step = stepEpoch(
    suite,
    state,
    signed,
    applied,
    tree,
    state.secrets.initSecret,
    commitSecret,
  );
  const sent = protectOwn(state, {
    ...signed,
    auth: { ...signed.auth, confirmationTag: step.confirmationTag },
  });

  const newState = buildEpoch({
    suite,
    config: state.config,
    context: step.context,
    tree,
    ownLeaf: state.ownLeaf,
    privateKeys,
    signaturePrivateKey: state.signaturePrivateKey,
    secrets: step.keySchedule.secrets,
    confirmationTag: step.confirmationTag,
    previous: state,
    ...(applied.reinit && { reinit: applied.reinit }),
  });
  let welcome: Welcome | undefined;
  if (applied.added.length > 0) {
    welcome = createWelcome({
      state: newState,
      joinerSecret: step.keySchedule.joinerSecret,
      welcomeSecret: step.keySchedule.welcomeSecret,
      psks: applied.psks.map((p) => p.id),
      added: applied.added,
      ...(pathSecrets && { pathSecrets }),
      groupInfo: options.welcomeGroupInfo ?? { ratchetTree: true },
    });
  }
  return {
    commit: sent.message,
    ...(welcome && { welcome: { wireFormat: WireFormat.mls_welcome, welcome } }),
    groupInfo: createGroupInfo(newState, options.groupInfo),
    pending: newState,
    state: sent.state,
    summary: summarise(applied, path !== undefined),
  };
}

/** What processing a commit from another member or a joiner yields. */
export type ProcessedCommit =
  | { kind: 'commit'; state: GroupState; summary: CommitSummary; committer: CommitterInfo }
  /** The commit removes this member: there is no next epoch for it (§12.4.2). */
  | { kind: 'removed'; summary: CommitSummary; committer: CommitterInfo };

export type CommitterInfo =
  { external: false; leafIndex: number } | { external: true; leafIndex: number };

/**
 * Processes an authenticated commit of the state's epoch (RFC 9420 §12.4.2): resolves its
 * proposals, validates and applies them, validates and merges its path, derives the new epoch
 * and checks the confirmation tag. The given state is unchanged; on any failure an `MlsError` is
 * thrown and nothing else happens.
 */
export function processCommit(
  state: GroupState,
  authenticated: AuthenticatedContent,
  policy: ProposalPolicy = {},
): ProcessedCommit {
  const { suite, context } = state;
  const { content, auth } = authenticated;
  if (content.contentType !== ContentType.commit || auth.confirmationTag === undefined) {
    throw new MlsError('WRONG_CONTENT_TYPE', 'not a commit');
  }
  const commit = content.commit;
  const sender = content.sender;
  const external = sender.senderType === SenderType.new_member_commit;
  if (!external && sender.senderType !== SenderType.member) {
    throw new MlsError('INVALID_SENDER', 'commits come from members or new members');
  }
  if (sender.senderType === SenderType.member && sender.leafIndex === state.ownLeaf) {
    throw new MlsError('OWN_COMMIT', 'own commit: adopt its pending state instead');
  }

  const items: ProposalItem[] = commit.proposals.map((p) => {
    if (p.type === ProposalOrRefType.proposal) return { proposal: p.proposal, sender };
    if (external)
      throw new MlsError(
        'INVALID_COMMIT',
        'an external commit may not name proposals by reference',
      );
    const cached = state.proposals.find((c) => bytesEqual(c.ref, p.reference));
    if (!cached) throw new MlsError('UNKNOWN_PROPOSAL_REF', 'the commit names an unknown proposal');
    return {
      proposal: cached.proposal,
      sender: cached.sender,
      ref: cached.ref,
      ...(cached.updatePrivateKey && { updatePrivateKey: cached.updatePrivateKey }),
    };
  });
  if (external && !commit.path)
    throw new MlsError('PATH_REQUIRED', 'an external commit needs a path');
  const applied = applyProposals(
    proposalBase(state),
    items,
    external
      ? { external: true, leaf: commit.path!.leafNode }
      : { external: false, leafIndex: sender.leafIndex },
    policy,
  );
  if (applied.pathRequired && !commit.path) {
    throw new MlsError('PATH_REQUIRED', 'the commit covers proposals that require an UpdatePath');
  }

  let tree = applied.tree;
  let committerLeaf: number;
  if (external) {
    committerLeaf = tree.firstBlankLeaf();
    if (committerLeaf === tree.leafCount) tree = tree.extended();
  } else {
    committerLeaf = (sender as { leafIndex: number }).leafIndex;
  }
  const summary = summarise(applied, commit.path !== undefined);
  const committer = { external, leafIndex: committerLeaf } as CommitterInfo;
  // By the list, not the tree: an Add in the same commit may already reuse the leaf.
  const removedSelf = applied.removed.includes(state.ownLeaf);

  let commitSecret = zeroSecret(suite);
  let privateKeys = state.privateKeys;
  if (applied.ownUpdate) {
    privateKeys = PrivateKeys.forLeaf(state.ownLeaf, applied.ownUpdate);
  }
  if (commit.path) {
    const pathInput = {
      suite,
      groupId: context.groupId,
      newMembers: applied.added.map((a) => a.leafIndex),
      provisionalGroupContext: provisionalContext(context, applied.extensions),
      tree,
      senderLeafIndex: committerLeaf,
      updatePath: commit.path,
      extensions: applied.extensions,
      ...(policy.now !== undefined && { now: policy.now }),
      ...(policy.validateCredential && { validateCredential: policy.validateCredential }),
    };
    if (removedSelf) {
      // Validate the path all the same, so that a malformed commit is reported as such.
      mergeUpdatePath(pathInput);
      return { kind: 'removed', summary, committer };
    }
    const result = applyUpdatePath({ ...pathInput, privateKeys: privateKeys.matching(tree) });
    tree = result.tree;
    commitSecret = result.commitSecret;
    privateKeys = result.privateKeys;
  } else if (removedSelf) {
    return { kind: 'removed', summary, committer };
  }

  const initSecret = applied.externalInit
    ? externalInitReceive(
        suite,
        externalKeyPair(suite, state.secrets.externalSecret).privateKey,
        applied.externalInit,
      )
    : state.secrets.initSecret;
  const step = stepEpoch(suite, state, authenticated, applied, tree, initSecret, commitSecret);
  if (!constantTimeEqual(step.confirmationTag, auth.confirmationTag)) {
    throw new MlsError('BAD_CONFIRMATION_TAG', 'the confirmation tag does not match the new epoch');
  }
  const next = buildEpoch({
    suite,
    config: state.config,
    context: step.context,
    tree,
    ownLeaf: state.ownLeaf,
    privateKeys,
    signaturePrivateKey: state.signaturePrivateKey,
    secrets: step.keySchedule.secrets,
    confirmationTag: auth.confirmationTag,
    previous: state,
    ...(applied.reinit && { reinit: applied.reinit }),
  });
  return { kind: 'commit', state: next, summary, committer };
}
