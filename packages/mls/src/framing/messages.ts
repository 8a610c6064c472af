import type { Codec } from '../codec/index.js';
import {
  ContentType,
  SenderType,
  decodeAuthData,
  decodeContentType,
  encodeAuthData,
  framedContentCodec,
  type FramedContent,
  type FramedContentAuthData,
} from './content.js';

/** RFC 9420 §6.2: content signed by its sender and, from members, MACed with the membership key. */
export interface PublicMessage {
  content: FramedContent;
  auth: FramedContentAuthData;
  /** Present exactly when the sender is a member. */
  membershipTag?: Uint8Array;
}

export const publicMessageCodec: Codec<PublicMessage> = {
  encode(w, m) {
    framedContentCodec.encode(w, m.content);
    encodeAuthData(w, m.auth, m.content.contentType);
    if (m.content.sender.senderType === SenderType.member) {
      if (m.membershipTag === undefined) throw new TypeError('member message without tag');
      w.opaque(m.membershipTag);
    }
  },
  decode(r) {
    const content = framedContentCodec.decode(r);
    const auth = decodeAuthData(r, content.contentType);
    return content.sender.senderType === SenderType.member
      ? { content, auth, membershipTag: r.opaque() }
      : { content, auth };
  },
};

/** RFC 9420 §6.3: content and sender encrypted under the epoch's secret tree. */
export interface PrivateMessage {
  groupId: Uint8Array;
  epoch: bigint;
  contentType: ContentType;
  authenticatedData: Uint8Array;
  encryptedSenderData: Uint8Array;
  ciphertext: Uint8Array;
}

export const privateMessageCodec: Codec<PrivateMessage> = {
  encode(w, m) {
    w.opaque(m.groupId);
    w.u64(m.epoch);
    w.u8(m.contentType);
    w.opaque(m.authenticatedData);
    w.opaque(m.encryptedSenderData);
    w.opaque(m.ciphertext);
  },
  decode: (r) => ({
    groupId: r.opaque(),
    epoch: r.u64(),
    contentType: decodeContentType(r),
    authenticatedData: r.opaque(),
    encryptedSenderData: r.opaque(),
    ciphertext: r.opaque(),
  }),
};
