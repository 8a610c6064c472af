/**
 * The trust policy against a homeserver that invents a device for Bob (issue 15): a test
 * double in front of the real server (helpers/injectingServer.ts) lists the device in
 * `/keys/query` and hands out KeyPackages in its name. Alice and Bob have cross-signing set
 * up, so Bob's real device is signed by Bob and the invented one is not.
 *
 * - `strict`: Alice never adds the invented device, is told why (`deviceTrust`, `UNSIGNED`),
 *   and refuses a commit that adds it (`UNTRUSTED_DEVICE`), made here by a Bob under `tofu`.
 * - `tofu`: the invented device is added, and Alice is warned (`deviceTrust`, unsigned).
 * - A genuine new device of Bob is kept out until Bob's recovery key signs it, then let in,
 *   and the same key restores the history from his backup.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import type { TrustPolicy } from '../src/index.js';
import { startServer, type TestServer } from './helpers/server.js';
import { injectingServer, type InjectingServer } from './helpers/injectingServer.js';
import {
  converged,
  Devices,
  login,
  membersOf,
  register,
  until,
  type Device,
} from './helpers/clients.js';

/** The server name of the test server (`DEFAULT_CONFIG.serverName`). */
const BOB = '@bob:localhost';

let server: TestServer | undefined;
let hostile: InjectingServer | undefined;
let devices = new Devices();

afterEach(async () => {
  await devices.stopAll();
  await hostile?.close();
  await server?.close();
  devices = new Devices();
});

/** Turns on backup and cross-signing; answers the recovery key. */
async function crossSigned(device: Device): Promise<string> {
  const { recoveryKey } = await device.client.enableBackup();
  await device.client.crossSigning.setUp();
  return recoveryKey;
}

/** Alice and Bob through the hostile server, cross-signed, started, in one room. */
async function room(alicePolicy: TrustPolicy, bobPolicy: TrustPolicy) {
  server = await startServer();
  hostile = await injectingServer(server.url, BOB);
  const alice = devices.add(await register(hostile.url, 'alice', { trustPolicy: alicePolicy }));
  const bob = devices.add(await register(hostile.url, 'bob', { trustPolicy: bobPolicy }));
  assert.equal(bob.client.userId, BOB);
  await crossSigned(alice);
  const bobRecoveryKey = await crossSigned(bob);
  alice.client.start();
  bob.client.start();
  const roomId = await alice.client.createRoom({ name: `${alicePolicy}/${bobPolicy}` });
  await alice.client.invite(roomId, BOB);
  await until('Bob is invited', () => (bob.seen.invite ?? []).some((i) => i.roomId === roomId));
  await bob.client.joinRoom(roomId);
  return { alice, bob, roomId, injected: hostile.identity, bobRecoveryKey };
}

function lastTrust(device: Device, identity: string) {
  return (device.seen.deviceTrust ?? [])
    .filter((e) => `${e.userId}|${e.deviceId}` === identity)
    .at(-1)?.trust;
}

test('strict: Alice does not add the invented device, is told why, and refuses a commit that adds it', async () => {
  const { alice, bob, roomId, injected } = await room('strict', 'tofu');

  // Bob, under tofu, adds the device his server lists for him; Alice refuses that commit.
  await until('Alice refuses a commit adding the invented device', () =>
    (alice.seen.commitRefused ?? []).some(
      (r) => r.roomId === roomId && r.code === 'UNTRUSTED_DEVICE',
    ),
  );
  const refusal = alice.seen.commitRefused!.find((r) => r.code === 'UNTRUSTED_DEVICE')!;
  assert.ok(refusal.reason.includes(injected), refusal.reason);
  assert.ok(hostile!.claimed > 0, 'Bob claimed a KeyPackage of the invented device');
  assert.deepEqual(lastTrust(bob, injected), { trusted: true, signed: false }, 'Bob was warned');

  // Alice was told why; her group has Bob's real device, signed, and never the invented one.
  const told = lastTrust(alice, injected);
  assert.ok(told && !told.trusted && told.reason === 'UNSIGNED', JSON.stringify(told));
  assert.match(told.message, /not signed by its user/);
  assert.deepEqual(lastTrust(alice, bob.client.identity), { trusted: true, signed: true });
  await until("Bob's real device is in Alice's group", () =>
    membersOf(roomId, alice).includes(bob.client.identity),
  );
  for (const seen of alice.seen.commit ?? []) assert.ok(!seen.added.includes(injected));
  assert.ok(!membersOf(roomId, alice).includes(injected));
});

test('strict on both sides: nobody adds the invented device, and the room works', async () => {
  const { alice, bob, roomId, injected } = await room('strict', 'strict');
  await until(
    'both hold one tip with both real devices',
    () => converged(roomId, [alice, bob]) && membersOf(roomId, alice).includes(bob.client.identity),
  );
  await alice.client.sendText(roomId, 'only for Bob');
  await until('Bob reads it', () => bob.bodies(roomId).includes('only for Bob'));
  assert.equal(hostile!.claimed, 0, 'no KeyPackage of the invented device was claimed');
  assert.deepEqual(
    membersOf(roomId, bob).sort(),
    [alice.client.identity, bob.client.identity].sort(),
  );
  assert.equal(lastTrust(bob, injected)?.trusted, false);
});

test('tofu: the invented device is added, and Alice is warned', async () => {
  const { alice, roomId, injected } = await room('tofu', 'tofu');
  await until("the invented device is in Alice's group", () =>
    membersOf(roomId, alice).includes(injected),
  );
  assert.deepEqual(lastTrust(alice, injected), { trusted: true, signed: false });
});

test('strict: a new device of Bob is let in once the recovery key signed it, and reads the history', async () => {
  const { alice, bob, roomId, bobRecoveryKey } = await room('strict', 'strict');
  await until('Bob is in the group', () => membersOf(roomId, alice).includes(bob.client.identity));
  await alice.client.sendText(roomId, 'before the tablet');
  await until('Bob reads it', () => bob.bodies(roomId).includes('before the tablet'));
  await bob.client.flushBackup();

  const tablet = devices.add(await login(hostile!.url, 'bob', { trustPolicy: 'strict' }));
  tablet.client.start();
  await until(
    "Alice judges Bob's new, unsigned device",
    () => lastTrust(alice, tablet.client.identity)?.trusted === false,
  );
  assert.ok(!membersOf(roomId, alice).includes(tablet.client.identity), 'not let in unsigned');

  // One recovery key: it signs the tablet (cross-signing) and opens the backup.
  await tablet.client.crossSigning.recover(bobRecoveryKey);
  await until(
    'Alice trusts the tablet, signed by Bob',
    () => lastTrust(alice, tablet.client.identity)?.trusted === true,
  );
  assert.deepEqual(lastTrust(alice, tablet.client.identity), { trusted: true, signed: true });
  await until(
    'the tablet is in the group',
    () =>
      membersOf(roomId, alice).includes(tablet.client.identity) &&
      converged(roomId, [alice, bob, tablet]),
  );
  const report = await tablet.client.restoreBackup(bobRecoveryKey);
  assert.ok(report.messages >= 1, JSON.stringify(report));
  assert.ok(
    tablet.messages.some((m) => m.source === 'backup' && m.content.body === 'before the tablet'),
    'the tablet read the history from the backup',
  );
});
