import type { Codec } from '../codec/index.js';
import { checkEnum } from '../codec/index.js';

/** RFC 9420 §8.4 */
export const PskType = { external: 1, resumption: 2 } as const;
export const ResumptionPskUsage = { application: 1, reinit: 2, branch: 3 } as const;
const PSK_TYPES = new Set<number>(Object.values(PskType));
const RESUMPTION_USAGES = new Set<number>(Object.values(ResumptionPskUsage));

export type ResumptionPskUsage = (typeof ResumptionPskUsage)[keyof typeof ResumptionPskUsage];

/** Names a pre-shared key: an external one by id, or a resumption PSK by group and epoch. */
export type PreSharedKeyId =
  | { pskType: typeof PskType.external; pskId: Uint8Array; pskNonce: Uint8Array }
  | {
      pskType: typeof PskType.resumption;
      usage: ResumptionPskUsage;
      pskGroupId: Uint8Array;
      pskEpoch: bigint;
      pskNonce: Uint8Array;
    };

export const preSharedKeyIdCodec: Codec<PreSharedKeyId> = {
  encode(w, id) {
    w.u8(id.pskType);
    if (id.pskType === PskType.external) {
      w.opaque(id.pskId);
    } else {
      w.u8(id.usage);
      w.opaque(id.pskGroupId);
      w.u64(id.pskEpoch);
    }
    w.opaque(id.pskNonce);
  },
  decode(r) {
    const pskType = checkEnum<1 | 2>(r.u8(), PSK_TYPES, 'PSKType');
    if (pskType === PskType.external) {
      return { pskType, pskId: r.opaque(), pskNonce: r.opaque() };
    }
    const usage = checkEnum<ResumptionPskUsage>(r.u8(), RESUMPTION_USAGES, 'ResumptionPSKUsage');
    return { pskType, usage, pskGroupId: r.opaque(), pskEpoch: r.u64(), pskNonce: r.opaque() };
  },
};
