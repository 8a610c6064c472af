/** Reading the devices' view of the group: agreement on one epoch, commits in words. */
import type { ClientEvents } from '@trellis/client';
import type { EpochId } from '@trellis/dmls';
import type { Cast, DemoDevice } from '../cast.js';

export function sameEpoch(a: EpochId, b: EpochId): boolean {
  return a.epoch === b.epoch && a.creator === b.creator;
}

/**
 * Every device has the room's group with a single tip, the same one, and nothing left to
 * commit (its members are the room's devices).
 */
export function inOneEpoch(roomId: string, devices: readonly DemoDevice[]): boolean {
  let tip: EpochId | undefined;
  for (const device of devices) {
    const room = device.client.room(roomId);
    if (!room?.settled()) return false;
    const tips = room.tips();
    if (tips.length !== 1) return false;
    if (tip && !sameEpoch(tip, tips[0]!)) return false;
    tip = tips[0];
  }
  return true;
}

/** `epoch 2 of alice/laptop, on epoch 1 of alice/laptop: adds bob/laptop` */
export function describeCommit(cast: Cast, commit: ClientEvents['commit']): string {
  const changes: string[] = [];
  if (commit.resolves.length > 0) {
    changes.push(`merges ${commit.resolves.map((e) => cast.epoch(e)).join(', ')}`);
  }
  if (commit.added.length > 0)
    changes.push(`adds ${commit.added.map((d) => cast.label(d)).join(', ')}`);
  if (commit.removed.length > 0) {
    changes.push(`removes ${commit.removed.map((d) => cast.label(d)).join(', ')}`);
  }
  if (changes.length === 0) changes.push('a key update');
  return `${cast.epoch(commit.epoch)}, on ${cast.epoch(commit.base)}: ${changes.join('; ')}`;
}

/** `1 tip`, `2 tips` */
export function tipCount(count: number): string {
  return `${count} tip${count === 1 ? '' : 's'}`;
}
