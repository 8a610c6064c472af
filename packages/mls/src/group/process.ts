import { encode } from '../codec/index.js';
import { makeProposalRef } from '../crypto/labels.js';
import { MlsError } from '../errors.js';
import {
  authenticatedContentCodec,
  ContentType,
  SenderType,
  type AuthenticatedContent,
  type Sender,
} from '../framing/content.js';
import type { MlsMessage } from '../framing/mlsMessage.js';
import type { Proposal } from '../messages/proposals.js';
import { bytesEqual } from '../util/bytes.js';
import { processCommit, type ProcessedCommit } from './commit.js';
import { unprotect } from './messaging.js';
import { checkProposalSender, type ProposalPolicy } from './proposals.js';
import type { CachedProposal, GroupState } from './state.js';

/** What a received group message turned out to be, with the state to continue from. */
export type Received =
  | {
      kind: 'application';
      state: GroupState;
      /** The sender's leaf index. */
      sender: number;
      data: Uint8Array;
      authenticatedData: Uint8Array;
    }
  | { kind: 'proposal'; state: GroupState; proposal: Proposal; ref: Uint8Array; sender: Sender }
  | ProcessedCommit;

/** ProposalRef of the AuthenticatedContent that carried a proposal (§5.2). */
export function proposalRef(state: GroupState, authenticated: AuthenticatedContent): Uint8Array {
  return makeProposalRef(state.suite, encode(authenticatedContentCodec, authenticated));
}

/**
 * Processes a PublicMessage or PrivateMessage of the state's epoch: authenticates it, then
 * returns application data, caches a proposal for a later commit, or applies a commit. The given
 * state is never changed; use the returned one. Every failure is an `MlsError`.
 */
export function processMessage(
  state: GroupState,
  message: MlsMessage,
  policy: ProposalPolicy = {},
): Received {
  const opened = unprotect(state, message);
  const { authenticated } = opened;
  const { content } = authenticated;
  switch (content.contentType) {
    case ContentType.application: {
      const sender = content.sender;
      // unprotect only lets application data through in PrivateMessages, i.e. from members.
      if (sender.senderType !== SenderType.member)
        throw new MlsError('INVALID_SENDER', 'application data from a non-member');
      return {
        kind: 'application',
        state: opened.state,
        sender: sender.leafIndex,
        data: content.applicationData,
        authenticatedData: content.authenticatedData,
      };
    }
    case ContentType.proposal: {
      checkProposalSender(content.proposal, content.sender);
      const ref = proposalRef(state, authenticated);
      return {
        kind: 'proposal',
        state: cacheProposal(opened.state, {
          ref,
          proposal: content.proposal,
          sender: content.sender,
          authenticated,
        }),
        proposal: content.proposal,
        ref,
        sender: content.sender,
      };
    }
    case ContentType.commit:
      return processCommit(opened.state, authenticated, policy);
  }
}

/** Adds a proposal to the state's cache, once. */
export function cacheProposal(state: GroupState, entry: CachedProposal): GroupState {
  if (state.proposals.some((p) => bytesEqual(p.ref, entry.ref))) return state;
  return { ...state, proposals: [...state.proposals, entry] };
}
