/** Step 6: a resolving commit merges the two branches; every device is on one epoch again. */
import type { ClientEvents } from '@trellis/client';
import type { EpochId } from '@trellis/dmls';
import type { Scene } from '../scene.js';
import { expect, waitUntil } from '../waiting.js';
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
      'single epoch.',
  );
  await waitUntil('every device to be back on one epoch', () => inOneEpoch(roomId, everyone));
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
  await scene.say(carolLaptop, roomId, AFTER_THE_MERGE, everyone);
  scene.reportReaders(roomId, AFTER_THE_MERGE, everyone);
  return resolution.epoch;
}
