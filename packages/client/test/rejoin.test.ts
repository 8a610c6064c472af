/**
 * Rejoin requests over real HTTP: a device that cannot follow the group any more (offline past
 * the fork window, or invited back after a removal) posts `m.dmls.v1.rejoin` with a KeyPackage
 * of its own, and the others add it back with that KeyPackage. Requests that do not check out
 * (another user's device, a key its user never published) are not used.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { toBase64 } from '@trellis/dmls';
import {
  basicCredential,
  createKeyPackage,
  encode,
  mlsMessageCodec,
  roomAlgorithm,
  WireFormat,
} from '@trellis/mls';
import { Client, GROUP_METADATA_EXTENSION, REJOIN_EVENT_TYPE } from '../src/index.js';
import { startServer, type TestServer } from './helpers/server.js';
import {
  converged,
  Devices,
  FAST,
  membersOf,
  register,
  until,
  watch,
  type Device,
} from './helpers/clients.js';

let server: TestServer;
const devices = new Devices();

before(async () => {
  server = await startServer();
});

after(async () => {
  await devices.stopAll();
  await server.close();
});

async function roomWith(creator: Device, others: Device[]): Promise<string> {
  const roomId = await creator.client.createRoom({ invite: others.map((d) => d.client.userId) });
  for (const d of others) {
    await until(`${d.name} invited`, () => d.client.room(roomId)?.membership === 'invite');
    await d.client.joinRoom(roomId);
  }
  await until('one group', () => converged(roomId, [creator, ...others]));
  return roomId;
}

/**
 * Bob follows alice's commit, then goes quiet past the fork window (his clock moves on and the
 * epoch it superseded keeps message keys only), while carol, who never saw alice's commit,
 * commits on the same epoch, and the others merge. With no `late` devices, bob commits on
 * alice's branch first, so the merge is made there; each late device (quiet with carol) commits
 * after her on her branch instead, so the merge is made on hers.
 */
async function offlinePastTheForkWindow(prefix: string, late: readonly string[]) {
  const retention = { forkWindowMs: 60_000, messageWindowMs: 600_000 };
  let offset = 0;
  const clock = () => Date.now() + offset;
  const alice = devices.add(await register(server.url, `${prefix}-alice`, { retention }));
  const bob = devices.add(await register(server.url, `${prefix}-bob`, { retention, clock }));
  const carol = devices.add(await register(server.url, `${prefix}-carol`, { retention }));
  const others: Device[] = [];
  for (const name of late) {
    others.push(devices.add(await register(server.url, `${prefix}-${name}`, { retention })));
  }
  for (const d of [alice, bob, carol, ...others]) d.client.start();
  const roomId = await roomWith(alice, [bob, carol, ...others]);

  await Promise.all([carol, ...others].map((d) => d.client.stop()));
  await alice.client.rotateKeys(roomId);
  const afterAlice = alice.client.room(roomId)!.current()!.key;
  await until('bob follows', () => bob.client.room(roomId)!.current()?.key === afterAlice);
  if (late.length === 0) {
    await bob.client.rotateKeys(roomId);
    const afterBob = bob.client.room(roomId)!.current()!.key;
    await until('alice follows', () => alice.client.room(roomId)!.current()?.key === afterBob);
  }
  await bob.client.stop();
  offset += 61_000;
  assert.ok(bob.client.prune() >= 1);

  await carol.client.rotateKeys(roomId);
  const carolsCommit = carol.client.room(roomId)!.current()!.key;
  for (const d of others) {
    // Handed carol's commit alone, as if alice's had not reached it yet.
    const event = await d.client.http.getEvent(roomId, carolsCommit);
    await d.client.room(roomId)!.receive([event], 'live');
    assert.equal(d.client.room(roomId)!.current()?.key, carolsCommit);
    await d.client.rotateKeys(roomId);
  }
  for (const d of [carol, ...others]) d.client.start();
  await until('the others merge', () => converged(roomId, [alice, carol, ...others]));
  return { alice, bob, carol, dave: others[0], roomId, carolsCommit };
}

/** The commits `device` applied that added `identity`. */
function additionsOf(device: Device, roomId: string, identity: string) {
  return (device.seen.commit ?? []).filter(
    (c) => c.roomId === roomId && c.added.includes(identity),
  );
}

