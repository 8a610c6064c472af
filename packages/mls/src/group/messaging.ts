import { decode } from '../codec/index.js';
import { MlsError } from '../errors.js';
import { externalSendersCodec } from '../extensions/bodies.js';
import { ExtensionType, findExtension } from '../extensions/extension.js';
import {
  checkGroupAndEpoch,
  signContent,
  toPublicMessage,
  verifyPublicMessage,
} from '../framing/authentication.js';
import {
  ContentType,
  SenderType,
  WireFormat,
  type AuthenticatedContent,
  type FramedContent,
} from '../framing/content.js';
import type { PublicMessage } from '../framing/messages.js';
import type { MlsMessage } from '../framing/mlsMessage.js';
import { decryptPrivateMessage, encryptPrivateMessage } from '../framing/privateMessage.js';
import { ProposalType, proposalOfType } from '../messages/proposals.js';
import type { GroupState } from './state.js';

/** Signs content from this member for the state's epoch, to be sent as `wireFormat`. */
export function signOwn(
  state: GroupState,
  content: FramedContent,
  wireFormat: WireFormat,
  confirmationTag?: Uint8Array,
): AuthenticatedContent {
  return signContent(
    state.suite,
    state.signaturePrivateKey,
    wireFormat,
    content,
    state.context,
    confirmationTag,
  );
}

/**
 * Protects signed content of this member for sending in the state's epoch: a PublicMessage with
 * membership tag, or a PrivateMessage under the next key of the sender's ratchet (then the
 * returned state has that key used up).
 */
export function protectOwn(
  state: GroupState,
  authenticated: AuthenticatedContent,
): { message: MlsMessage; state: GroupState } {
  const { suite } = state;
  if (authenticated.wireFormat === WireFormat.mls_public_message) {
    const publicMessage = toPublicMessage(
      suite,
      authenticated,
      state.context,
      state.secrets.membershipKey,
    );
    return { message: { wireFormat: WireFormat.mls_public_message, publicMessage }, state };
  }
  const { message, secretTree } = encryptPrivateMessage(
    suite,
    authenticated,
    { senderDataSecret: state.secrets.senderDataSecret, secretTree: state.secretTree },
    { padding: state.config.paddingBlock },
  );
  return {
    message: { wireFormat: WireFormat.mls_private_message, privateMessage: message },
    state: { ...state, secretTree },
  };
}

/** `signOwn` then `protectOwn`, for content whose signature nothing else needs first. */
export function protect(
  state: GroupState,
  content: FramedContent,
  encrypt: boolean,
): { message: MlsMessage; state: GroupState; authenticated: AuthenticatedContent } {
  const wireFormat = encrypt ? WireFormat.mls_private_message : WireFormat.mls_public_message;
  const authenticated = signOwn(state, content, wireFormat);
  return { ...protectOwn(state, authenticated), authenticated };
}

/**
 * Authenticates a received PublicMessage or PrivateMessage of the state's epoch: group and epoch
 * (`WRONG_GROUP`, `WRONG_EPOCH`), decryption, the sender (`INVALID_SENDER`, `REMOVED_SENDER`),
 * the membership tag and the signature. Returns the content and, for a PrivateMessage, the state
 * with the used key gone from its secret tree.
 */
export function unprotect(
  state: GroupState,
  message: MlsMessage,
): { authenticated: AuthenticatedContent; state: GroupState } {
  const { suite, context, tree } = state;
  if (message.wireFormat === WireFormat.mls_private_message) {
    const m = message.privateMessage;
    checkGroupAndEpoch(m.groupId, m.epoch, context);
    const { authenticated, secretTree } = decryptPrivateMessage(suite, m, {
      senderDataSecret: state.secrets.senderDataSecret,
      secretTree: state.secretTree,
      context,
      senderSignatureKey: (leaf) => tree.leaf(leaf)?.signatureKey,
    });
    return { authenticated, state: { ...state, secretTree } };
  }
  if (message.wireFormat !== WireFormat.mls_public_message) {
    throw new MlsError(
      'WRONG_WIRE_FORMAT',
      `wire format ${message.wireFormat} is not a group message`,
    );
  }
  const m = message.publicMessage;
  checkGroupAndEpoch(m.content.groupId, m.content.epoch, context);
  if (m.content.contentType === ContentType.application) {
    // §6.2: application data is only ever sent encrypted.
    throw new MlsError('WRONG_WIRE_FORMAT', 'application data in a PublicMessage');
  }
  const authenticated = verifyPublicMessage(suite, m, {
    context,
    membershipKey: state.secrets.membershipKey,
    signaturePublicKey: publicSenderKey(state, m),
  });
  return { authenticated, state };
}

/** The key a PublicMessage's sender signs with, by sender type (§6.1, §12.1.8, §12.4.3.2). */
function publicSenderKey(state: GroupState, m: PublicMessage): Uint8Array {
  const { content } = m;
  const sender = content.sender;
  switch (sender.senderType) {
    case SenderType.member: {
      if (sender.leafIndex >= state.tree.leafCount) {
        throw new MlsError('INVALID_SENDER', `sender leaf ${sender.leafIndex} is outside the tree`);
      }
      const leaf = state.tree.leaf(sender.leafIndex);
      if (!leaf)
        throw new MlsError('REMOVED_SENDER', `sender leaf ${sender.leafIndex} is not a member`);
      return leaf.signatureKey;
    }
    case SenderType.external: {
      if (content.contentType !== ContentType.proposal) {
        throw new MlsError('INVALID_SENDER', 'external senders only send proposals');
      }
      const ext = findExtension(state.context.extensions, ExtensionType.external_senders);
      const senders = ext ? decode(externalSendersCodec, ext.extensionData) : [];
      const entry = senders[sender.senderIndex];
      if (!entry) {
        throw new MlsError(
          'INVALID_SENDER',
          `no external sender ${sender.senderIndex} in the group`,
        );
      }
      return entry.signatureKey;
    }
    case SenderType.new_member_proposal: {
      const add =
        content.contentType === ContentType.proposal
          ? proposalOfType(content.proposal, ProposalType.add)
          : undefined;
      if (!add) throw new MlsError('INVALID_SENDER', 'a new member may only propose its own Add');
      return add.keyPackage.leafNode.signatureKey;
    }
    case SenderType.new_member_commit: {
      if (content.contentType !== ContentType.commit) {
        throw new MlsError('INVALID_SENDER', 'new_member_commit sender on a non-commit');
      }
      const path = content.commit.path;
      if (!path) throw new MlsError('PATH_REQUIRED', 'an external commit must carry a path');
      return path.leafNode.signatureKey;
    }
  }
}
