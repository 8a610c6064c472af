import type { Codec, Writer } from '../codec/index.js';
import { decodeExtensions, encodeExtensions, type Extension } from '../extensions/extension.js';
import { leafNodeCodec, type LeafNode } from './leafNode.js';

/** RFC 9420 §10: a client's offer to be added to groups. */
export interface KeyPackage {
  version: number;
  cipherSuite: number;
  initKey: Uint8Array;
  leafNode: LeafNode;
  extensions: Extension[];
  /** SignWithLabel(., "KeyPackageTBS", KeyPackageTBS) */
  signature: Uint8Array;
}

export function encodeKeyPackageTbs(w: Writer, kp: KeyPackage): void {
  w.u16(kp.version);
  w.u16(kp.cipherSuite);
  w.opaque(kp.initKey);
  leafNodeCodec.encode(w, kp.leafNode);
  encodeExtensions(w, kp.extensions);
}

export const keyPackageCodec: Codec<KeyPackage> = {
  encode(w, kp) {
    encodeKeyPackageTbs(w, kp);
    w.opaque(kp.signature);
  },
  decode(r) {
    return {
      version: r.u16(),
      cipherSuite: r.u16(),
      initKey: r.opaque(),
      leafNode: leafNodeCodec.decode(r),
      extensions: decodeExtensions(r),
      signature: r.opaque(),
    };
  },
};
