/**
 * Step 7: carol is removed from the room while her device, not yet aware of it, commits a key
 * update: the room forks between her update and the commit that removes her. The merge is made
 * on the removal's branch (a removed device's commits carry no vote) and keeps her out; a merge
 * made on her branch instead, keeping her, is refused by everyone (INVALID_RESOLVES: not the
 * base the rule picks). What is sent after it is out of her reach, even with the group state her
 * device kept.
 */
import { ClientError } from '@trellis/client';
import type { DmlsGroup, Received } from '@trellis/dmls';
import type { DemoDevice } from '../cast.js';
import { commitData, postForgedCommit } from '../forge.js';
import type { Scene } from '../scene.js';
import { expect } from '../waiting.js';
import type { People } from './accounts.js';
import { describeCommit, inOneEpoch, sameEpoch } from './epochs.js';

export const AFTER_CAROL_LEFT = 'Carol is gone; she cannot read this.';

export async function removeCarol(scene: Scene, people: People, roomId: string): Promise<void> {
  const { narrator, cast } = scene;
  const { aliceLaptop, alicePhone, bobLaptop, carolLaptop } = people;
  const everyone = [aliceLaptop, alicePhone, bobLaptop, carolLaptop];
  const remaining = [aliceLaptop, alicePhone, bobLaptop];
  const carol = carolLaptop.client.identity;
  await narrator.step(
    'Carol is removed and shut out',
    'Alice removes Carol from the room. Her device is no longer one of the room’s devices, so ' +
      'the next commit removes it from the group. To make it hard, Carol’s device commits a ' +
      'key update at the same moment, on the same epoch: the room forks between her update and ' +
      'the removal. A removed device gets no vote in the choice of the branch to build on, and ' +
      'a merge may not keep a device that one of the branches it merges removed, so the merge ' +
      'keeps her out. The epochs after it are keyed for the remaining devices only; even if her ' +
      'device kept its group state and got hold of the ciphertext, it could not read them.',
  );
  await Promise.all(everyone.map((d) => d.client.stop()));
  const base = aliceLaptop.client.room(roomId)!.current()!;
  await carolLaptop.client.rotateKeys(roomId);
  const carolsTip = carolLaptop.client.room(roomId)!.current()!;
  expect(
    sameEpoch(carolsTip.epoch, { epoch: base.epoch.epoch + 1n, creator: carol }),
    'carol/laptop’s key update did not make a new epoch',
  );
  narrator.fact(
    `carol/laptop committed a key update on ${cast.epoch(base.epoch)}, making ${cast.epoch(carolsTip.epoch)}`,
  );
  // What a device that does not forget would keep: the group as it was before the removal.
  const keptGroup = carolLaptop.client.room(roomId)?.group;
  expect(keptGroup !== undefined, 'carol/laptop has no group state to keep');

  await aliceLaptop.client.kick(roomId, carolLaptop.client.userId, 'the demo removes Carol');
  narrator.fact(`alice/laptop removed ${carolLaptop.client.userId} from the room`);
  // Alice's laptop reads the room's state, not the timeline where carol's update waits.
  const leave = (await aliceLaptop.client.http.roomState(roomId)).find(
    (e) => e.type === 'm.room.member' && e.state_key === carolLaptop.client.userId,
  );
  expect(leave?.content.membership === 'leave', 'the room state does not show carol gone');
  aliceLaptop.client.room(roomId)!.applyState(leave);
  await aliceLaptop.client.rotateKeys(roomId);
  const removal = aliceLaptop
    .events('commit')
    .find((c) => c.roomId === roomId && c.mine && c.removed.includes(carol));
  expect(
    removal !== undefined && sameEpoch(removal.base, base.epoch),
    'alice/laptop did not remove carol/laptop on the epoch carol updated',
  );
  narrator.fact(
    `alice/laptop, not having seen carol’s update, committed ${describeCommit(cast, removal)}`,
  );
  narrator.fact('now every device syncs again');
  for (const device of everyone) device.client.start();

  await scene.waitUntil('carol/laptop to see that she left the room', () =>
    carolLaptop
      .events('membership')
      .some(
        (m) =>
          m.roomId === roomId && m.userId === carolLaptop.client.userId && m.membership === 'leave',
      ),
  );
  await scene.waitUntil(
    'carol/laptop to delete its group state',
    () => carolLaptop.client.room(roomId) === undefined,
  );
  narrator.fact('carol/laptop saw its membership become “leave” and deleted its group state');

  await scene.waitUntil(
    'the remaining devices to merge the branches without carol/laptop',
    () =>
      inOneEpoch(roomId, remaining) && remaining.every((d) => !d.members(roomId).includes(carol)),
  );
  const forked = [removal.epoch, carolsTip.epoch];
  const merge = remaining
    .flatMap((d) => d.events('commit'))
    .find(
      (c) =>
        c.roomId === roomId &&
        forked.every((e) => sameEpoch(c.base, e) || c.resolves.some((r) => sameEpoch(r, e))),
    );
  expect(merge !== undefined, 'no commit merged carol’s update and her removal');
  expect(
    sameEpoch(merge.base, removal.epoch),
    `the merge was made on carol/laptop’s branch: ${describeCommit(cast, merge)}; ` +
      `the devices hold:\n${cast.describe()}`,
  );
  narrator.fact(
    `${cast.label(merge.epoch.creator)} sent the resolving commit ${describeCommit(cast, merge)}`,
  );
  narrator.detail(
    'carol/laptop’s branch did not win: the base rule counts no vote for a device that a ' +
      'branch removed, so the merge builds on the removal',
  );
  narrator.detail(
    `members now: ${aliceLaptop
      .members(roomId)
      .map((m) => cast.label(m))
      .join(', ')}; carol/laptop’s update was merged in without her`,
  );
  await forgeAMergeThatKeepsCarol(scene, people, roomId, carolsTip.key, removal.eventId);

  const eventId = await scene.say(bobLaptop, roomId, AFTER_CAROL_LEFT, remaining);
  scene.reportReaders(roomId, AFTER_CAROL_LEFT, remaining);

  expect(
    carolLaptop.read(roomId, AFTER_CAROL_LEFT) === undefined,
    'carol/laptop read a message sent after her removal',
  );
  narrator.refused('carol/laptop’s client never received it');
  try {
    await carolLaptop.client.http.getEvent(roomId, eventId);
    narrator.warning('the server gave the event to carol/laptop when she asked for it by id');
  } catch (error) {
    const answer =
      error instanceof ClientError && error.status !== undefined
        ? `${error.status} ${error.details.errcode ?? ''}`.trim()
        : (error as Error).message;
    narrator.refused(`asked for it by id, the server does not give it to carol: ${answer}`);
  }

  const outcomes = await handToKeptGroup(aliceLaptop, roomId, keptGroup, [
    removal.eventId,
    eventId,
  ]);
  const removedOutcome = outcomes.get(removal.eventId);
  const messageOutcome = outcomes.get(eventId);
  expect(
    removedOutcome?.kind === 'removed',
    `carol's kept group state did not learn of its removal (${removedOutcome?.kind ?? 'nothing'})`,
  );
  narrator.fact('handed the removing commit, her kept group state learns only that it was removed');
  expect(
    messageOutcome?.kind === 'failed',
    `carol's kept group state did not fail to read "${AFTER_CAROL_LEFT}" (${messageOutcome?.kind ?? 'nothing'}; ` +
      `it misses [${keptGroup.missing().join(', ')}], handed ${[...outcomes]
        .map(([id, r]) => `${id} ${r.kind}`)
        .join(', ')}); the devices hold:\n${cast.describe()}`,
  );
  narrator.refused(
    `handed the message, it cannot decrypt it: ${messageOutcome.code} (${messageOutcome.reason})`,
  );
}

