import { DmlsError } from './errors.js';
import type { EpochNode } from './group.js';

/**
 * The deterministic choice of base among the tips (ARCHITECTURE.md): the tip with the highest
 * epoch number; among tips of equal number, the one whose commit event id sorts first.
 *
 * Why: the rule must give the same answer on every device that holds the same events, with no
 * secret state, no clock and no communication. Epoch numbers and event ids are public and
 * identical for every reader (the server assigns event ids once). The highest number keeps the
 * longest chain of changes, so the fewest commits are merged away; the event id is an arbitrary
 * but shared tie-break. Devices that hold different events may disagree for a round; their
 * resolving commits then become tips themselves and the next round merges them.
 */
export function chooseBase(tips: readonly EpochNode[]): EpochNode {
  let best: EpochNode | undefined;
  for (const tip of tips) {
    if (
      !best ||
      tip.id.epoch > best.id.epoch ||
      (tip.id.epoch === best.id.epoch && tip.commitEvent < best.commitEvent)
    ) {
      best = tip;
    }
  }
  if (!best) throw new DmlsError('NOT_READY', 'the group has no epoch');
  return best;
}

/**
 * How long to wait before sending a resolving commit, from the device's rank among those that
 * could (members of the base still in the room, ordered by leaf index): the first resolves at
 * once, the others only if nothing came in the meantime. Concurrent resolutions then stay rare,
 * and when they happen the next round merges them like any fork.
 */
export function backoffMs(rank: number, slotMs = 500): number {
  return rank * slotMs;
}
