import type { Codec, Reader, Writer } from '../codec/index.js';
import { checkEnum } from '../codec/index.js';
import { credentialCodec, type Credential } from '../credentials/credential.js';
import { decodeExtensions, encodeExtensions, type Extension } from '../extensions/extension.js';

/** RFC 9420 §7.2 */
export const LeafNodeSource = { key_package: 1, update: 2, commit: 3 } as const;
const LEAF_NODE_SOURCES = new Set<number>(Object.values(LeafNodeSource));

/** RFC 9420 §7.2: what a client supports. Values are kept as sent, GREASE included. */
export interface Capabilities {
  versions: number[];
  cipherSuites: number[];
  extensions: number[];
  proposals: number[];
  credentials: number[];
}

/** Seconds since the Unix epoch. */
export interface Lifetime {
  notBefore: bigint;
  notAfter: bigint;
}

interface LeafNodeCommon {
  encryptionKey: Uint8Array;
  signatureKey: Uint8Array;
  credential: Credential;
  capabilities: Capabilities;
  extensions: Extension[];
  /** SignWithLabel(., "LeafNodeTBS", LeafNodeTBS) */
  signature: Uint8Array;
}

/** Fields that depend on how the leaf node came to be (RFC 9420 §7.2). */
export type LeafNodeSourceFields =
  | { leafNodeSource: typeof LeafNodeSource.key_package; lifetime: Lifetime }
  | { leafNodeSource: typeof LeafNodeSource.update }
  | { leafNodeSource: typeof LeafNodeSource.commit; parentHash: Uint8Array };

export type LeafNode = LeafNodeCommon & LeafNodeSourceFields;

const u16 = (w: Writer, v: number) => w.u16(v);
const readU16 = (r: Reader) => r.u16();

export const capabilitiesCodec: Codec<Capabilities> = {
  encode(w, c) {
    w.vector(c.versions, u16);
    w.vector(c.cipherSuites, u16);
    w.vector(c.extensions, u16);
    w.vector(c.proposals, u16);
    w.vector(c.credentials, u16);
  },
  decode(r) {
    return {
      versions: r.vector(readU16),
      cipherSuites: r.vector(readU16),
      extensions: r.vector(readU16),
      proposals: r.vector(readU16),
      credentials: r.vector(readU16),
    };
  },
};

export const lifetimeCodec: Codec<Lifetime> = {
  encode(w, l) {
    w.u64(l.notBefore);
    w.u64(l.notAfter);
  },
  decode(r) {
    return { notBefore: r.u64(), notAfter: r.u64() };
  },
};

/** The signed part of a leaf node, without the group binding of LeafNodeTBS. */
function encodeLeafNodeContent(w: Writer, leaf: LeafNode): void {
  w.opaque(leaf.encryptionKey);
  w.opaque(leaf.signatureKey);
  credentialCodec.encode(w, leaf.credential);
  capabilitiesCodec.encode(w, leaf.capabilities);
  w.u8(leaf.leafNodeSource);
  if (leaf.leafNodeSource === LeafNodeSource.key_package) lifetimeCodec.encode(w, leaf.lifetime);
  else if (leaf.leafNodeSource === LeafNodeSource.commit) w.opaque(leaf.parentHash);
  encodeExtensions(w, leaf.extensions);
}

export const leafNodeCodec: Codec<LeafNode> = {
  encode(w, leaf) {
    encodeLeafNodeContent(w, leaf);
    w.opaque(leaf.signature);
  },
  decode(r) {
    const encryptionKey = r.opaque();
    const signatureKey = r.opaque();
    const credential = credentialCodec.decode(r);
    const capabilities = capabilitiesCodec.decode(r);
    const source = checkEnum<1 | 2 | 3>(r.u8(), LEAF_NODE_SOURCES, 'LeafNodeSource');
    let sourceFields: LeafNodeSourceFields;
    if (source === LeafNodeSource.key_package) {
      sourceFields = { leafNodeSource: source, lifetime: lifetimeCodec.decode(r) };
    } else if (source === LeafNodeSource.commit) {
      sourceFields = { leafNodeSource: source, parentHash: r.opaque() };
    } else {
      sourceFields = { leafNodeSource: source };
    }
    const extensions = decodeExtensions(r);
    const signature = r.opaque();
    return {
      encryptionKey,
      signatureKey,
      credential,
      capabilities,
      ...sourceFields,
      extensions,
      signature,
    };
  },
};

/**
 * LeafNodeTBS (RFC 9420 §7.2): the leaf node without its signature, bound to a group and leaf
 * index unless it comes from a KeyPackage.
 */
export function encodeLeafNodeTbs(
  w: Writer,
  leaf: LeafNode,
  groupId?: Uint8Array,
  leafIndex?: number,
): void {
  encodeLeafNodeContent(w, leaf);
  if (leaf.leafNodeSource !== LeafNodeSource.key_package) {
    if (groupId === undefined || leafIndex === undefined) {
      throw new TypeError('LeafNodeTBS for update or commit leaves needs the group and leaf index');
    }
    w.opaque(groupId);
    w.u32(leafIndex);
  }
}
