/**
 * Steps 4 and 5: two devices commit on the same epoch at once and the room forks; the messages
 * sent on each branch are read by every device, each in its own branch's epoch.
 */
import type { EpochId } from '@trellis/dmls';
import type { DemoDevice } from '../cast.js';
import { short } from '../forge.js';
import type { Scene } from '../scene.js';
import { expect } from '../waiting.js';
import type { People } from './accounts.js';
import { sameEpoch, tipCount } from './epochs.js';

export const ON_ALICE_BRANCH = 'Sent on alice’s branch: shall we leave Friday?';
export const ON_BOB_BRANCH = 'Sent on bob’s branch: Saturday suits me better.';

export interface Fork {
  /** The epoch both commits were made on. */
  readonly base: EpochId;
  readonly tips: readonly [EpochId, EpochId];
}

export async function forkTheRoom(scene: Scene, people: People, roomId: string): Promise<Fork> {
  const { narrator, cast } = scene;
  const { aliceLaptop, alicePhone, bobLaptop, carolLaptop } = people;
  const everyone = [aliceLaptop, alicePhone, bobLaptop, carolLaptop];
  await narrator.step(
    'Two devices commit at the same moment: the room forks',
    'In MLS each epoch has one successor, and a central server would have to refuse one of ' +
      'two commits made at once. Trellis accepts both: the epochs fork into branches. To stage ' +
      'the race, the demo holds every device’s sync; alice/laptop and bob/laptop then each ' +
      'commit a key update on the same epoch, neither seeing the other’s, and each sends a ' +
      'message in the epoch it just made. Then everyone syncs again.',
  );
  const { epoch: base, key: baseKey } = aliceLaptop.client.room(roomId)!.current()!;
  const baseTag = aliceLaptop.client.room(roomId)!.group!.epoch(baseKey)!.tag;
  await Promise.all(everyone.map((d) => d.client.stop()));
  await Promise.all([aliceLaptop.client.rotateKeys(roomId), bobLaptop.client.rotateKeys(roomId)]);
  const tipOfAlice = aliceLaptop.client.room(roomId)!.current()!.epoch;
  const tipOfBob = bobLaptop.client.room(roomId)!.current()!.epoch;
  for (const [device, tip] of [
    [aliceLaptop, tipOfAlice],
    [bobLaptop, tipOfBob],
  ] as const) {
    expect(
      tip.epoch === base.epoch + 1n && tip.creator === device.client.identity,
      `${device.label}'s commit did not make a new epoch on ${cast.epoch(base)}`,
    );
    narrator.fact(
      `${device.label} committed a key update on ${cast.epoch(base)}, making ${cast.epoch(tip)}`,
    );
  }
  narrator.detail(
    `both commits sign the epoch they build on in their MLS authenticated data: commit event ` +
      `${short(baseKey)}, confirmation tag ${short(baseTag)} (the JSON beside the ciphertext is only a hint)`,
  );
  for (const [device, text] of [
    [aliceLaptop, ON_ALICE_BRANCH],
    [bobLaptop, ON_BOB_BRANCH],
  ] as const) {
    await device.client.sendText(roomId, text);
    // A device reads its own message as it sends it: that record names the epoch it used.
    const own = device.read(roomId, text);
    expect(own !== undefined, `${device.label} did not send "${text}"`);
    narrator.fact(`${device.label} sent "${text}" in ${cast.epoch(own.epoch)}`);
  }
  narrator.fact('now every device syncs again');
  for (const device of everyone) device.client.start();

  const isThisFork = (tips: readonly EpochId[]) =>
    tips.some((t) => sameEpoch(t, tipOfAlice)) && tips.some((t) => sameEpoch(t, tipOfBob));
  const sawFork = (d: DemoDevice) => d.forks.some((f) => f.roomId === roomId && isThisFork(f.tips));
  // A device whose sync brings both branches and the resolution together never sees two tips.
  const sawResolution = (d: DemoDevice) =>
    d.events('commit').some((c) => c.roomId === roomId && isThisFork([c.base, ...c.resolves]));
  await scene.waitUntil('every device to see both branches', () =>
    everyone.every((d) => sawFork(d) || sawResolution(d)),
  );
  const noticed = everyone.filter(sawFork);
  expect(noticed.length > 0, 'no device saw the room fork');
  for (const device of noticed) {
    const fork = device.forks.find((f) => f.roomId === roomId && isThisFork(f.tips))!;
    narrator.fact(
      `${device.label} noticed the fork: ${fork.tips.length} tips, ${fork.tips.map((t) => cast.epoch(t)).join(' and ')}`,
    );
  }
  const observer = noticed.find((d) => d !== aliceLaptop && d !== bobLaptop) ?? noticed[0]!;
  const snapshot = observer.forks.find((f) => f.roomId === roomId && isThisFork(f.tips))!;
  narrator.drawing(
    `the epoch graph as ${observer.label} knew it at the fork (${tipCount(snapshot.tips.length)}):`,
    scene.draw(observer, roomId, snapshot.epochs),
  );
  return { base, tips: [tipOfAlice, tipOfBob] };
}

export async function readBothBranches(
  scene: Scene,
  people: People,
  roomId: string,
  fork: Fork,
): Promise<void> {
  const { narrator, cast } = scene;
  const { aliceLaptop, alicePhone, bobLaptop, carolLaptop } = people;
  const everyone = [aliceLaptop, alicePhone, bobLaptop, carolLaptop];
  await narrator.step(
    'Messages on both branches are read by everyone',
    'Every device was a member of both new epochs and keeps the secrets of both branches, so ' +
      'a message sent on either branch is decrypted in the epoch it was sent in. Nothing is ' +
      'lost to the fork, and no one has to resend.',
  );
  const sent = [
    { text: ON_ALICE_BRANCH, epoch: fork.tips[0] },
    { text: ON_BOB_BRANCH, epoch: fork.tips[1] },
  ];
  for (const { text } of sent) await scene.waitForReaders(roomId, text, everyone);
  for (const { text, epoch } of sent) {
    for (const device of everyone) {
      const message = device.read(roomId, text)!;
      expect(
        sameEpoch(message.epoch, epoch),
        `${device.label} read "${text}" in ${cast.epoch(message.epoch)}, not in ${cast.epoch(epoch)}`,
      );
    }
    scene.reportReaders(roomId, text, everyone);
  }
}
