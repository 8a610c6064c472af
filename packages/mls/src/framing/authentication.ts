/**
 * Content authentication (RFC 9420 §6.1) and PublicMessage protection (§6.2).
 *
 * Signing and MACing are separate steps because a commit needs its signature before its
 * confirmation tag can be computed (the tag covers the transcript hash, which covers the
 * signature): sign with `signContent`, add the tag, then wrap with `toPublicMessage` or encrypt
 * with privateMessage.ts.
 */
import { Writer } from '../codec/index.js';
import { signEncodedWithLabel, verifyEncodedWithLabel } from '../crypto/labels.js';
import type { CipherSuite } from '../crypto/suites.js';
import { MlsError } from '../errors.js';
import type { GroupContext } from '../messages/groupContext.js';
import { constantTimeEqual, bytesEqual } from '../util/bytes.js';
import {
  ContentType,
  SenderType,
  WireFormat,
  encodeAuthData,
  encodeFramedContentTbs,
  type AuthenticatedContent,
  type FramedContent,
  type FramedContentAuthData,
} from './content.js';
import type { PublicMessage } from './messages.js';

const FRAMED_CONTENT_TBS = 'FramedContentTBS';

/**
 * The group context a sender of this type signs over (§6.1): members and new members committing
 * sign the epoch's context; external senders and new members proposing sign none.
 */
function signedContext(
  content: FramedContent,
  context: GroupContext | undefined,
): GroupContext | undefined {
  const type = content.sender.senderType;
  return type === SenderType.member || type === SenderType.new_member_commit ? context : undefined;
}

/** Room for a TBS or TBM, so the writer rarely grows: the variable fields plus headroom. */
function tbsCapacity(content: FramedContent): number {
  const body = content.contentType === ContentType.application ? content.applicationData.length : 0;
  return 512 + content.groupId.length + content.authenticatedData.length + body;
}

/** Writes the FramedContentTBS. `context` is needed only when the sender signs over it. */
function framedContentTbs(
  wireFormat: WireFormat,
  content: FramedContent,
  context: GroupContext | undefined,
) {
  return (w: Writer) =>
    encodeFramedContentTbs(w, wireFormat, content, signedContext(content, context));
}

/** SignWithLabel(signature_key, "FramedContentTBS", FramedContentTBS) */
export function signFramedContent(
  suite: CipherSuite,
  signaturePrivateKey: Uint8Array,
  wireFormat: WireFormat,
  content: FramedContent,
  context: GroupContext | undefined,
): Uint8Array {
  const tbs = framedContentTbs(wireFormat, content, context);
  return signEncodedWithLabel(suite, signaturePrivateKey, FRAMED_CONTENT_TBS, tbs);
}

/**
 * Signs `content` for sending as `wireFormat`. A commit needs its confirmation tag, which can
 * only be computed after signing (see transcript.ts): pass it here if known, or add it to
 * `auth` before protecting the result.
 */
export function signContent(
  suite: CipherSuite,
  signaturePrivateKey: Uint8Array,
  wireFormat: WireFormat,
  content: FramedContent,
  context: GroupContext | undefined,
  confirmationTag?: Uint8Array,
): AuthenticatedContent {
  const signature = signFramedContent(suite, signaturePrivateKey, wireFormat, content, context);
  const auth: FramedContentAuthData =
    confirmationTag === undefined ? { signature } : { signature, confirmationTag };
  return { wireFormat, content, auth };
}

/** Throws `BAD_SIGNATURE` unless the content's signature verifies under `signaturePublicKey`. */
export function verifyContentSignature(
  suite: CipherSuite,
  signaturePublicKey: Uint8Array,
  authenticated: AuthenticatedContent,
  context: GroupContext | undefined,
): void {
  const tbs = framedContentTbs(authenticated.wireFormat, authenticated.content, context);
  verifyTbs(suite, signaturePublicKey, tbs, authenticated.auth.signature);
}

function verifyTbs(
  suite: CipherSuite,
  signaturePublicKey: Uint8Array,
  tbs: (w: Writer) => void,
  signature: Uint8Array,
): void {
  if (!verifyEncodedWithLabel(suite, signaturePublicKey, FRAMED_CONTENT_TBS, tbs, signature)) {
    throw new MlsError('BAD_SIGNATURE', 'the FramedContentTBS signature does not verify');
  }
}

/** Throws `INVALID_VALUE` unless a commit carries a confirmation tag and nothing else does. */
function checkAuthShape(content: FramedContent, auth: FramedContentAuthData): void {
  const isCommit = content.contentType === ContentType.commit;
  if (isCommit !== (auth.confirmationTag !== undefined)) {
    throw new MlsError(
      'INVALID_VALUE',
      isCommit ? 'commit without confirmation tag' : 'confirmation tag on a non-commit',
    );
  }
}