/**
 * Alice's phone, which holds carol's branch, forges a merge on it that resolves the removal's
 * branch and keeps carol/laptop: the other devices refuse it.
 */
async function forgeAMergeThatKeepsCarol(
  scene: Scene,
  people: People,
  roomId: string,
  carolsKey: string,
  removalKey: string,
): Promise<void> {
  const { narrator, cast } = scene;
  const { aliceLaptop, alicePhone, bobLaptop } = people;
  const group = alicePhone.client.room(roomId)!.group!;
  const carolsEpoch = group.epoch(carolsKey);
  const removalEpoch = group.epoch(removalKey);
  expect(
    carolsEpoch !== undefined && removalEpoch !== undefined,
    'alice/phone does not hold both branches',
  );
  const forged = await postForgedCommit(
    alicePhone,
    roomId,
    carolsEpoch,
    commitData(carolsEpoch, [removalEpoch]),
  );
  narrator.fact(
    `to test that protection, alice/phone forges a merge on carol’s branch, ${cast.epoch(carolsEpoch.id)}, ` +
      `that resolves ${cast.epoch(removalEpoch.id)} and keeps carol/laptop; every device checks ` +
      'that a merge is made on the branch the base rule picks',
  );
  await scene.reportRefusals(forged, [aliceLaptop, bobLaptop]);
}

/**
 * Gives carol's kept group the events as a device that still had its keys would try them,
 * fetching any commit it is missing first (through a device that may still see the room).
 */
async function handToKeptGroup(
  fetcher: DemoDevice,
  roomId: string,
  group: DmlsGroup,
  eventIds: readonly string[],
): Promise<Map<string, Received>> {
  const outcomes = new Map<string, Received>();
  const hand = async (id: string, depth: number): Promise<void> => {
    const event = await fetcher.client.http.getEvent(roomId, id);
    const results = group.receive(
      { eventId: event.event_id, sender: event.sender, content: event.content },
      Date.now(),
    );
    for (const r of results) outcomes.set(r.eventId, r);
    if (depth < 50) for (const missing of group.missing()) await hand(missing, depth + 1);
  };
  for (const id of eventIds) await hand(id, 0);
  return outcomes;
}
