import { decode } from '../codec/index.js';
import { CredentialType, type Credential } from '../credentials/credential.js';
import type { CryptoProvider, KeyPair } from '../crypto/provider.js';
import { cipherSuite, type CipherSuite } from '../crypto/suites.js';
import { MlsError } from '../errors.js';
import { externalPubCodec, requiredCapabilitiesCodec } from '../extensions/bodies.js';
import { ExtensionType, findExtension, type Extension } from '../extensions/extension.js';
import { signContent, toPublicMessage } from '../framing/authentication.js';
import { ContentType, SenderType, WireFormat, type FramedContent } from '../framing/content.js';
import type { MlsMessage } from '../framing/mlsMessage.js';
import { externalInitSend } from '../keySchedule.js';
import { ProposalOrRefType } from '../messages/commit.js';
import type { GroupInfo } from '../messages/groupInfo.js';
import type { KeyPackage } from '../messages/keyPackage.js';
import type { Capabilities } from '../messages/leafNode.js';
import type { PreSharedKeyId } from '../messages/preSharedKeyId.js';
import { ProposalType, type Proposal } from '../messages/proposals.js';
import { validateLeafNode } from '../tree/leafNodeValidation.js';
import type { NodeSlot } from '../tree/nodes.js';
import type { RatchetTree } from '../tree/ratchetTree.js';
import { createUpdatePath } from '../tree/treekem.js';
import { interimTranscriptHash } from '../transcript.js';
import { EMPTY } from '../util/bytes.js';
import { provisionalContext, stepEpoch } from './commit.js';
import { buildEpoch } from './epoch.js';
import { defaultCapabilities } from './keyPackage.js';
import { applyProposals, type ProposalItem, type ProposalPolicy } from './proposals.js';
import { groupConfig, type GroupConfig, type GroupState } from './state.js';
import { treeFromGroupInfo, verifyGroupInfoAndTree } from './welcome.js';
import { createGroupInfo, type GroupInfoOptions } from './groupInfo.js';

export interface ExternalJoinOptions extends ProposalPolicy {
  credential: Credential;
  signatureKeyPair?: KeyPair;
  capabilities?: Partial<Capabilities>;
  leafExtensions?: Extension[];
  /** The tree, when the GroupInfo does not carry it. */
  ratchetTree?: readonly NodeSlot[];
  /** "Resync" (§12.4.3.2): remove this leaf, an older appearance of the joiner. */
  resync?: number;
  psks?: PreSharedKeyId[];
  authenticatedData?: Uint8Array;
  config?: Partial<GroupConfig>;
  /** What the returned GroupInfo of the new epoch carries. */
  groupInfo?: GroupInfoOptions;
}

export interface ExternalJoin {
  /** The external commit, a PublicMessage from `new_member_commit`. */
  commit: MlsMessage;
  /** The joiner's state in the epoch the commit starts; adopt it once the commit is accepted. */
  pending: GroupState;
  groupInfo: GroupInfo;
}

/**
 * Joins a group by external commit (RFC 9420 §12.4.3.2) from a GroupInfo with `external_pub`:
 * an ExternalInit carries a fresh init secret to the members, the joiner takes the leftmost
 * blank leaf, and its UpdatePath gives everyone the new epoch's commit secret. The joiner's leaf
 * is built to support what the group requires (see `joinerCapabilities`) and is validated as
 * the members will validate it (§7.3) before anything is returned: a leaf the group cannot take
 * (say, a credential type some member does not support) is an `MlsError`
 * (`UNSUPPORTED_CAPABILITY`, `DUPLICATE_KEY`, ...), not a commit every receiver refuses.
 */