/** TBS and TBM = FramedContentTBS || FramedContentAuthData, encoded together. */
function tbsAndTbm(
  authenticated: AuthenticatedContent,
  context: GroupContext | undefined,
): { tbs: Uint8Array; tbm: Uint8Array } {
  const { wireFormat, content, auth } = authenticated;
  const w = new Writer(tbsCapacity(content));
  encodeFramedContentTbs(w, wireFormat, content, signedContext(content, context));
  const tbs = w.finish();
  encodeAuthData(w, auth, content.contentType);
  return { tbs, tbm: w.finish() };
}

/** membership_tag = MAC(membership_key, AuthenticatedContentTBM) (§6.2). */
export function membershipTag(
  suite: CipherSuite,
  membershipKey: Uint8Array,
  authenticated: AuthenticatedContent,
  context: GroupContext,
): Uint8Array {
  checkAuthShape(authenticated.content, authenticated.auth);
  return suite.hash.mac(membershipKey, tbsAndTbm(authenticated, context).tbm);
}

/**
 * Wraps signed content as a PublicMessage. Members' messages get a membership tag, for which
 * `membershipKey` is required; other senders' messages get none.
 */
export function toPublicMessage(
  suite: CipherSuite,
  authenticated: AuthenticatedContent,
  context: GroupContext | undefined,
  membershipKey?: Uint8Array,
): PublicMessage {
  const { wireFormat, content, auth } = authenticated;
  if (wireFormat !== WireFormat.mls_public_message) {
    throw new MlsError('WRONG_WIRE_FORMAT', 'content was signed for another wire format');
  }
  checkAuthShape(content, auth);
  if (content.sender.senderType !== SenderType.member) return { content, auth };
  if (membershipKey === undefined || context === undefined) {
    throw new TypeError('a member message needs the membership key and group context');
  }
  return {
    content,
    auth,
    membershipTag: suite.hash.mac(membershipKey, tbsAndTbm(authenticated, context).tbm),
  };
}

/** Signs `content` and wraps it as a PublicMessage: `signContent` then `toPublicMessage`. */
export function protectPublicMessage(
  suite: CipherSuite,
  params: {
    content: FramedContent;
    signaturePrivateKey: Uint8Array;
    context: GroupContext | undefined;
    membershipKey?: Uint8Array;
    confirmationTag?: Uint8Array;
  },
): PublicMessage {
  const signed = signContent(
    suite,
    params.signaturePrivateKey,
    WireFormat.mls_public_message,
    params.content,
    params.context,
    params.confirmationTag,
  );
  return toPublicMessage(suite, signed, params.context, params.membershipKey);
}

export interface PublicMessageVerification {
  /** The group context of the epoch the message claims; needed for member senders. */
  readonly context: GroupContext | undefined;
  /** The epoch's membership key; needed for member senders. */
  readonly membershipKey?: Uint8Array;
  /** The sender's signature key, which the caller finds from the sender (§6.1). */
  readonly signaturePublicKey: Uint8Array;
}

/**
 * Checks a PublicMessage and returns its AuthenticatedContent: for a member, the membership tag
 * (`BAD_MEMBERSHIP_TAG`), then for everyone the signature (`BAD_SIGNATURE`). Whether the message
 * belongs to this group and epoch is for the caller to check (see `checkGroupAndEpoch`), as are
 * the confirmation tag of a commit (keySchedule.ts) and which sender may send what.
 */
export function verifyPublicMessage(
  suite: CipherSuite,
  message: PublicMessage,
  verification: PublicMessageVerification,
): AuthenticatedContent {
  const { content, auth } = message;
  checkAuthShape(content, auth);
  const authenticated: AuthenticatedContent = {
    wireFormat: WireFormat.mls_public_message,
    content,
    auth,
  };
  const { context, membershipKey, signaturePublicKey } = verification;
  const isMember = content.sender.senderType === SenderType.member;
  if (isMember !== (message.membershipTag !== undefined)) {
    throw new MlsError(
      'BAD_MEMBERSHIP_TAG',
      isMember ? 'member message without membership tag' : 'membership tag on a non-member message',
    );
  }
  const { tbs, tbm } = tbsAndTbm(authenticated, context);
  if (isMember) {
    if (membershipKey === undefined)
      throw new TypeError('a member message needs the membership key');
    const expected = suite.hash.mac(membershipKey, tbm);
    if (!constantTimeEqual(expected, message.membershipTag!)) {
      throw new MlsError('BAD_MEMBERSHIP_TAG', 'membership tag does not match');
    }
  }
  verifyTbs(suite, signaturePublicKey, (w) => w.raw(tbs), auth.signature);
  return authenticated;
}

/** Throws `WRONG_GROUP` or `WRONG_EPOCH` unless a message belongs to the context's group and epoch. */
export function checkGroupAndEpoch(
  groupId: Uint8Array,
  epoch: bigint,
  context: GroupContext,
): void {
  if (!bytesEqual(groupId, context.groupId)) {
    throw new MlsError('WRONG_GROUP', 'message is for another group');
  }
  if (epoch !== context.epoch) {
    throw new MlsError('WRONG_EPOCH', `message is for epoch ${epoch}, not ${context.epoch}`);
  }
}
