/**
 * Step 6: a resolving commit merges the two branches; every device is on one epoch again. The
 * merge's signed commit data names its base and the epochs it resolves; a forged commit that
 * claims to merge an epoch already merged is refused by every device.
 */
import type { ClientEvents } from '@trellis/client';
import type { EpochId, EpochNode } from '@trellis/dmls';
import type { DemoDevice } from '../cast.js';
import { commitData, postForgedCommit, short } from '../forge.js';
import type { Scene } from '../scene.js';
import { expect } from '../waiting.js';
import type { People } from './accounts.js';
import { describeCommit, inOneEpoch, sameEpoch, tipCount } from './epochs.js';
import type { Fork } from './fork.js';

export const AFTER_THE_MERGE = 'One tip again. Saturday it is!';

export async function resolveTheFork(
  scene: Scene,
  people: People,
  roomId: string,
  fork: Fork,
): Promise<EpochId> {
  const { narrator, cast } = scene;
  const { aliceLaptop, alicePhone, bobLaptop, carolLaptop } = people;
  const everyone = [aliceLaptop, alicePhone, bobLaptop, carolLaptop];
  await narrator.step(
    'A resolving commit merges the branches',
    'Any member can merge the tips: it commits on one branch and brings in what the other ' +
      'branches changed. Devices wait a back-off that depends on their rank in the group, so ' +
      'usually exactly one of them does it, and the others accept it. A device whose key ' +
      'update was on the branch merged in makes it again. Then every device is back on a ' +
      'single epoch. Where the merge belongs is signed inside the commit: its base and the ' +
      'epochs it resolves, each named by its commit event and pinned by that commit’s ' +
      'confirmation tag. Every device checks them against its own graph, so no one can claim ' +
      'to merge an epoch that does not exist or is already merged.',
  );
  await scene.waitUntil('every device to be back on one epoch', () => inOneEpoch(roomId, everyone));
  const merges = (c: ClientEvents['commit']) =>
    c.roomId === roomId &&
    fork.tips.every((t) => sameEpoch(c.base, t) || c.resolves.some((r) => sameEpoch(r, t)));
  const resolution = everyone.flatMap((d) => d.events('commit')).find(merges);
  expect(resolution !== undefined, 'the devices are on one epoch, but no commit merged the fork');
  const committer = cast.label(resolution.epoch.creator);
  narrator.fact(`${committer} sent the resolving commit ${describeCommit(cast, resolution)}`);
  for (const device of everyone) {
    const seen = device.events('resolved').find((r) => r.eventId === resolution.eventId);
    expect(seen !== undefined, `${device.label} did not apply the resolving commit`);
    narrator.detail(`${device.label} applied it${seen.mine ? ' (its own commit)' : ''}`);
  }
  reportSignedMetadata(scene, aliceLaptop, roomId, resolution.eventId);
  // A device whose own key update was on the branch that was merged in, not built on, makes
  // that update again once the fork is resolved.
  const applied = aliceLaptop.events('commit').filter((c) => c.roomId === roomId);
  const resolutionAt = applied.findIndex((c) => c.eventId === resolution.eventId);
  let previous = resolution;
  for (const later of applied.slice(resolutionAt + 1)) {
    const who = cast.label(later.epoch.creator);
    const what = describeCommit(cast, later);
    if (!sameEpoch(later.base, previous.epoch)) {
      // Two devices resolved at once (their back-offs overlapped): the tips fork again.
      narrator.fact(`meanwhile ${who} also committed ${what}; the tips fork again`);
    } else if (later.added.length + later.removed.length + later.resolves.length === 0) {
      narrator.fact(`then ${who} committed ${what}, redoing the update it made on its branch`);
    } else {
      narrator.fact(`then ${who} committed ${what}`);
    }
    previous = later;
  }
  const tip = aliceLaptop.client.room(roomId)!.current()!.epoch;
  narrator.fact(`every device is now on ${cast.epoch(tip)}, the only tip`);
  narrator.drawing(
    `the epoch graph as alice/laptop knows it now (${tipCount(aliceLaptop.client.room(roomId)!.tips().length)}):`,
    scene.draw(aliceLaptop, roomId),
  );
  await forgeAMergedMerge(scene, people, roomId, fork);
  await scene.say(carolLaptop, roomId, AFTER_THE_MERGE, everyone);
  scene.reportReaders(roomId, AFTER_THE_MERGE, everyone);
  return resolution.epoch;
}

/** What the merge signed about its place in the graph, as `device` checked and recorded it. */
function reportSignedMetadata(
  scene: Scene,
  device: DemoDevice,
  roomId: string,
  eventId: string,
): void {
  const { narrator, cast } = scene;
  const group = device.client.room(roomId)!.group!;
  const merge = group.epoch(eventId);
  const base = merge?.base === undefined ? undefined : group.epoch(merge.base);
  expect(merge !== undefined && base !== undefined, `${device.label} did not record the merge`);
  const resolved = merge.resolves.map((key) => group.epoch(key)!);
  narrator.fact(
    `its signed commit data names its base, ${cast.epoch(base.id)} (${short(base.key)}), and ` +
      `resolves ${resolved.map((n) => `${cast.epoch(n.id)} (${short(n.key)}, confirmation tag ${short(n.tag)})`).join(', ')}`,
  );
  narrator.detail(
    'every device verified them before applying it: the epochs exist, the tags match, and ' +
      'each resolved epoch is on another branch than the base',
  );
}

/**
 * Bob's laptop forges a commit on the current epoch whose signed data claims to merge one of
 * the fork's tips again: an epoch the current one already descends from. Everyone refuses it.
 */
async function forgeAMergedMerge(
  scene: Scene,
  people: People,
  roomId: string,
  fork: Fork,
): Promise<void> {
  const { narrator, cast } = scene;
  const { aliceLaptop, alicePhone, bobLaptop, carolLaptop } = people;
  const group = bobLaptop.client.room(roomId)!.group!;
  const tip = group.current();
  const merged: EpochNode | undefined = group.epochs().find((n) => sameEpoch(n.id, fork.tips[0]));
  expect(merged !== undefined, 'bob/laptop does not know the fork’s tips');
  const forged = await postForgedCommit(bobLaptop, roomId, tip, commitData(tip, [merged]));
  narrator.fact(
    `to test the check, bob/laptop forges a commit with the MLS library on ${cast.epoch(tip.id)}, ` +
      `its signed data claiming to merge ${cast.epoch(merged.id)} again, which that epoch already descends from`,
  );
  await scene.reportRefusals(forged, [aliceLaptop, alicePhone, carolLaptop]);
  await scene.waitUntil('every device to stay on one epoch', () =>
    inOneEpoch(roomId, [aliceLaptop, alicePhone, bobLaptop, carolLaptop]),
  );
  narrator.detail('the forged commit made no epoch: every device stays on the one tip');
}
