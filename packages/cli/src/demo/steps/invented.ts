/**
 * Step 9: the homeserver invents a device for bob, the classic attack on end-to-end
 * encryption: the server can list any device for any of its users. Every device runs the strict
 * trust policy, so the invented device, which bob's self-signing key never signed, is judged
 * not trusted by each of them, with the reason, and no commit adds it: what is sent next is out
 * of its reach.
 */
import type { DemoDevice } from '../cast.js';
import type { Scene } from '../scene.js';
import { expect } from '../waiting.js';
import type { People } from './accounts.js';

export const AFTER_INVENTED = 'Only our signed devices read this.';

export async function inventADevice(
  scene: Scene,
  people: People,
  roomId: string,
  bobTablet: DemoDevice,
): Promise<string> {
  const { narrator, cast } = scene;
  const { aliceLaptop, alicePhone, bobLaptop } = people;
  const honest = [aliceLaptop, alicePhone, bobLaptop, bobTablet];
  await narrator.step(
    'The homeserver invents a device for Bob, and the room keeps it out',
    'A homeserver can list any device for its users: it makes the keys, answers /keys/query ' +
      'with them, and hands out KeyPackages in the device’s name. Without cross-signing, the ' +
      'room would add it and the server would read everything. Here the story signs in to ' +
      'Bob’s account behind his back, as his server could without any password. The device ' +
      'is real, but Bob’s self-signing key never signed it, so every device refuses to let ' +
      'it in.',
  );
  const invented = await cast.login('bob', 'server-made');
  invented.client.start();
  const identity = invented.client.identity;
  narrator.fact(`the server now lists ${identity} among bob's devices`);

  const verdict = (device: DemoDevice) =>
    device
      .events('deviceTrust')
      .filter((e) => `${e.userId}|${e.deviceId}` === identity)
      .at(-1)?.trust;
  await scene.waitUntil('every device to judge the invented device', () =>
    honest.every((d) => verdict(d) !== undefined),
  );
  for (const device of honest) {
    const trust = verdict(device)!;
    expect(!trust.trusted, `${device.label} trusts the invented device`);
    if (!trust.trusted) {
      narrator.refused(`${device.label} does not trust it: ${trust.reason} (${trust.message})`);
    }
  }

  await scene.say(aliceLaptop, roomId, AFTER_INVENTED, honest);
  scene.reportReaders(roomId, AFTER_INVENTED, honest);
  for (const device of honest) {
    expect(
      !device.members(roomId).includes(identity),
      `${device.label}'s group has the invented device`,
    );
    expect(
      !device.events('commit').some((c) => c.roomId === roomId && c.added.includes(identity)),
      `${device.label} applied a commit adding the invented device`,
    );
  }
  expect(invented.read(roomId, AFTER_INVENTED) === undefined, 'the invented device read it');
  narrator.fact('no commit added it, and it read nothing');
  await invented.client.stop();
  return identity;
}
