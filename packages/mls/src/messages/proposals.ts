import type { Codec, Writer } from '../codec/index.js';
import { MlsError } from '../errors.js';
import { decodeExtensions, encodeExtensions, type Extension } from '../extensions/extension.js';
import { keyPackageCodec, type KeyPackage } from './keyPackage.js';
import { leafNodeCodec, type LeafNode } from './leafNode.js';
import { preSharedKeyIdCodec, type PreSharedKeyId } from './preSharedKeyId.js';

/** RFC 9420 §17.4 */
export const ProposalType = {
  add: 0x0001,
  update: 0x0002,
  remove: 0x0003,
  psk: 0x0004,
  reinit: 0x0005,
  external_init: 0x0006,
  group_context_extensions: 0x0007,
} as const;

export interface Add {
  keyPackage: KeyPackage;
}
export interface Update {
  leafNode: LeafNode;
}
export interface Remove {
  removed: number;
}
export interface PreSharedKey {
  psk: PreSharedKeyId;
}
export interface ReInit {
  groupId: Uint8Array;
  version: number;
  cipherSuite: number;
  extensions: Extension[];
}
export interface ExternalInit {
  kemOutput: Uint8Array;
}
export interface GroupContextExtensions {
  extensions: Extension[];
}

/**
 * RFC 9420 §12.1. Proposal types outside the RFC's seven are application-defined; since the RFC
 * fixes no framing for them, their body is carried as `opaque payload<V>` (the convention of
 * OpenMLS's custom proposals), so that a receiver can at least parse past them.
 */
export type Proposal =
  | ({ proposalType: typeof ProposalType.add } & Add)
  | ({ proposalType: typeof ProposalType.update } & Update)
  | ({ proposalType: typeof ProposalType.remove } & Remove)
  | ({ proposalType: typeof ProposalType.psk } & PreSharedKey)
  | ({ proposalType: typeof ProposalType.reinit } & ReInit)
  | ({ proposalType: typeof ProposalType.external_init } & ExternalInit)
  | ({ proposalType: typeof ProposalType.group_context_extensions } & GroupContextExtensions)
  | CustomProposal;

export interface CustomProposal {
  /** Any type not defined by RFC 9420. */
  proposalType: number & { readonly __custom?: never };
  payload: Uint8Array;
}

export const addCodec: Codec<Add> = {
  encode: (w, p) => keyPackageCodec.encode(w, p.keyPackage),
  decode: (r) => ({ keyPackage: keyPackageCodec.decode(r) }),
};
export const updateCodec: Codec<Update> = {
  encode: (w, p) => leafNodeCodec.encode(w, p.leafNode),
  decode: (r) => ({ leafNode: leafNodeCodec.decode(r) }),
};
export const removeCodec: Codec<Remove> = {
  encode: (w, p) => w.u32(p.removed),
  decode: (r) => ({ removed: r.u32() }),
};
export const preSharedKeyCodec: Codec<PreSharedKey> = {
  encode: (w, p) => preSharedKeyIdCodec.encode(w, p.psk),
  decode: (r) => ({ psk: preSharedKeyIdCodec.decode(r) }),
};
export const reInitCodec: Codec<ReInit> = {
  encode(w, p) {
    w.opaque(p.groupId);
    w.u16(p.version);
    w.u16(p.cipherSuite);
    encodeExtensions(w, p.extensions);
  },
  decode: (r) => ({
    groupId: r.opaque(),
    version: r.u16(),
    cipherSuite: r.u16(),
    extensions: decodeExtensions(r),
  }),
};
export const externalInitCodec: Codec<ExternalInit> = {
  encode: (w, p) => w.opaque(p.kemOutput),
  decode: (r) => ({ kemOutput: r.opaque() }),
};
export const groupContextExtensionsCodec: Codec<GroupContextExtensions> = {
  encode: (w, p) => encodeExtensions(w, p.extensions),
  decode: (r) => ({ extensions: decodeExtensions(r) }),
};

/** The seven proposal types RFC 9420 defines. */
export type DefaultProposal = Exclude<Proposal, CustomProposal>;

/**
 * `p` as the default proposal type `type`, or undefined. (A plain comparison of `proposalType`
 * does not narrow the union, since a custom type is any number.)
 */
export function proposalOfType<T extends DefaultProposal['proposalType']>(
  p: Proposal,
  type: T,
): Extract<DefaultProposal, { proposalType: T }> | undefined {
  return p.proposalType === type && !isCustomProposal(p)
    ? (p as Extract<DefaultProposal, { proposalType: T }>)
    : undefined;
}

export function isCustomProposal(p: Proposal): p is CustomProposal {
  return (
    p.proposalType < ProposalType.add || p.proposalType > ProposalType.group_context_extensions
  );
}

export const proposalCodec: Codec<Proposal> = {
  encode(w: Writer, p: Proposal): void {
    w.u16(p.proposalType);
    if (isCustomProposal(p)) return w.opaque(p.payload);
    switch (p.proposalType) {
      case ProposalType.add:
        return addCodec.encode(w, p);
      case ProposalType.update:
        return updateCodec.encode(w, p);
      case ProposalType.remove:
        return removeCodec.encode(w, p);
      case ProposalType.psk:
        return preSharedKeyCodec.encode(w, p);
      case ProposalType.reinit:
        return reInitCodec.encode(w, p);
      case ProposalType.external_init:
        return externalInitCodec.encode(w, p);
      case ProposalType.group_context_extensions:
        return groupContextExtensionsCodec.encode(w, p);
    }
  },
  decode(r): Proposal {
    const proposalType = r.u16();
    switch (proposalType) {
      case ProposalType.add:
        return { proposalType, ...addCodec.decode(r) };
      case ProposalType.update:
        return { proposalType, ...updateCodec.decode(r) };
      case ProposalType.remove:
        return { proposalType, ...removeCodec.decode(r) };
      case ProposalType.psk:
        return { proposalType, ...preSharedKeyCodec.decode(r) };
      case ProposalType.reinit:
        return { proposalType, ...reInitCodec.decode(r) };
      case ProposalType.external_init:
        return { proposalType, ...externalInitCodec.decode(r) };
      case ProposalType.group_context_extensions:
        return { proposalType, ...groupContextExtensionsCodec.decode(r) };
      case 0:
        throw new MlsError('UNKNOWN_ENUM', 'proposal type 0 is reserved');
      default:
        return { proposalType, payload: r.opaque() };
    }
  },
};
