import type { Codec, Reader, Writer } from '../codec/index.js';
import { checkEnum } from '../codec/index.js';
import { commitCodec, type Commit } from '../messages/commit.js';
import { groupContextCodec, type GroupContext } from '../messages/groupContext.js';
import { proposalCodec, type Proposal } from '../messages/proposals.js';

/** RFC 9420 §6 */
export const ProtocolVersion = { mls10: 1 } as const;
export const ContentType = { application: 1, proposal: 2, commit: 3 } as const;
export const SenderType = {
  member: 1,
  external: 2,
  new_member_proposal: 3,
  new_member_commit: 4,
} as const;
export const WireFormat = {
  mls_public_message: 1,
  mls_private_message: 2,
  mls_welcome: 3,
  mls_group_info: 4,
  mls_key_package: 5,
} as const;

export type ContentType = (typeof ContentType)[keyof typeof ContentType];
export type WireFormat = (typeof WireFormat)[keyof typeof WireFormat];

const CONTENT_TYPES = new Set<number>(Object.values(ContentType));
const SENDER_TYPES = new Set<number>(Object.values(SenderType));
export const WIRE_FORMATS = new Set<number>(Object.values(WireFormat));

export type Sender =
  | { senderType: typeof SenderType.member; leafIndex: number }
  | { senderType: typeof SenderType.external; senderIndex: number }
  | { senderType: typeof SenderType.new_member_proposal }
  | { senderType: typeof SenderType.new_member_commit };

export const senderCodec: Codec<Sender> = {
  encode(w, s) {
    w.u8(s.senderType);
    if (s.senderType === SenderType.member) w.u32(s.leafIndex);
    else if (s.senderType === SenderType.external) w.u32(s.senderIndex);
  },
  decode(r) {
    const senderType = checkEnum<1 | 2 | 3 | 4>(r.u8(), SENDER_TYPES, 'SenderType');
    switch (senderType) {
      case SenderType.member:
        return { senderType, leafIndex: r.u32() };
      case SenderType.external:
        return { senderType, senderIndex: r.u32() };
      default:
        return { senderType };
    }
  },
};

/** The body of framed content, selected by its content type. */
export type ContentBody =
  | { contentType: typeof ContentType.application; applicationData: Uint8Array }
  | { contentType: typeof ContentType.proposal; proposal: Proposal }
  | { contentType: typeof ContentType.commit; commit: Commit };

export type FramedContent = {
  groupId: Uint8Array;
  epoch: bigint;
  sender: Sender;
  authenticatedData: Uint8Array;
} & ContentBody;

export function encodeContentBody(w: Writer, body: ContentBody): void {
  switch (body.contentType) {
    case ContentType.application:
      return w.opaque(body.applicationData);
    case ContentType.proposal:
      return proposalCodec.encode(w, body.proposal);
    case ContentType.commit:
      return commitCodec.encode(w, body.commit);
  }
}

/** Reads the body of the given content type (the type itself is read by the caller). */
export function decodeContentBody(r: Reader, contentType: ContentType): ContentBody {
  switch (contentType) {
    case ContentType.application:
      return { contentType, applicationData: r.opaque() };
    case ContentType.proposal:
      return { contentType, proposal: proposalCodec.decode(r) };
    case ContentType.commit:
      return { contentType, commit: commitCodec.decode(r) };
  }
}

export function decodeContentType(r: Reader): ContentType {
  return checkEnum<ContentType>(r.u8(), CONTENT_TYPES, 'ContentType');
}

export const framedContentCodec: Codec<FramedContent> = {
  encode(w, c) {
    w.opaque(c.groupId);
    w.u64(c.epoch);
    senderCodec.encode(w, c.sender);
    w.opaque(c.authenticatedData);
    w.u8(c.contentType);
    encodeContentBody(w, c);
  },
  decode(r) {
    const groupId = r.opaque();
    const epoch = r.u64();
    const sender = senderCodec.decode(r);
    const authenticatedData = r.opaque();
    const body = decodeContentBody(r, decodeContentType(r));
    return { groupId, epoch, sender, authenticatedData, ...body };
  },
};

/** RFC 9420 §6.1: the signature, and on commits the confirmation tag. */
export interface FramedContentAuthData {
  signature: Uint8Array;
  /** Present exactly when the content is a commit. */
  confirmationTag?: Uint8Array;
}

export function encodeAuthData(w: Writer, auth: FramedContentAuthData, contentType: ContentType) {
  w.opaque(auth.signature);
  if (contentType === ContentType.commit) {
    if (auth.confirmationTag === undefined) throw new TypeError('commit without confirmation tag');
    w.opaque(auth.confirmationTag);
  }
}

export function decodeAuthData(r: Reader, contentType: ContentType): FramedContentAuthData {
  const signature = r.opaque();
  return contentType === ContentType.commit
    ? { signature, confirmationTag: r.opaque() }
    : { signature };
}

/** RFC 9420 §6: framed content with its wire format and authentication. */
export interface AuthenticatedContent {
  wireFormat: WireFormat;
  content: FramedContent;
  auth: FramedContentAuthData;
}

export const authenticatedContentCodec: Codec<AuthenticatedContent> = {
  encode(w, ac) {
    w.u16(ac.wireFormat);
    framedContentCodec.encode(w, ac.content);
    encodeAuthData(w, ac.auth, ac.content.contentType);
  },
  decode(r) {
    const wireFormat = checkEnum<WireFormat>(r.u16(), WIRE_FORMATS, 'WireFormat');
    const content = framedContentCodec.decode(r);
    return { wireFormat, content, auth: decodeAuthData(r, content.contentType) };
  },
};

/**
 * FramedContentTBS (RFC 9420 §6.1): what the sender signs. Members and new members committing
 * also sign the group context, binding the content to the epoch's state.
 */
export function encodeFramedContentTbs(
  w: Writer,
  wireFormat: WireFormat,
  content: FramedContent,
  context: GroupContext | undefined,
): void {
  w.u16(ProtocolVersion.mls10);
  w.u16(wireFormat);
  framedContentCodec.encode(w, content);
  const type = content.sender.senderType;
  if (type === SenderType.member || type === SenderType.new_member_commit) {
    if (context === undefined) throw new TypeError('member content is signed with its context');
    groupContextCodec.encode(w, context);
  }
}
