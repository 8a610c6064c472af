import type { CipherSuite } from '../crypto/suites.js';
import { MlsError } from '../errors.js';
import type { AuthenticatedContent, Sender } from '../framing/content.js';
import type { EpochSecrets } from '../keySchedule.js';
import type { GroupContext } from '../messages/groupContext.js';
import type { LeafNode } from '../messages/leafNode.js';
import type { Proposal, ReInit } from '../messages/proposals.js';
import type { SecretTree } from '../secretTree.js';
import type { PrivateKeys } from '../tree/privateKeys.js';
import type { RatchetTree } from '../tree/ratchetTree.js';

/**
 * Settings that travel with a group state. Policies that are functions (credential checks, PSK
 * look-ups, the clock) are passed to each operation instead, so that a state stays plain data
 * and serialises.
 */
export interface GroupConfig {
  /** PrivateMessage content is zero-padded to a multiple of this many bytes (0 or 1: none). */
  readonly paddingBlock: number;
  /** How far ahead of the next expected generation a message may be (RFC 9420 §9.2). */
  readonly maxForwardDistance: number;
  /** How many skipped generations per sender are kept for late messages. */
  readonly outOfOrderTolerance: number;
  /** How many past epochs keep their resumption PSK, for PSK proposals naming them (§8.6). */
  readonly resumptionPskHistory: number;
  /** Whether handshake messages this member sends are PrivateMessages (else PublicMessages). */
  readonly encryptHandshake: boolean;
}

export const DEFAULT_GROUP_CONFIG: GroupConfig = {
  paddingBlock: 32,
  maxForwardDistance: 1000,
  outOfOrderTolerance: 128,
  resumptionPskHistory: 16,
  encryptHandshake: false,
};

/**
 * Upper bounds of the numeric settings. Each sets how much work or memory one message may cost
 * (padding allocated per message sent, ratchet steps derived and keys kept per message received),
 * and a serialised state is read back like any other input: a padding block of 2^31 would make
 * every message sent allocate gigabytes.
 */
export const GROUP_CONFIG_LIMITS = {
  paddingBlock: 1 << 16,
  maxForwardDistance: 1 << 16,
  outOfOrderTolerance: 1 << 16,
  resumptionPskHistory: 1 << 16,
} as const;

/** The defaults with `settings` over them; `INVALID_VALUE` for a setting out of bounds. */
export function groupConfig(settings: Partial<GroupConfig> = {}): GroupConfig {
  const config = { ...DEFAULT_GROUP_CONFIG, ...settings };
  for (const [name, limit] of Object.entries(GROUP_CONFIG_LIMITS)) {
    const value = config[name as keyof typeof GROUP_CONFIG_LIMITS];
    if (!Number.isSafeInteger(value) || value < 0 || value > limit) {
      throw new MlsError('INVALID_VALUE', `group setting ${name} ${value} is not in 0..${limit}`);
    }
  }
  return config;
}

/** A proposal received (or sent) in the current epoch, kept until a commit names it. */
export interface CachedProposal {
  /** ProposalRef: RefHash over the AuthenticatedContent that carried it (§5.2). */
  readonly ref: Uint8Array;
  readonly proposal: Proposal;
  readonly sender: Sender;
  /** For this member's own Update proposals: the private key of the new leaf. */
  readonly updatePrivateKey?: Uint8Array;
  /** The message as authenticated, so a commit can be checked against it. */
  readonly authenticated: AuthenticatedContent;
}

/**
 * One member's view of one epoch of a group: an immutable value. Every operation returns a new
 * state and leaves the one it was given unchanged, so a caller may keep several epochs, or
 * several branches of one epoch, side by side. Unchanged parts of the tree and of the secret
 * tree are shared between states.
 */
export interface GroupState {
  readonly suite: CipherSuite;
  readonly config: GroupConfig;
  readonly context: GroupContext;
  readonly tree: RatchetTree;
  /** This member's leaf index. */
  readonly ownLeaf: number;
  /** HPKE key pairs of this member's leaf and of the parent nodes whose secrets it knows. */
  readonly privateKeys: PrivateKeys;
  readonly signaturePrivateKey: Uint8Array;
  /** The epoch secrets of §8 (init_secret here is the one the next epoch starts from). */
  readonly secrets: EpochSecrets;
  readonly secretTree: SecretTree;
  readonly interimTranscriptHash: Uint8Array;
  /** The confirmation tag of the commit that started this epoch (or of group creation). */
  readonly confirmationTag: Uint8Array;
  /** Proposals of this epoch that a commit may still name by reference, in arrival order. */
  readonly proposals: readonly CachedProposal[];
  /** Resumption PSKs of the most recent past epochs, newest first (§8.6). */
  readonly pastResumptionPsks: readonly { epoch: bigint; psk: Uint8Array }[];
  /**
   * Set once a commit with a ReInit proposal took effect (§11.2): the group may no longer be
   * used to send, only to wait for the Welcome of its successor.
   */
  readonly reinit?: ReInit;
}

export function ownLeafNode(state: GroupState): LeafNode {
  const leaf = state.tree.leaf(state.ownLeaf);
  if (leaf === undefined) throw new MlsError('INVALID_STATE', 'own leaf is blank');
  return leaf;
}

export function epochOf(state: GroupState): bigint {
  return state.context.epoch;
}

/** The members as leaf index and leaf node, in index order. */
export function members(state: GroupState): [number, LeafNode][] {
  return [...state.tree.members()];
}

/** Throws unless the state may send: not frozen by a ReInit. */
export function checkCanSend(state: GroupState): void {
  if (state.reinit !== undefined) {
    throw new MlsError('INVALID_STATE', 'the group was reinitialised; use its successor');
  }
}