describe('rejoin requests', () => {
  test('a device invited back after its removal asks to rejoin and is added with its own KeyPackage', async () => {
    const alice = devices.add(await register(server.url, 'back-alice'));
    const bob = devices.add(await register(server.url, 'back-bob'));
    alice.client.start();
    bob.client.start();
    const roomId = await roomWith(alice, [bob]);

    await alice.client.kick(roomId, bob.client.userId);
    await until('bob’s device removed', () => membersOf(roomId, alice).length === 1);
    await until('bob forgets the room', () => bob.client.room(roomId) === undefined);

    // Removed earlier on the chain, bob's device is not re-added by a claimed KeyPackage: it
    // comes back by its own request once bob is in the room again.
    await alice.client.invite(roomId, bob.client.userId);
    await until('bob invited', () => bob.client.room(roomId)?.membership === 'invite');
    await bob.client.joinRoom(roomId);
    await until('bob asks to rejoin', () => (bob.seen.rejoin ?? []).some((r) => r.mine));
    await until('alice collects the request', () =>
      (alice.seen.rejoin ?? []).some((r) => r.device === bob.client.identity && !r.mine),
    );
    await until('bob back in the group', () => converged(roomId, [alice, bob]));
    assert.ok(membersOf(roomId, alice).includes(bob.client.identity));
    assert.equal(additionsOf(alice, roomId, bob.client.identity).length, 2);
    // Back in the group, bob has nothing left to ask for.
    assert.equal(bob.client.store.value(`rejoin_request ${roomId}`), undefined);

    await alice.client.sendText(roomId, 'welcome back');
    await until('bob reads it', () => bob.bodies(roomId).includes('welcome back'));
    assert.equal((bob.seen.rejoin ?? []).filter((r) => r.mine).length, 1, 'one request');

    // Once bob's leaf has moved on, the answered request posted again under a new event id (as
    // a server could replay it) replaces nothing: its KeyPackage was used.
    await bob.client.rotateKeys(roomId);
    await until('alice follows bob’s update', () => converged(roomId, [alice, bob]));
    const page = await alice.client.http.messages(roomId, { dir: 'b', limit: 100 });
    const request = page.chunk.find((e) => e.type === REJOIN_EVENT_TYPE)!;
    await bob.client.http.sendEvent(roomId, REJOIN_EVENT_TYPE, 'replayed', request.content);
    await alice.client.sendText(roomId, 'after the replay');
    await until('bob reads on', () => bob.bodies(roomId).includes('after the replay'));
    assert.ok(converged(roomId, [alice, bob]));
    assert.equal(
      additionsOf(alice, roomId, bob.client.identity).length,
      2,
      'not added a third time',
    );
    for (const d of [alice, bob]) assert.deepEqual(d.errors, [], `${d.name} had no errors`);
  });

  test('a device offline past the fork window asks to rejoin, and is added back', async () => {
    const { alice, bob, carol, roomId, carolsCommit } = await offlinePastTheForkWindow('late', []);
    // The merge is made on the branch bob follows (alice's and bob's commits outvote carol's),
    // but bob saw a commit he could not apply: he asks to rejoin all the same.
    bob.client.start();
    await until('bob refuses carol’s late commit', () =>
      (bob.seen.commitRefused ?? []).some(
        (r) => r.eventId === carolsCommit && r.code === 'EPOCH_EXPIRED',
      ),
    );
    await until('bob asks to rejoin', () => (bob.seen.rejoin ?? []).some((r) => r.mine));
    await until('bob back in the group', () => converged(roomId, [alice, bob, carol]));
    assert.equal(bob.client.room(roomId)!.group!.needsRejoin, false);
    assert.equal(additionsOf(alice, roomId, bob.client.identity).length, 2, 'added again');
    await carol.client.sendText(roomId, 'caught up?');
    await until('bob reads it', () => bob.bodies(roomId).includes('caught up?'));
    await bob.client.sendText(roomId, 'yes');
    await until('alice reads bob', () => alice.bodies(roomId).includes('yes'));
  });

  test('a device offline past the fork window rejoins when the merge is on the branch it cannot follow', async () => {
    const { alice, bob, carol, dave, roomId } = await offlinePastTheForkWindow('split', ['dave']);
    bob.client.start();
    await until('bob asks to rejoin', () => (bob.seen.rejoin ?? []).some((r) => r.mine));
    await until('bob back in the group', () => converged(roomId, [alice, bob, carol, dave!]));
    await carol.client.sendText(roomId, 'caught up?');
    await until('bob reads it', () => bob.bodies(roomId).includes('caught up?'));
    await bob.client.sendText(roomId, 'yes');
    await until('alice reads bob', () => alice.bodies(roomId).includes('yes'));
  });

  test('a group stored by an older version is refused, and the device is added again', async () => {
    const alice = devices.add(await register(server.url, 'old-alice'));
    const bob = devices.add(await register(server.url, 'old-bob'));
    alice.client.start();
    bob.client.start();
    const roomId = await roomWith(alice, [bob]);
    await bob.client.stop();
    // Bob's store as a version-1 client left it (the group's record says so).
    const store = bob.client.store;
    const stored = store.group(roomId)!;
    const oldKeys = stored.epochs.map((e) => e.key);
    store.saveGroup(roomId, JSON.stringify({ ...JSON.parse(stored.meta), version: 1 }), [], []);

    const again = devices.add(
      watch(Client.open({ ...FAST, baseUrl: server.url, store }), 'bob again'),
    );
    const refusal = again.errors.find((e) => /older Trellis/.test(String(e.error)));
    assert.ok(refusal, again.errors.map((e) => String(e.error)).join('\n'));
    assert.match(String(refusal.error), /snapshot version 1; this one reads version 2/);
    assert.equal(again.client.room(roomId)!.group, undefined);

    again.client.start();
    await until('bob asks to rejoin', () => (again.seen.rejoin ?? []).some((r) => r.mine));
    await until('bob back in the group', () => converged(roomId, [alice, again]));
    await alice.client.sendText(roomId, 'on version 2');
    await until('bob reads it', () => again.bodies(roomId).includes('on version 2'));
    // The old group's epochs were replaced by the new group's.
    const keys = new Set(
      again.client
        .room(roomId)!
        .group!.epochs()
        .map((n) => n.key),
    );
    const now = store.group(roomId)!.epochs.map((e) => e.key);
    assert.ok(
      now.every((k) => keys.has(k)),
      `stored: ${now.join(', ')}`,
    );
    assert.ok(oldKeys.some((k) => !now.includes(k)));
  });

  test('requests that do not check out are not used', async () => {
    const alice = devices.add(await register(server.url, 'bad-alice'));
    const bob = devices.add(await register(server.url, 'bad-bob'));
    const mallory = devices.add(await register(server.url, 'bad-mallory'));
    for (const d of [alice, bob, mallory]) d.client.start();
    const roomId = await roomWith(alice, [bob, mallory]);
    const commitsBefore = (alice.seen.commit ?? []).length;

    const suite = mallory.client.suite;
    const request = (identity: string) => {
      const kp = createKeyPackage(suite, {
        credential: basicCredential(new TextEncoder().encode(identity)),
        signatureKeyPair: suite.signature.generateKeyPair(),
        now: BigInt(Math.floor(Date.now() / 1000)),
        capabilities: { extensions: [GROUP_METADATA_EXTENSION] },
      }).keyPackage;
      const value = toBase64(
        encode(mlsMessageCodec, { wireFormat: WireFormat.mls_key_package, keyPackage: kp }),
      );
      const [userId, deviceId] = identity.split('|') as [string, string];
      return { algorithm: roomAlgorithm(suite.id), sender: [userId, deviceId], key_package: value };
    };
    // Mallory asks in the name of bob's device, then for her own device with a key she never
    // published: neither replaces a leaf.
    await mallory.client.http.sendEvent(
      roomId,
      REJOIN_EVENT_TYPE,
      'r1',
      request(bob.client.identity),
    );
    await mallory.client.http.sendEvent(
      roomId,
      REJOIN_EVENT_TYPE,
      'r2',
      request(mallory.client.identity),
    );
    await until(
      'alice refuses both',
      () => alice.errors.filter((e) => e.context.startsWith('rejoin request')).length === 2,
    );
    const reasons = alice.errors.map((e) => String(e.error));
    assert.ok(
      reasons.some((r) => /in the name of/.test(r)),
      reasons.join('\n'),
    );
    assert.ok(
      reasons.some((r) => /key the device list does not show/.test(r)),
      reasons.join('\n'),
    );
    await alice.client.sendText(roomId, 'nothing changed');
    await until('bob reads it', () => bob.bodies(roomId).includes('nothing changed'));
    assert.equal((alice.seen.commit ?? []).length, commitsBefore, 'no commit replaced a leaf');
    assert.ok(converged(roomId, [alice, bob, mallory]));
  });
});