export function joinByExternalCommit(
  provider: CryptoProvider,
  info: GroupInfo,
  options: ExternalJoinOptions,
): ExternalJoin {
  const gc = info.groupContext;
  const suite = cipherSuite(gc.cipherSuite, provider);
  const tree = treeFromGroupInfo(info, options.ratchetTree);
  verifyGroupInfoAndTree(suite, info, tree, options);
  const pubExt = findExtension(info.extensions, ExtensionType.external_pub);
  if (!pubExt) throw new MlsError('INVALID_GROUP_INFO', 'the GroupInfo has no external_pub');
  const { kemOutput, initSecret } = externalInitSend(
    suite,
    decode(externalPubCodec, pubExt.extensionData),
  );

  const signature = options.signatureKeyPair ?? suite.signature.generateKeyPair();
  const sender = { senderType: SenderType.new_member_commit } as const;
  const proposals: Proposal[] = [
    { proposalType: ProposalType.external_init, kemOutput },
    ...(options.resync !== undefined
      ? [{ proposalType: ProposalType.remove, removed: options.resync } as const]
      : []),
    ...(options.psks ?? []).map((psk) => ({ proposalType: ProposalType.psk, psk }) as const),
  ];
  const items: ProposalItem[] = proposals.map((proposal) => ({ proposal, sender }));
  const leafTemplate = {
    signatureKey: signature.publicKey,
    credential: options.credential,
    capabilities: joinerCapabilities(suite, gc.extensions, tree, options),
    extensions: options.leafExtensions ?? [],
  };
  // The resync check compares credentials only, so a provisional leaf will do here.
  const provisionalLeaf = {
    ...leafTemplate,
    encryptionKey: EMPTY,
    leafNodeSource: 3 as const,
    parentHash: EMPTY,
    signature: EMPTY,
  };
  const applied = applyProposals(
    { suite, context: gc, tree },
    items,
    { external: true, leaf: provisionalLeaf },
    options,
  );
  let joinTree = applied.tree;
  const leafIndex = joinTree.firstBlankLeaf();
  if (leafIndex === joinTree.leafCount) joinTree = joinTree.extended();
  const created = createUpdatePath({
    suite,
    groupId: gc.groupId,
    provisionalGroupContext: provisionalContext(gc, applied.extensions),
    tree: joinTree,
    leafIndex,
    leafNode: leafTemplate,
    signaturePrivateKey: signature.privateKey,
  });
  // The joiner's leaf as every member will check it (§7.3), so that a leaf the group cannot
  // take is an error here rather than a commit every receiver refuses.
  validateLeafNode(
    created.updatePath.leafNode,
    { use: 'commit', leafIndex },
    {
      suite,
      tree: joinTree,
      groupId: gc.groupId,
      extensions: applied.extensions,
      ...(options.now !== undefined && { now: options.now }),
      ...(options.validateCredential && { validateCredential: options.validateCredential }),
    },
  );

  const content: FramedContent = {
    groupId: gc.groupId,
    epoch: gc.epoch,
    sender,
    authenticatedData: options.authenticatedData ?? EMPTY,
    contentType: ContentType.commit,
    commit: {
      proposals: proposals.map((proposal) => ({ type: ProposalOrRefType.proposal, proposal })),
      path: created.updatePath,
    },
  };
  const signed = signContent(
    suite,
    signature.privateKey,
    WireFormat.mls_public_message,
    content,
    gc,
  );
  const step = stepEpoch(
    suite,
    {
      context: gc,
      interimTranscriptHash: interimTranscriptHash(
        suite,
        gc.confirmedTranscriptHash,
        info.confirmationTag,
      ),
    },
    signed,
    applied,
    created.tree,
    initSecret,
    created.commitSecret,
  );
  const authenticated = {
    ...signed,
    auth: { ...signed.auth, confirmationTag: step.confirmationTag },
  };
  const publicMessage = toPublicMessage(suite, authenticated, gc);
  const pending = buildEpoch({
    suite,
    config: groupConfig(options.config),
    context: step.context,
    tree: created.tree,
    ownLeaf: leafIndex,
    privateKeys: created.privateKeys,
    signaturePrivateKey: signature.privateKey,
    secrets: step.keySchedule.secrets,
    confirmationTag: step.confirmationTag,
  });
  return {
    commit: { wireFormat: WireFormat.mls_public_message, publicMessage },
    pending,
    groupInfo: createGroupInfo(pending, options.groupInfo),
  };
}

