import type { Codec } from '../codec/index.js';
import { checkEnum } from '../codec/index.js';
import { proposalCodec, type Proposal } from './proposals.js';
import { updatePathCodec, type UpdatePath } from './updatePath.js';

/** RFC 9420 §12.4 */
export const ProposalOrRefType = { proposal: 1, reference: 2 } as const;
const PROPOSAL_OR_REF_TYPES = new Set<number>(Object.values(ProposalOrRefType));

export type ProposalOrRef =
  | { type: typeof ProposalOrRefType.proposal; proposal: Proposal }
  | { type: typeof ProposalOrRefType.reference; reference: Uint8Array };

export interface Commit {
  proposals: ProposalOrRef[];
  path?: UpdatePath;
}

export const proposalOrRefCodec: Codec<ProposalOrRef> = {
  encode(w, p) {
    w.u8(p.type);
    if (p.type === ProposalOrRefType.proposal) proposalCodec.encode(w, p.proposal);
    else w.opaque(p.reference);
  },
  decode(r) {
    const type = checkEnum<1 | 2>(r.u8(), PROPOSAL_OR_REF_TYPES, 'ProposalOrRefType');
    return type === ProposalOrRefType.proposal
      ? { type, proposal: proposalCodec.decode(r) }
      : { type, reference: r.opaque() };
  },
};

export const commitCodec: Codec<Commit> = {
  encode(w, c) {
    w.vector(c.proposals, proposalOrRefCodec.encode);
    w.optional(c.path, updatePathCodec.encode);
  },
  decode(r) {
    const proposals = r.vector(proposalOrRefCodec.decode);
    const path = r.optional(updatePathCodec.decode);
    return path === undefined ? { proposals } : { proposals, path };
  },
};
