/**
 * What became of a delivered room event, and the outcomes shared by commits and messages:
 * waiting for an epoch or device keys, parked until a Welcome, failed.
 */
import { MlsError } from '@trellis/mls';
import type { GroupCore } from './core.js';
import { DmlsError } from './errors.js';
import type { EpochNode } from './graph.js';
import type { EpochId } from './ids.js';
import type { RoomEvent } from './waiting.js';
import type { Plaintext } from './wire.js';

/** What happened to a delivered event (or to a waiting one that could now be processed). */
export type Received =
  | {
      readonly kind: 'message';
      readonly eventId: string;
      readonly epoch: EpochId;
      /** `userId|deviceId` of the sender, as its MLS credential and signature prove. */
      readonly sender: string;
      readonly plaintext: Plaintext;
    }
  | {
      readonly kind: 'commit';
      readonly eventId: string;
      readonly epoch: EpochId;
      readonly base: EpochId;
      readonly resolves: readonly EpochId[];
      readonly added: readonly string[];
      readonly removed: readonly string[];
      /** This device's own commit, seen accepted. */
      readonly mine: boolean;
    }
  /** A commit that removes this device: it is out of that branch. */
  | { readonly kind: 'removed'; readonly eventId: string; readonly epoch: EpochId }
  /** Not decidable yet: fetch these commit events, or these devices' keys, then retry. */
  | {
      readonly kind: 'queued';
      readonly eventId: string;
      readonly missing: readonly string[];
      readonly devices: readonly string[];
    }
  | {
      readonly kind: 'failed';
      readonly eventId: string;
      readonly code: string;
      readonly reason: string;
    }
  | { readonly kind: 'duplicate'; readonly eventId: string };

export function wait(
  core: GroupCore,
  event: RoomEvent,
  now: number,
  what: { awaiting?: string; devices?: readonly string[] },
): Received {
  core.waiting.add({ event, ...what, since: now });
  return {
    kind: 'queued',
    eventId: event.eventId,
    missing: what.awaiting !== undefined ? [what.awaiting] : [],
    devices: what.devices ?? [],
  };
}

export function notMember(
  core: GroupCore,
  event: RoomEvent,
  node: EpochNode,
  now: number,
): Received {
  core.waiting.park(event, now);
  return {
    kind: 'failed',
    eventId: event.eventId,
    code: 'NOT_A_MEMBER',
    reason: `this device is not a member of epoch ${node.id.epoch} (${node.key})`,
  };
}

export function failed(eventId: string, e: unknown): Received {
  if (e instanceof DmlsError || e instanceof MlsError) {
    return { kind: 'failed', eventId, code: e.code, reason: e.message };
  }
  throw e;
}
