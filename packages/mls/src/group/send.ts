import {
  ContentType,
  SenderType,
  type ContentBody,
  type FramedContent,
} from '../framing/content.js';
import type { MlsMessage } from '../framing/mlsMessage.js';
import { mlsExporter } from '../crypto/labels.js';
import type { Extension } from '../extensions/extension.js';
import { LeafNodeSource, type Capabilities } from '../messages/leafNode.js';
import { ProposalType, type Proposal } from '../messages/proposals.js';
import { signLeafNode } from '../tree/leafNodeValidation.js';
import { MlsError } from '../errors.js';
import { EMPTY } from '../util/bytes.js';
import { protect } from './messaging.js';
import { cacheProposal, proposalRef } from './process.js';
import { checkProposalSender } from './proposals.js';
import { checkCanSend, ownLeafNode, type GroupState } from './state.js';

export interface SendOptions {
  authenticatedData?: Uint8Array;
}

function ownContent(state: GroupState, body: ContentBody, options: SendOptions): FramedContent {
  return {
    groupId: state.context.groupId,
    epoch: state.context.epoch,
    sender: { senderType: SenderType.member, leafIndex: state.ownLeaf },
    authenticatedData: options.authenticatedData ?? EMPTY,
    ...body,
  };
}

/**
 * Encrypts application data for the group (RFC 9420 §15). Refused while proposals of this epoch
 * await a commit: §12.4 requires the commit to come first.
 */
export function encryptApplication(
  state: GroupState,
  data: Uint8Array,
  options: SendOptions = {},
): { message: MlsMessage; state: GroupState } {
  checkCanSend(state);
  if (state.proposals.length > 0) {
    throw new MlsError(
      'INVALID_STATE',
      'proposals of this epoch must be committed before sending data',
    );
  }
  const content = ownContent(
    state,
    { contentType: ContentType.application, applicationData: data },
    options,
  );
  const { message, state: next } = protect(state, content, true);
  return { message, state: next };
}

export interface ProposeOptions extends SendOptions {
  /** PrivateMessage or PublicMessage; the group's `encryptHandshake` setting by default. */
  encrypt?: boolean;
}

/**
 * Sends a proposal (RFC 9420 §12.1) and caches it in the returned state, so that this member's
 * own commit can cover it by reference.
 */
export function propose(
  state: GroupState,
  proposal: Proposal,
  options: ProposeOptions = {},
  updatePrivateKey?: Uint8Array,
): { message: MlsMessage; state: GroupState; ref: Uint8Array } {
  checkCanSend(state);
  const sender = { senderType: SenderType.member, leafIndex: state.ownLeaf } as const;
  checkProposalSender(proposal, sender);
  const content = ownContent(state, { contentType: ContentType.proposal, proposal }, options);
  const sent = protect(state, content, options.encrypt ?? state.config.encryptHandshake);
  const ref = proposalRef(state, sent.authenticated);
  return {
    message: sent.message,
    ref,
    state: cacheProposal(sent.state, {
      ref,
      proposal,
      sender,
      authenticated: sent.authenticated,
      ...(updatePrivateKey && { updatePrivateKey }),
    }),
  };
}

/** Proposes an Update of this member's leaf with a fresh encryption key (§12.1.2). */
export function proposeUpdate(
  state: GroupState,
  changes: { capabilities?: Capabilities; extensions?: Extension[] } = {},
  options: ProposeOptions = {},
): { message: MlsMessage; state: GroupState; ref: Uint8Array } {
  const { suite } = state;
  const current = ownLeafNode(state);
  const keys = suite.kem.generateKeyPair();
  const leafNode = signLeafNode(
    suite,
    state.signaturePrivateKey,
    {
      encryptionKey: keys.publicKey,
      signatureKey: current.signatureKey,
      credential: current.credential,
      capabilities: changes.capabilities ?? current.capabilities,
      leafNodeSource: LeafNodeSource.update,
      extensions: changes.extensions ?? current.extensions,
      signature: EMPTY,
    },
    state.context.groupId,
    state.ownLeaf,
  );
  return propose(state, { proposalType: ProposalType.update, leafNode }, options, keys.privateKey);
}

/** MLS-Exporter (§8.5) of the state's epoch. */
export function exportSecret(
  state: GroupState,
  label: string,
  context: Uint8Array,
  length: number,
): Uint8Array {
  return mlsExporter(state.suite, state.secrets.exporterSecret, label, context, length);
}

/** The epoch authenticator (§8.7), for out-of-band comparison between members. */
export function epochAuthenticator(state: GroupState): Uint8Array {
  return state.secrets.epochAuthenticator;
}
