/**
 * Step 3: alice creates an encrypted room; her phone, then the invited bob and carol, join its
 * group by Welcome.
 */
import type { DemoDevice } from '../cast.js';
import type { Scene } from '../scene.js';
import { expect } from '../waiting.js';
import type { People } from './accounts.js';
import { describeCommit, inOneEpoch } from './epochs.js';

export const ROOM_NAME = 'Weekend trip';
export const ROOM_TOPIC = 'Plans, end-to-end encrypted';
export const BEFORE_OTHERS_JOIN = 'Notes to self before anyone else joins';
const WELCOME = 'Welcome, Bob and Carol!';
const CAROL_HELLO = 'Hi all, Carol here.';

export async function openRoom(scene: Scene, people: People): Promise<string> {
  const { narrator, cast } = scene;
  const { aliceLaptop, alicePhone, bobLaptop, carolLaptop } = people;
  await narrator.step(
    'Alice creates an encrypted room and invites Bob and Carol',
    'The room’s name and topic are kept in the MLS group context, encrypted, not in the ' +
      'room’s plaintext state. The group starts as alice/laptop alone; her phone is added by the ' +
      'next commit. Bob and Carol join the room and each of their devices gets an MLS Welcome ' +
      'from a device already in the group.',
  );
  const roomId = await aliceLaptop.client.createRoom({
    name: ROOM_NAME,
    topic: ROOM_TOPIC,
    invite: [bobLaptop.client.userId, carolLaptop.client.userId],
  });
  narrator.fact(`alice/laptop created ${roomId}`);

  await scene.waitUntil('alice/phone to join the group', () =>
    inOneEpoch(roomId, [aliceLaptop, alicePhone]),
  );
  reportWelcomes(scene, roomId, [alicePhone]);
  await scene.say(aliceLaptop, roomId, BEFORE_OTHERS_JOIN, [alicePhone]);
  scene.reportReaders(roomId, BEFORE_OTHERS_JOIN, [aliceLaptop, alicePhone]);

  for (const device of [bobLaptop, carolLaptop]) {
    await scene.waitUntil(`${device.label} to be invited`, () =>
      device.events('invite').some((i) => i.roomId === roomId),
    );
    const invite = device.events('invite').find((i) => i.roomId === roomId)!;
    narrator.fact(`${device.label} was invited by ${invite.inviter ?? 'someone'}, and joins`);
    await device.client.joinRoom(roomId);
  }
  const everyone = [aliceLaptop, alicePhone, bobLaptop, carolLaptop];
  await scene.waitUntil('all four devices to be in one epoch of the group', () =>
    inOneEpoch(roomId, everyone),
  );
  reportWelcomes(scene, roomId, [bobLaptop, carolLaptop]);
  narrator.fact('the commits so far, as alice/laptop applied them:');
  for (const commit of aliceLaptop.events('commit').filter((c) => c.roomId === roomId)) {
    narrator.detail(describeCommit(cast, commit));
  }
  const current = aliceLaptop.client.room(roomId)!.current()!;
  narrator.fact(
    `members of ${cast.epoch(current.epoch)}: ${current.members.map((m) => cast.label(m)).join(', ')}`,
  );
  for (const device of [bobLaptop, carolLaptop]) {
    const metadata = device.client.room(roomId)?.metadata;
    expect(
      metadata?.name === ROOM_NAME && metadata.topic === ROOM_TOPIC,
      `${device.label} does not see the room's name and topic`,
    );
    narrator.fact(
      `${device.label} reads the name and topic from the group context: “${metadata.name}”, “${metadata.topic}”`,
    );
  }

  await scene.say(aliceLaptop, roomId, WELCOME, everyone);
  await scene.say(carolLaptop, roomId, CAROL_HELLO, everyone);
  scene.reportReaders(roomId, WELCOME, everyone);
  scene.reportReaders(roomId, CAROL_HELLO, everyone);
  narrator.drawing(`the epoch graph as alice/laptop knows it:`, scene.draw(aliceLaptop, roomId));
  return roomId;
}

function reportWelcomes(scene: Scene, roomId: string, devices: readonly DemoDevice[]): void {
  for (const device of devices) {
    const welcome = device.events('welcome').find((w) => w.roomId === roomId);
    expect(welcome !== undefined, `${device.label} is in the group but saw no Welcome`);
    scene.narrator.fact(
      `${device.label} joined the group at ${scene.cast.epoch(welcome.epoch)}, by a Welcome from ${scene.cast.label(welcome.sender)}`,
    );
  }
}
