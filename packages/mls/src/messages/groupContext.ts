import type { Codec } from '../codec/index.js';
import { decodeExtensions, encodeExtensions, type Extension } from '../extensions/extension.js';

/** RFC 9420 §8.1: the state every member agrees on in an epoch. */
export interface GroupContext {
  version: number;
  cipherSuite: number;
  groupId: Uint8Array;
  epoch: bigint;
  treeHash: Uint8Array;
  confirmedTranscriptHash: Uint8Array;
  extensions: Extension[];
}

export const groupContextCodec: Codec<GroupContext> = {
  encode(w, c) {
    w.u16(c.version);
    w.u16(c.cipherSuite);
    w.opaque(c.groupId);
    w.u64(c.epoch);
    w.opaque(c.treeHash);
    w.opaque(c.confirmedTranscriptHash);
    encodeExtensions(w, c.extensions);
  },
  decode: (r) => ({
    version: r.u16(),
    cipherSuite: r.u16(),
    groupId: r.opaque(),
    epoch: r.u64(),
    treeHash: r.opaque(),
    confirmedTranscriptHash: r.opaque(),
    extensions: decodeExtensions(r),
  }),
};