/**
 * The capabilities of an external joiner's leaf: the defaults for its suite and credential, what
 * the caller adds, every GroupContext extension and its own leaf extensions, and what a member's
 * leaf must support to be accepted (§7.3): everything the GroupContext's `required_capabilities`
 * lists (Wire's groups require credential types basic and x509, say) and every credential type
 * a member uses. Trellis carries both credential types it knows and leaves judging them to the
 * application (`validateCredential`); a required credential type it does not know is not
 * claimed.
 */
function joinerCapabilities(
  suite: CipherSuite,
  groupExtensions: readonly Extension[],
  tree: RatchetTree,
  options: ExternalJoinOptions,
): Capabilities {
  const extra = options.capabilities ?? {};
  const requiredExt = findExtension(groupExtensions, ExtensionType.required_capabilities);
  const required = requiredExt
    ? decode(requiredCapabilitiesCodec, requiredExt.extensionData)
    : { extensionTypes: [], proposalTypes: [], credentialTypes: [] };
  return defaultCapabilities(
    suite,
    options.credential,
    {
      ...extra,
      extensions: [...(extra.extensions ?? []), ...required.extensionTypes],
      proposals: [...(extra.proposals ?? []), ...required.proposalTypes],
      credentials: [
        ...(extra.credentials ?? []),
        // Only types this engine can decode: claiming another would be a promise it cannot
        // keep, and leaves the §7.3 check below to refuse the join.
        ...required.credentialTypes.filter(isKnownCredentialType),
        ...tree.memberIndex.credentialTypes.keys(),
      ],
    },
    [...groupExtensions, ...(options.leafExtensions ?? [])].map((e) => e.extensionType),
  );
}

const KNOWN_CREDENTIAL_TYPES: ReadonlySet<number> = new Set(Object.values(CredentialType));

function isKnownCredentialType(type: number): boolean {
  return KNOWN_CREDENTIAL_TYPES.has(type);
}

/**
 * A proposal from a sender outside the group listed in its `external_senders` extension
 * (§12.1.8): a PublicMessage without membership tag, signed with that sender's key.
 */
export function createExternalProposal(
  provider: CryptoProvider,
  groupInfo: GroupInfo,
  senderIndex: number,
  signaturePrivateKey: Uint8Array,
  proposal: Proposal,
  authenticatedData: Uint8Array = EMPTY,
): MlsMessage {
  return signedExternal(
    provider,
    groupInfo,
    { senderType: SenderType.external, senderIndex },
    signaturePrivateKey,
    proposal,
    authenticatedData,
  );
}

/** A client asking to be added (§12.1.8, `new_member_proposal`): an Add of its own KeyPackage. */
export function createNewMemberProposal(
  provider: CryptoProvider,
  groupInfo: GroupInfo,
  keyPackage: KeyPackage,
  signaturePrivateKey: Uint8Array,
): MlsMessage {
  return signedExternal(
    provider,
    groupInfo,
    { senderType: SenderType.new_member_proposal },
    signaturePrivateKey,
    { proposalType: ProposalType.add, keyPackage },
    EMPTY,
  );
}

function signedExternal(
  provider: CryptoProvider,
  groupInfo: GroupInfo,
  sender: FramedContent['sender'],
  signaturePrivateKey: Uint8Array,
  proposal: Proposal,
  authenticatedData: Uint8Array,
): MlsMessage {
  const gc = groupInfo.groupContext;
  const suite = cipherSuite(gc.cipherSuite, provider);
  const content: FramedContent = {
    groupId: gc.groupId,
    epoch: gc.epoch,
    sender,
    authenticatedData,
    contentType: ContentType.proposal,
    proposal,
  };
  const signed = signContent(
    suite,
    signaturePrivateKey,
    WireFormat.mls_public_message,
    content,
    gc,
  );
  return {
    wireFormat: WireFormat.mls_public_message,
    publicMessage: toPublicMessage(suite, signed, gc),
  };
}
