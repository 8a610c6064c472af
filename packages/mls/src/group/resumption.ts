import type { Credential } from '../credentials/credential.js';
import type { KeyPair } from '../crypto/provider.js';
import { cipherSuite } from '../crypto/suites.js';
import { MlsError } from '../errors.js';
import type { KeyPackage } from '../messages/keyPackage.js';
import { PskType, ResumptionPskUsage, type PreSharedKeyId } from '../messages/preSharedKeyId.js';
import type { Extension } from '../extensions/extension.js';
import { bytesEqual } from '../util/bytes.js';
import { createCommit, type CreatedCommit } from './commit.js';
import { createGroup } from './create.js';
import { ownResumptionPsk } from './psks.js';
import { ownLeafNode, type GroupConfig, type GroupState } from './state.js';

export interface ResumeOptions {
  /** KeyPackages of the other members of the new group. */
  keyPackages: KeyPackage[];
  /** The creator's credential and key in the new group; those of the old group by default. */
  credential?: Credential;
  signatureKeyPair?: KeyPair;
  now?: bigint;
  config?: Partial<GroupConfig>;
}

/**
 * The first commit of a group resuming `old`: the new group is created, then one commit adds
 * the members with the resumption PSK of `old`'s current epoch (§11.2, §11.3). Its Welcome is
 * what the members join with (passing `old` as `resumedGroup`).
 */
function resume(
  old: GroupState,
  usage: ResumptionPskUsage,
  params: { groupId: Uint8Array; cipherSuite: number; extensions: Extension[] },
  options: ResumeOptions,
): CreatedCommit {
  const suite = cipherSuite(params.cipherSuite, old.suite.provider);
  const sameSuite = suite.id === old.suite.id;
  const ownLeaf = ownLeafNode(old);
  const signatureKeyPair =
    options.signatureKeyPair ??
    (sameSuite
      ? { privateKey: old.signaturePrivateKey, publicKey: ownLeaf.signatureKey }
      : undefined);
  const fresh = createGroup(suite, {
    groupId: params.groupId,
    credential: options.credential ?? ownLeaf.credential,
    ...(signatureKeyPair && { signatureKeyPair }),
    ...(options.now !== undefined && { now: options.now }),
    extensions: params.extensions,
    config: { ...old.config, ...options.config },
  });
  const psk: PreSharedKeyId = {
    pskType: PskType.resumption,
    usage,
    pskGroupId: old.context.groupId,
    pskEpoch: old.context.epoch,
    pskNonce: suite.provider.randomBytes(suite.kdf.size),
  };
  return createCommit(fresh, {
    add: options.keyPackages,
    psks: [psk],
    resuming: usage,
    pskSource: {
      resumption: (groupId, epoch) =>
        bytesEqual(groupId, old.context.groupId) ? ownResumptionPsk(old, epoch) : undefined,
    },
    ...(options.now !== undefined && { now: options.now }),
  });
}

/**
 * After a commit with a ReInit proposal (§11.2): the successor group with the ReInit's
 * parameters and the same members, linked by a reinit resumption PSK.
 */
export function reinitializeGroup(old: GroupState, options: ResumeOptions): CreatedCommit {
  const reinit = old.reinit;
  if (!reinit) throw new MlsError('INVALID_STATE', 'no ReInit has been committed in this group');
  return resume(
    old,
    ResumptionPskUsage.reinit,
    { groupId: reinit.groupId, cipherSuite: reinit.cipherSuite, extensions: reinit.extensions },
    options,
  );
}

/** A subgroup of `old`'s members (§11.3), linked to it by a branch resumption PSK. */
export function branchGroup(
  old: GroupState,
  options: ResumeOptions & { groupId?: Uint8Array; extensions?: Extension[] },
): CreatedCommit {
  return resume(
    old,
    ResumptionPskUsage.branch,
    {
      groupId: options.groupId ?? old.suite.provider.randomBytes(old.suite.kdf.size),
      cipherSuite: old.suite.id,
      extensions: options.extensions ?? old.context.extensions,
    },
    options,
  );
}
