import type { Codec, Writer } from '../codec/index.js';
import { decodeExtensions, encodeExtensions, type Extension } from '../extensions/extension.js';
import { groupContextCodec, type GroupContext } from './groupContext.js';

/** RFC 9420 §12.4.3: what a joiner needs to know about the group, signed by a member. */
export interface GroupInfo {
  groupContext: GroupContext;
  extensions: Extension[];
  confirmationTag: Uint8Array;
  signer: number;
  /** SignWithLabel(., "GroupInfoTBS", GroupInfoTBS) */
  signature: Uint8Array;
}

export function encodeGroupInfoTbs(w: Writer, gi: GroupInfo): void {
  groupContextCodec.encode(w, gi.groupContext);
  encodeExtensions(w, gi.extensions);
  w.opaque(gi.confirmationTag);
  w.u32(gi.signer);
}

export const groupInfoCodec: Codec<GroupInfo> = {
  encode(w, gi) {
    encodeGroupInfoTbs(w, gi);
    w.opaque(gi.signature);
  },
  decode: (r) => ({
    groupContext: groupContextCodec.decode(r),
    extensions: decodeExtensions(r),
    confirmationTag: r.opaque(),
    signer: r.u32(),
    signature: r.opaque(),
  }),
};
