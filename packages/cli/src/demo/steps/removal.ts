/**
 * Step 7: carol is removed from the room; the next commit removes her device from the group, and
 * what is sent after it is out of her reach, even with the group state her device kept.
 */
import { ClientError } from '@trellis/client';
import type { DmlsGroup, Received } from '@trellis/dmls';
import type { DemoDevice } from '../cast.js';
import type { Scene } from '../scene.js';
import { expect, waitUntil } from '../waiting.js';
import type { People } from './accounts.js';
import { describeCommit, inOneEpoch } from './epochs.js';

export const AFTER_CAROL_LEFT = 'Carol is gone; she cannot read this.';

export async function removeCarol(scene: Scene, people: People, roomId: string): Promise<void> {
  const { narrator, cast } = scene;
  const { aliceLaptop, alicePhone, bobLaptop, carolLaptop } = people;
  const remaining = [aliceLaptop, alicePhone, bobLaptop];
  const carol = carolLaptop.client.identity;
  await narrator.step(
    'Carol is removed and shut out',
    'Alice removes Carol from the room. Her device is no longer one of the room’s devices, so ' +
      'the next commit removes it from the group, and the epochs after that commit are keyed ' +
      'for the remaining devices only. The server stops sending Carol the room’s events; and ' +
      'even if her device kept its group state and got hold of the ciphertext, it could not read it.',
  );
  // What a device that does not forget would keep: the group as it was before the removal.
  const keptGroup = carolLaptop.client.room(roomId)?.group;
  expect(keptGroup !== undefined, 'carol/laptop has no group state to keep');

  await aliceLaptop.client.kick(roomId, carolLaptop.client.userId, 'the demo removes Carol');
  narrator.fact(`alice/laptop removed ${carolLaptop.client.userId} from the room`);
  await waitUntil('carol/laptop to see that she left the room', () =>
    carolLaptop
      .events('membership')
      .some(
        (m) =>
          m.roomId === roomId && m.userId === carolLaptop.client.userId && m.membership === 'leave',
      ),
  );
  await waitUntil(
    'carol/laptop to delete its group state',
    () => carolLaptop.client.room(roomId) === undefined,
  );
  narrator.fact('carol/laptop saw its membership become “leave” and deleted its group state');

  await waitUntil(
    'a commit removing carol/laptop, applied by the remaining devices',
    () =>
      inOneEpoch(roomId, remaining) && remaining.every((d) => !d.members(roomId).includes(carol)),
  );
  const removal = remaining
    .flatMap((d) => d.events('commit'))
    .find((c) => c.roomId === roomId && c.removed.includes(carol));
  expect(removal !== undefined, 'carol/laptop left the group without a commit removing it');
  narrator.fact(`${cast.label(removal.epoch.creator)} committed ${describeCommit(cast, removal)}`);
  narrator.detail(
    `members now: ${aliceLaptop
      .members(roomId)
      .map((m) => cast.label(m))
      .join(', ')}`,
  );

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
    `carol's kept group state did not fail to read "${AFTER_CAROL_LEFT}" (${messageOutcome?.kind ?? 'nothing'})`,
  );
  narrator.refused(
    `handed the message, it cannot decrypt it: ${messageOutcome.code} (${messageOutcome.reason})`,
  );
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
