import type { CipherSuite } from '../crypto/suites.js';
import { MlsError } from '../errors.js';
import { PskType, ResumptionPskUsage, type PreSharedKeyId } from '../messages/preSharedKeyId.js';
import type { PskInput } from '../psk.js';
import { bytesEqual, toHex } from '../util/bytes.js';
import type { GroupState } from './state.js';

/**
 * Where PSKs come from (RFC 9420 §8.4): external PSKs are the application's; resumption PSKs of
 * this group are in the group state, those of other groups (a ReInit's or branch's old group)
 * come from the application, which holds those states.
 */
export interface PskSource {
  external?(pskId: Uint8Array): Uint8Array | undefined;
  resumption?(groupId: Uint8Array, epoch: bigint): Uint8Array | undefined;
}

/** The resumption PSK of one of this group's epochs, if the state still holds it. */
export function ownResumptionPsk(state: GroupState, epoch: bigint): Uint8Array | undefined {
  if (epoch === state.context.epoch) return state.secrets.resumptionPsk;
  return state.pastResumptionPsks.find((p) => p.epoch === epoch)?.psk;
}

/** The resumption PSKs a member holds for its own group. */
export interface OwnResumptionPsks {
  readonly groupId: Uint8Array;
  psk(epoch: bigint): Uint8Array | undefined;
}

export function ownResumptionPsks(state: GroupState): OwnResumptionPsks {
  return { groupId: state.context.groupId, psk: (epoch) => ownResumptionPsk(state, epoch) };
}

/** Looks up every PSK named, in order; a missing one is `MISSING_PSK`. */
export function resolvePsks(
  ids: readonly PreSharedKeyId[],
  source: PskSource,
  own?: OwnResumptionPsks,
): PskInput[] {
  return ids.map((id) => {
    let psk: Uint8Array | undefined;
    if (id.pskType === PskType.external) {
      psk = source.external?.(id.pskId);
    } else if (own && bytesEqual(id.pskGroupId, own.groupId)) {
      psk = own.psk(id.pskEpoch);
    } else {
      psk = source.resumption?.(id.pskGroupId, id.pskEpoch);
    }
    if (psk === undefined) {
      const name =
        id.pskType === PskType.external
          ? `external PSK ${toHex(id.pskId)}`
          : `resumption PSK of epoch ${id.pskEpoch} of group ${toHex(id.pskGroupId)}`;
      throw new MlsError('MISSING_PSK', `${name} is not available`);
    }
    return { id, psk };
  });
}

/**
 * §12.1.4: what makes a PreSharedKey proposal invalid on its own. A resumption PSK for reinit
 * or branch is only valid in the first commit of the group that resumes another (`resuming`).
 */
export function checkPskProposal(
  suite: CipherSuite,
  id: PreSharedKeyId,
  resuming?: ResumptionPskUsage,
): void {
  if (
    id.pskType === PskType.resumption &&
    (id.usage === ResumptionPskUsage.reinit || id.usage === ResumptionPskUsage.branch) &&
    id.usage !== resuming
  ) {
    throw new MlsError(
      'INVALID_PSK',
      'resumption PSKs for reinit or branch are not allowed in PreSharedKey proposals',
    );
  }
  if (id.pskNonce.length !== suite.kdf.size) {
    throw new MlsError('INVALID_PSK', `psk_nonce has ${id.pskNonce.length} bytes, not Nh`);
  }
}

/** Two PreSharedKeyIDs name the same PSK (nonces included, as the RFC compares the whole ID). */
export function samePskId(a: PreSharedKeyId, b: PreSharedKeyId): boolean {
  if (a.pskType !== b.pskType || !bytesEqual(a.pskNonce, b.pskNonce)) return false;
  if (a.pskType === PskType.external) {
    return b.pskType === PskType.external && bytesEqual(a.pskId, b.pskId);
  }
  return (
    b.pskType === PskType.resumption &&
    a.usage === b.usage &&
    a.pskEpoch === b.pskEpoch &&
    bytesEqual(a.pskGroupId, b.pskGroupId)
  );
}
