/**
 * Rooms over real HTTP: metadata in the group context, users removed (kicked, or leaving) and
 * their devices taken out of the group, backfill of unknown epochs by commit event id, and what
 * a device refuses (Welcomes from outside the room, events whose Matrix sender is not their MLS
 * sender).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decode, keyPackageAlgorithm, mlsMessageCodec, nodeCrypto, WireFormat } from '@trellis/mls';
import { DmlsGroup, fromBase64 } from '@trellis/dmls';
import { startServer, type TestServer } from './helpers/server.js';
import { converged, Devices, membersOf, register, until, type Device } from './helpers/clients.js';

let server: TestServer;
const devices = new Devices();

before(async () => {
  server = await startServer();
});

after(async () => {
  await devices.stopAll();
  await server.close();
});

async function roomWith(creator: Device, others: Device[], name = 'room'): Promise<string> {
  const roomId = await creator.client.createRoom({
    name,
    invite: others.map((d) => d.client.userId),
  });
  for (const d of others) {
    await until(`${d.name} invited`, () => d.client.room(roomId)?.membership === 'invite');
    await d.client.joinRoom(roomId);
  }
  await until('one group', () => converged(roomId, [creator, ...others]));
  return roomId;
}

describe('rooms', () => {
  test('name and topic live in the group context: every member sees changes, the server none', async () => {
    const alice = devices.add(await register(server.url, 'meta-alice'));
    const bob = devices.add(await register(server.url, 'meta-bob'));
    alice.client.start();
    bob.client.start();
    const roomId = await alice.client.createRoom({
      name: 'Plans',
      topic: 'secret',
      invite: [bob.client.userId],
    });
    await until('bob invited', () => bob.client.room(roomId)?.membership === 'invite');
    await bob.client.joinRoom(roomId);
    await until('one group', () => converged(roomId, [alice, bob]));
    assert.deepEqual(bob.client.room(roomId)!.metadata, { name: 'Plans', topic: 'secret' });

    await bob.client.setRoomMetadata(roomId, { topic: 'more secret' });
    await until(
      'alice sees the new topic',
      () => alice.client.room(roomId)!.metadata.topic === 'more secret',
    );
    assert.deepEqual(alice.client.room(roomId)!.metadata, { name: 'Plans', topic: 'more secret' });
    assert.ok(alice.seen.metadata!.some((m) => m.topic === 'more secret'));
    // Messages carry when they were sent: the server's time, or the sender's own clock for the
    // sender's own message, which it reads as it sends.
    const before = Date.now();
    const eventId = await alice.client.sendText(roomId, 'what time is it');
    const after = Date.now();
    await until('bob reads it', () => bob.messages.some((m) => m.eventId === eventId));
    const sent = await bob.client.http.getEvent(roomId, eventId);
    assert.equal(typeof sent.origin_server_ts, 'number');
    assert.equal(bob.messages.find((m) => m.eventId === eventId)!.ts, sent.origin_server_ts);
    const own = alice.messages.find((m) => m.eventId === eventId)!.ts!;
    assert.ok(own >= before && own <= after, `alice's own copy is stamped when sent (${own})`);
    const state = await alice.client.http.roomState(roomId);
    assert.ok(!state.some((e) => e.type === 'm.room.name' || e.type === 'm.room.topic'));
    assert.ok(!JSON.stringify(state).includes('secret'));
  });

  test('two topic changes made at once: one stands everywhere, its maker is named, the other is told', async () => {
    const alice = devices.add(await register(server.url, 'clash-alice'));
    const bob = devices.add(await register(server.url, 'clash-bob'));
    alice.client.start();
    bob.client.start();
    const roomId = await roomWith(alice, [bob], 'Clash');
    // Neither sees the other's commit before making its own: the room forks.
    await alice.client.stop();
    await bob.client.stop();
    await Promise.all([
      alice.client.setRoomMetadata(roomId, { topic: 'apples' }),
      bob.client.setRoomMetadata(roomId, { name: 'Orchard', topic: 'pears' }),
    ]);
    alice.client.start();
    bob.client.start();
    await until(
      'one tip and one topic',
      () =>
        converged(roomId, [alice, bob]) &&
        alice.client.room(roomId)!.metadata.topic === bob.client.room(roomId)!.metadata.topic &&
        (alice.seen.metadataReplaced ?? []).length + (bob.seen.metadataReplaced ?? []).length > 0,
    );
    const topic = alice.client.room(roomId)!.metadata.topic;
    const [winner, loser] = topic === 'apples' ? [alice, bob] : [bob, alice];
    assert.deepEqual(
      (loser.seen.metadataReplaced ?? []).map((r) => ({ ...r, roomId: undefined })),
      [
        {
          roomId: undefined,
          field: 'topic',
          mine: loser === alice ? 'apples' : 'pears',
          value: topic,
          by: winner.client.identity,
        },
      ],
      `${loser.name}'s topic was replaced by ${winner.name}'s`,
    );
    assert.equal(winner.seen.metadataReplaced, undefined, 'the winner lost nothing');
    // The name only bob changed is not lost, whichever branch won.
    await until('the name holds on both', () =>
      [alice, bob].every((d) => d.client.room(roomId)!.metadata.name === 'Orchard'),
    );
    assert.equal(alice.client.room(roomId)!.metadata.topic, topic, 'the topic was not made again');
    const told = alice.seen.metadata!.filter((m) => m.name === 'Orchard' || m.topic === 'pears');
    assert.ok(
      told.every((m) => m.by === bob.client.identity),
      `alice is told bob made his changes: ${JSON.stringify(told)}`,
    );
  });

  test('a kicked user’s devices are removed from the group and it forgets the room', async () => {
    const alice = devices.add(await register(server.url, 'kick-alice'));
    const bob = devices.add(await register(server.url, 'kick-bob'));
    const carol = devices.add(await register(server.url, 'kick-carol'));
    for (const d of [alice, bob, carol]) d.client.start();
    const roomId = await roomWith(alice, [bob, carol]);
    // Members are known by the display names of their member events (the localpart, until
    // they choose another).
    assert.equal(carol.client.room(roomId)!.displayName(bob.client.userId), 'kick-bob');
    await alice.client.kick(roomId, bob.client.userId, 'bye bob');
    await until(
      'bob’s device removed',
      () =>
        converged(roomId, [alice, carol]) &&
        !membersOf(roomId, alice).includes(bob.client.identity),
    );
    await until('bob forgets the room', () => bob.client.room(roomId) === undefined);
    // Everyone is told who removed bob, and why; bob too, before his device forgets the room.
    for (const d of [bob, carol]) {
      const kick = d.seen.membership!.find(
        (m) => m.userId === bob.client.userId && m.membership === 'leave',
      );
      assert.deepEqual(
        kick && { sender: kick.sender, reason: kick.reason },
        { sender: alice.client.userId, reason: 'bye bob' },
        `${d.name} is told who kicked bob`,
      );
    }
    const join = carol.seen.membership!.find(
      (m) => m.userId === carol.client.userId && m.membership === 'join',
    );
    assert.equal(join?.sender, carol.client.userId, 'a join is made by the user who joins');
    assert.equal(join?.reason, undefined);
    assert.equal(bob.client.store.group(roomId), undefined, 'its group is deleted from the store');
    await alice.client.sendText(roomId, 'without bob');
    await until('carol reads it', () => carol.bodies(roomId).includes('without bob'));
    assert.ok(!bob.bodies(roomId).includes('without bob'));
  });

  test('a user who leaves is removed by the next resolving commit', async () => {
    const alice = devices.add(await register(server.url, 'leave-alice'));
    const bob = devices.add(await register(server.url, 'leave-bob'));
    alice.client.start();
    bob.client.start();
    const roomId = await roomWith(alice, [bob]);
    await bob.client.leaveRoom(roomId);
    assert.equal(bob.client.room(roomId), undefined);
    await until('bob’s device removed', () => membersOf(roomId, alice).length === 1);
    assert.deepEqual(membersOf(roomId, alice), [alice.client.identity]);
  });

  test('an event whose epoch is unknown gets its commits fetched by id, and is read', async () => {
    const alice = devices.add(await register(server.url, 'gap-alice'));
    // Two events per sync, and no gap filling: what is missing must come by backfill.
    const bob = devices.add(
      await register(server.url, 'gap-bob', { timelineLimit: 2, maxGapFill: 0 }),
    );
    alice.client.start();
    bob.client.start();
    const roomId = await roomWith(alice, [bob]);
    await bob.client.stop();
    for (let i = 0; i < 4; i++) {
      await alice.client.rotateKeys(roomId);
      await alice.client.sendText(roomId, `gap ${i}`);
    }
    bob.client.start();
    await until('bob reads the last message', () => bob.bodies(roomId).includes('gap 3'));
    await until('and converges', () => converged(roomId, [alice, bob]));
    const fetched = (bob.seen.backfill ?? []).reduce((n, b) => n + b.fetched, 0);
    assert.ok(fetched >= 3, `commits fetched by id: ${fetched}`);
    assert.equal(bob.messages.find((m) => m.content.body === 'gap 3')!.source, 'backfill');
    assert.deepEqual(bob.errors, []);
  });

  test('a Welcome from a user who is not in the room is refused', async () => {
    const alice = devices.add(await register(server.url, 'wel-alice'));
    const bob = devices.add(await register(server.url, 'wel-bob'));
    const eve = devices.add(await register(server.url, 'wel-eve'));
    alice.client.start();
    const roomId = await alice.client.createRoom({ invite: [bob.client.userId] });
    await until('alice’s group', () => alice.client.room(roomId)?.group !== undefined);
    // Eve makes her own group under the room's id, adds bob's device from his KeyPackage, and
    // sends him its Welcome before alice can.
    const algorithm = keyPackageAlgorithm(1);
    const claimed = await eve.client.http.claimKeys({
      [bob.client.userId]: { [bob.client.deviceId]: algorithm },
    });
    const value = Object.values(
      (claimed[bob.client.userId] as Record<string, Record<string, string>>)[bob.client.deviceId]!,
    )[0]!;
    const message = decode(mlsMessageCodec, fromBase64(value, 'kp'));
    if (message.wireFormat !== WireFormat.mls_key_package) throw new Error('not a KeyPackage');
    const forged = DmlsGroup.create({
      roomId,
      identity: eve.client.identity,
      provider: nodeCrypto,
      deviceKeys: () => null,
      suite: 1,
      createEventId: '$fake',
      signatureKeyPair: eve.client.suite.signature.generateKeyPair(),
      now: Date.now(),
    });
    const made = forged.commit(
      { baseKey: '$fake', resolveKeys: [], remove: [], add: [bob.client.identity] },
      new Map([[bob.client.identity, message.keyPackage]]),
    );
    await eve.client.http.sendToDevice('m.room.encrypted', 'forged', {
      [bob.client.userId]: { [bob.client.deviceId]: made.welcomeFor('$fake')! },
    });

    bob.client.start();
    await until('bob invited', () => bob.client.room(roomId)?.membership === 'invite');
    await bob.client.joinRoom(roomId);
    await until('the real group', () => converged(roomId, [alice, bob]));
    assert.ok(bob.errors.some((e) => /not in it|not a device of the room/.test(String(e.error))));
    assert.ok(!membersOf(roomId, bob).includes(eve.client.identity));
    assert.equal(bob.seen.welcome!.length, 1);
  });

  test('an event whose Matrix sender is not its MLS sender is refused', async () => {
    const alice = devices.add(await register(server.url, 'mix-alice'));
    const bob = devices.add(await register(server.url, 'mix-bob'));
    const mallory = devices.add(await register(server.url, 'mix-mallory'));
    for (const d of [alice, bob, mallory]) d.client.start();
    const roomId = await roomWith(alice, [bob, mallory]);
    const eventId = await bob.client.sendText(roomId, 'from bob');
    await until('read', () => mallory.bodies(roomId).includes('from bob'));
    // Mallory, a member, posts bob's ciphertext as her own event.
    const original = await mallory.client.http.getEvent(roomId, eventId);
    const replayed = await mallory.client.http.sendEvent(
      roomId,
      'm.room.encrypted',
      'replay',
      original.content,
    );
    await until('refused', () => alice.failures.some((f) => f.eventId === replayed));
    const failure = alice.failures.find((f) => f.eventId === replayed)!;
    assert.equal(failure.code, 'SENDER_MISMATCH');
    assert.equal(alice.messages.filter((m) => m.content.body === 'from bob').length, 1);
  });
});
