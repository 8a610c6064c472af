import { createSecretTree } from '../secretTree.js';
import type { CipherSuite } from '../crypto/suites.js';
import type { EpochSecrets } from '../keySchedule.js';
import type { GroupContext } from '../messages/groupContext.js';
import type { ReInit } from '../messages/proposals.js';
import { interimTranscriptHash } from '../transcript.js';
import type { PrivateKeys } from '../tree/privateKeys.js';
import type { RatchetTree } from '../tree/ratchetTree.js';
import type { GroupConfig, GroupState } from './state.js';

export interface EpochParts {
  suite: CipherSuite;
  config: GroupConfig;
  context: GroupContext;
  tree: RatchetTree;
  ownLeaf: number;
  privateKeys: PrivateKeys;
  signaturePrivateKey: Uint8Array;
  secrets: EpochSecrets;
  confirmationTag: Uint8Array;
  /** The state of the epoch before, whose resumption PSK joins the history; none for joiners. */
  previous?: GroupState;
  reinit?: ReInit;
}

/** Assembles the state of a new epoch from its parts (§8, §9, §8.2 for the interim hash). */
export function buildEpoch(parts: EpochParts): GroupState {
  const { suite, config, context, tree, secrets, previous } = parts;
  const history = previous
    ? [
        { epoch: previous.context.epoch, psk: previous.secrets.resumptionPsk },
        ...previous.pastResumptionPsks,
      ].slice(0, config.resumptionPskHistory)
    : [];
  return {
    suite,
    config,
    context,
    tree,
    ownLeaf: parts.ownLeaf,
    privateKeys: parts.privateKeys.matching(tree),
    signaturePrivateKey: parts.signaturePrivateKey,
    secrets,
    secretTree: createSecretTree(suite, secrets.encryptionSecret, tree.leafCount, {
      maxForwardDistance: config.maxForwardDistance,
      outOfOrderTolerance: config.outOfOrderTolerance,
    }),
    interimTranscriptHash: interimTranscriptHash(
      suite,
      context.confirmedTranscriptHash,
      parts.confirmationTag,
    ),
    confirmationTag: parts.confirmationTag,
    proposals: [],
    pastResumptionPsks: history,
    ...(parts.reinit && { reinit: parts.reinit }),
  };
}
