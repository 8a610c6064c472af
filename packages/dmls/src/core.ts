import type { CipherSuiteId, CryptoProvider } from '@trellis/mls';
import { chooseBase } from './base.js';
import type { EpochGraph, EpochNode } from './graph.js';
import type { EpochId } from './ids.js';
import type { DeviceKeys } from './membership.js';
import type { RetentionPolicy } from './retention.js';
import type { PendingCommit } from './snapshot.js';
import type { RoomEvent, Waiting } from './waiting.js';
import type { Plaintext } from './wire.js';

/**
 * Everything one device holds for one room's group: the functions of receive*.ts, send.ts,
 * plan.ts and join.ts work on it, and `DmlsGroup` is its public face.
 */
export interface GroupCore {
  readonly roomId: string;
  /** This device, `userId|deviceId`. */
  readonly identity: string;
  readonly suite: CipherSuiteId;
  readonly provider: CryptoProvider;
  readonly keys: DeviceKeys;
  readonly retention: RetentionPolicy;
  readonly graph: EpochGraph;
  readonly waiting: Waiting;
  /** Commits this device sent, by ciphertext, until their echo comes back. */
  readonly pending: Map<string, PendingCommit>;
  readonly seen: Set<string>;
  /** Commits refused: a merge naming one of them is refused too. */
  readonly refused: Set<string>;
  /** Application messages this device sent, by ciphertext: their echo is read from here. */
  readonly sentByMe: Map<string, { epoch: EpochId; plaintext: Plaintext }>;
  /** The first epoch number this device held: commits on unknown epochs before it are foreign. */
  joinedAt: bigint;
  /** Commits this device saw but could not follow for want of state: it should rejoin. */
  readonly unfollowable: Set<string>;
  /** Events the room will not give this device (not visible to it, or not commits). */
  readonly unavailable: Set<string>;
  /**
   * Authentic commits of this device's own that it kept no pending state for, by event id:
   * placed in the graph once another member's commit builds on or resolves one (receiveCommit.ts).
   */
  readonly lostOwn: Map<string, RoomEvent>;
}

/** Trellis rooms use no resumption PSK, so a state keeps none of its past epochs'. */
export const GROUP_CONFIG = { resumptionPskHistory: 0 } as const;

/** Tips this device holds in full: the only ones it can send in or build on. */
export function heldTips(core: GroupCore): EpochNode[] {
  return core.graph.tips().filter((t) => t.held.kind === 'full');
}

/** The tip this device sends in: the base rule's choice among the tips it holds (base.ts). */
export function current(core: GroupCore): EpochNode {
  return chooseBase(core.graph, heldTips(core));
}
