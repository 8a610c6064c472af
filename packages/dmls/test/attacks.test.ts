/**
 * The attacks and races of issue 12, one regression test each: every one is refused with its
 * reason code, or made harmless, and leaves every honest device with a working tip.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { exportSecret, fromHex, toHex } from '@trellis/mls';
import { DmlsGroup, parseWelcome, type EpochNode, type Received } from '../src/index.js';
import { ALICE, BOB, bodyOf, CAROL, codeOf, DAVE, TestRoom, threeMembers } from './support/room.js';

const EVERYONE = [ALICE, BOB, CAROL];

/** Every listed device has a tip it can send in, and they read each other. */
function stillWorks(room: TestRoom, devices: readonly string[]): void {
  for (const id of devices) {
    const said = room.say(id, `still here, ${id}`);
    for (const other of devices) {
      if (other === id) continue;
      assert.equal(bodyOf(room.deliver(other, said)), `still here, ${id}`, `${other} reads ${id}`);
    }
  }
}

function exporter(room: TestRoom, id: string): string {
  const node = room.group(id).current();
  return toHex(exportSecret(room.state(id, node.key), 'test', new Uint8Array(0), 16));
}

describe('1. fork metadata is authenticated and checked', () => {
  test('a commit resolving its own base, an ancestor, or a wrong tag is refused', () => {
    const room = threeMembers();
    const joined = room.group(BOB).current();
    room.deliverAll(room.commit(ALICE));
    const base = room.group(BOB).current();
    const first = room.events[0]!; // the commit that added Bob and Carol
    const forgeries = [
      { baseEvent: base.key, resolves: [{ event: base.key, tag: fromHex(base.tag) }] },
      { baseEvent: base.key, resolves: [{ event: joined.key, tag: fromHex(joined.tag) }] },
    ];
    for (const data of forgeries) {
      const event = room.forge(BOB, base.key, data);
      for (const id of [ALICE, CAROL]) {
        assert.ok(
          ['INVALID_METADATA', 'INVALID_RESOLVES'].includes(codeOf(room.deliver(id, event))!),
          `${id} refuses ${JSON.stringify(data.resolves.map((r) => r.event))}`,
        );
      }
    }
    // A concurrent tip named with a tag that is not its own.
    const fromAlice = room.commit(ALICE);
    room.deliverAll(fromAlice, [BOB]);
    const tipTag = room.group(CAROL).epoch(fromAlice.eventId)!.tag;
    assert.ok(tipTag.length > 0);
    const wrongTag = room.forge(BOB, base.key, {
      baseEvent: base.key,
      resolves: [{ event: fromAlice.eventId, tag: fromHex('ab'.repeat(32)) }],
    });
    assert.equal(codeOf(room.deliver(CAROL, wrongTag)), 'INVALID_RESOLVES');
    // Signed data that disagrees with the event's clear commit_event.
    const lying = room.forge(BOB, base.key, { baseEvent: first.eventId, resolves: [] });
    assert.equal(codeOf(room.deliver(CAROL, lying)), 'INVALID_METADATA');
    // Missing or garbage authenticated data.
    const bare = room.forge(BOB, base.key, new Uint8Array([7, 7]));
    assert.equal(codeOf(room.deliver(CAROL, bare)), 'INVALID_METADATA');
    room.deliver(BOB, fromAlice);
    for (const id of EVERYONE) assert.ok(room.group(id).tips().length >= 1);
    stillWorks(room, EVERYONE);
  });

  test('a joiner refuses a merge of an epoch from before it joined, named in its Welcome', () => {
    const room = threeMembers();
    const e1 = room.commit(ALICE);
    room.deliverAll(e1);
    const joinCommit = room.add(ALICE, [DAVE]); // Dave's Welcome names e1 as its base
    room.deliver(DAVE, e1); // the older commit reaches Dave afterwards
    const onJoin = room.group(BOB).epoch(joinCommit.eventId)!;
    const e1Node = room.group(BOB).epoch(e1.eventId)!;
    const forged = room.forge(BOB, onJoin.key, {
      baseEvent: onJoin.key,
      resolves: [{ event: e1.eventId, tag: fromHex(e1Node.tag) }],
    });
    for (const id of [ALICE, CAROL, DAVE]) {
      assert.equal(codeOf(room.deliver(id, forged)), 'INVALID_RESOLVES', id);
    }
  });

  test('naming an epoch that does not exist yet only makes the commit wait', () => {
    const room = threeMembers();
    const base = room.group(BOB).current();
    const event = room.forge(BOB, base.key, {
      baseEvent: base.key,
      resolves: [{ event: '$future', tag: fromHex('cd'.repeat(32)) }],
    });
    const r = room.deliver(CAROL, event)[0]!;
    assert.equal(r.kind, 'queued');
    assert.equal(room.group(CAROL).tips().length, 1);
    // When an epoch of that name appears, its tag is not the one named: the commit is refused.
    const later = room.commit(ALICE);
    const results = room.deliver(CAROL, { ...later, eventId: '$future' });
    assert.ok(results.some((x) => x.kind === 'commit'));
    assert.ok(results.some((x) => x.kind === 'failed' && x.code === 'INVALID_RESOLVES'));
    assert.equal(room.group(CAROL).tips().length, 1);
  });

  test('a replayed commit under a new event id is the same epoch, not a fork', () => {
    const room = threeMembers();
    const commit = room.commit(ALICE);
    room.deliverAll(commit);
    const replay = { ...commit, eventId: '$replay' };
    assert.deepEqual(room.deliver(CAROL, replay), [{ kind: 'duplicate', eventId: '$replay' }]);
    assert.equal(room.group(CAROL).tips().length, 1);
  });
});

/** `by` commits, on epoch `on`, the removal of `victim`'s leaf (not delivered). */
function removalOf(room: TestRoom, by: string, on: EpochNode, victim: string) {
  return room.commit(by, { baseKey: on.key, resolveKeys: [], remove: [on.members.get(victim)!] });
}

describe('2. removals are monotone across merges', () => {
  /** Alice removes Carol; Carol, still holding the epoch before, commits twice on it. */
  function removedCarolExtends(room: TestRoom) {
    const before = room.group(CAROL).current();
    const removal = removalOf(room, ALICE, before, CAROL);
    const c1 = room.commit(CAROL);
    room.deliver(CAROL, c1);
    const c2 = room.commit(CAROL);
    room.deliver(CAROL, c2);
    for (const id of [ALICE, BOB]) for (const e of [removal, c1, c2]) room.deliver(id, e);
    return { removal, c1, c2 };
  }

  test("a removed device's longer branch does not win the base rule", () => {
    const room = threeMembers();
    const { removal } = removedCarolExtends(room);
    for (const id of [ALICE, BOB]) {
      assert.equal(room.group(id).tips().length, 2);
      assert.equal(room.group(id).current().key, removal.eventId, `${id} stays on the removal`);
    }
    const merge = room.resolve(ALICE, [ALICE, BOB]);
    assert.equal(room.group(BOB).current().key, merge.eventId);
    assert.ok(!room.group(BOB).current().members.has(CAROL));
    const after = room.say(BOB, 'carol must not read this');
    const r = room.deliver(CAROL, after)[0]!;
    assert.ok(r.kind === 'failed' || r.kind === 'queued', `carol got ${r.kind}`);
    assert.equal(bodyOf([r]), undefined);
  });

  test('a merge on the branch that wins keeps no device a resolved branch removed', () => {
    const room = threeMembers();
    room.add(ALICE, [DAVE]);
    const fork = room.group(ALICE).current();
    // Alice removes Carol; Bob and Dave commit on the same epoch: their branch, with two
    // committers, wins the base rule over Alice's, and it still has Carol.
    const removal = removalOf(room, ALICE, fork, CAROL);
    const b1 = room.commit(BOB);
    room.deliverAll(b1);
    const d1 = room.commit(DAVE);
    room.deliverAll(d1);
    room.deliverAll(removal);
    assert.equal(room.group(BOB).current().key, d1.eventId);
    const carolLeaf = room.group(BOB).epoch(d1.eventId)!.members.get(CAROL)!;
    const merge = { baseKey: d1.eventId, resolveKeys: [removal.eventId], add: [] };
    // Hostile: merging the removal while keeping Carol is refused by everyone who checks.
    const keep = room.commit(BOB, { ...merge, remove: [] });
    for (const id of [ALICE, DAVE]) assert.equal(codeOf(room.deliver(id, keep)), 'REMOVAL_UNDONE');
    room.group(BOB).discardCommit(keep.content as never);
    // On the losing branch instead: refused by the base rule, whatever it removes.
    const onLoser = room.commit(ALICE, {
      ...merge,
      baseKey: removal.eventId,
      resolveKeys: [d1.eventId],
      remove: [],
    });
    assert.equal(codeOf(room.deliver(DAVE, onLoser)), 'INVALID_RESOLVES');
    room.group(ALICE).discardCommit(onLoser.content as never);
    // Honest: the plan removes her, and she reads nothing after it.
    const plan = room.group(BOB).planResolution({ devices: [...EVERYONE, DAVE] });
    assert.ok(plan && plan !== 'wait' && plan.baseKey === d1.eventId);
    assert.deepEqual(plan.remove, [carolLeaf]);
    const resolved = room.resolve(BOB, [...EVERYONE, DAVE]);
    assert.equal(room.group(ALICE).current().key, resolved.eventId);
    const secret = room.say(ALICE, 'after the merge');
    assert.equal(bodyOf(room.deliver(CAROL, secret)), undefined);
    assert.equal(bodyOf(room.deliver(DAVE, secret)), 'after the merge');
  });

  test("a merge made on a removed device's branch cannot hide the group's tip", () => {
    const room = threeMembers();
    room.add(ALICE, [DAVE]);
    const before = room.group(CAROL).current();
    const removal = removalOf(room, ALICE, before, CAROL);
    // Carol keeps her state from before the removal and commits on it; Bob, colluding, takes
    // her branch in. Dave learns of it only past the fork window: he cannot process what is
    // made on it, and once could not tell a merge on it from a merge he must follow.
    const c1 = room.commit(CAROL);
    room.deliver(CAROL, c1);
    for (const id of [ALICE, BOB, DAVE]) room.deliver(id, removal);
    for (const id of [ALICE, BOB]) room.deliver(id, c1);
    room.now.value += 60 * 60 * 1000;
    room.group(DAVE).prune(room.now.value);
    room.deliver(DAVE, c1);
    assert.equal(room.group(DAVE).epoch(c1.eventId)?.held.kind, 'none');
    const removalRef = {
      event: removal.eventId,
      tag: fromHex(room.group(ALICE).epoch(removal.eventId)!.tag),
    };
    for (const by of [CAROL, BOB]) {
      const merge = room.forge(by, c1.eventId, { baseEvent: c1.eventId, resolves: [removalRef] });
      for (const id of [ALICE, DAVE]) {
        assert.equal(codeOf(room.deliver(id, merge)), 'INVALID_RESOLVES', `${id}, merge by ${by}`);
        assert.equal(room.group(id).current().key, removal.eventId, `${id} keeps its tip`);
      }
    }
    room.resolve(ALICE, [ALICE, BOB, DAVE]);
    stillWorks(room, [ALICE, BOB, DAVE]);
  });
});

describe('3. leaves match the devices their users published', () => {
  test("an Add in another device's name, or a second leaf of one device, is refused", () => {
    const room = threeMembers();
    room.keyPair(DAVE); // Dave published his key
    const base = room.group(BOB).current();
    const ghost = room.keyPackage(DAVE, 'attacker'); // Dave's name, a key the attacker owns
    const event = room.forge(
      BOB,
      base.key,
      { baseEvent: base.key, resolves: [] },
      { add: [ghost.keyPackage] },
    );
    for (const id of [ALICE, CAROL]) assert.equal(codeOf(room.deliver(id, event)), 'KEY_MISMATCH');
    // A second leaf for Alice: with a key of its own it is a mismatch; with Alice's real key
    // (a KeyPackage she made) the engine refuses the repeated signature key (RFC 9420 §7.3).
    const second = room.keyPackage(ALICE, 'attacker');
    const twice = room.forge(
      BOB,
      base.key,
      { baseEvent: base.key, resolves: [] },
      { add: [second.keyPackage] },
    );
    assert.equal(codeOf(room.deliver(CAROL, twice)), 'KEY_MISMATCH');
    assert.throws(
      () =>
        room.forge(
          BOB,
          base.key,
          { baseEvent: base.key, resolves: [] },
          { add: [room.keyPackage(ALICE).keyPackage] },
        ),
      { code: 'DUPLICATE_KEY' },
    );
    // The real Dave is still added, and joins.
    room.add(ALICE, [DAVE]);
    assert.ok(room.group(DAVE).current().members.has(DAVE));
    stillWorks(room, [ALICE, CAROL, DAVE]);
  });

  test('a leaf of a device nobody published is let in, and the next commit removes it', () => {
    // It cannot be told from a device that logged out after it was added: devices looking at
    // different moments must decide the commit alike, or the group splits.
    const room = threeMembers();
    const EVE = '@eve:test|E1';
    const nobody = room.keyPackage(EVE, 'attacker');
    room.published.delete(EVE);
    const base = room.group(BOB).current();
    const ghost = room.forge(
      BOB,
      base.key,
      { baseEvent: base.key, resolves: [], added: [EVE] },
      { add: [nobody.keyPackage] },
    );
    room.deliverAll(ghost, [BOB]); // Bob forged it outside his SDK: he cannot follow it
    assert.ok(room.group(CAROL).current().members.has(EVE));
    const removal = room.resolve(ALICE, [ALICE, BOB, CAROL]);
    for (const id of [ALICE, CAROL]) {
      const tip = room.group(id).current();
      assert.equal(tip.key, removal.eventId, id);
      assert.ok(!tip.members.has(EVE), id);
    }
    stillWorks(room, [ALICE, CAROL]);
  });

  test('a leaf of a device the application does not trust is refused UNTRUSTED_DEVICE, in an Add and in a Welcome', () => {
    const room = threeMembers();
    /** Alice adds `identity` on her tip, with a KeyPackage it made; posted, not delivered. */
    const aliceAdds = (identity: string) => {
      const bundle = room.keyPackage(identity);
      const made = room.group(ALICE).commit(
        {
          baseKey: room.group(ALICE).current().key,
          resolveKeys: [],
          remove: [],
          add: [identity],
        },
        new Map([[identity, bundle.keyPackage]]),
      );
      return { bundle, made, event: room.post(ALICE, made.content) };
    };
    room.untrustedBy.set(CAROL, new Set([DAVE])); // Dave's user did not sign him, for Carol
    const before = room.group(CAROL).epochs().length;
    const tipBefore = room.group(CAROL).current().key;
    const { event } = aliceAdds(DAVE);
    assert.equal(codeOf(room.deliver(CAROL, event)), 'UNTRUSTED_DEVICE');
    assert.equal(room.group(CAROL).epochs().length, before, 'nothing else changed');
    assert.equal(room.group(CAROL).current().key, tipBefore);
    room.deliver(ALICE, event);
    room.deliver(BOB, event);
    assert.ok(room.group(BOB).current().members.has(DAVE), 'Bob trusts Dave: accepted');

    // A device that does not trust Dave refuses a Welcome whose tree has him.
    const EVE = '@eve:test|E1';
    room.untrustedBy.set(EVE, new Set([DAVE]));
    const adding = aliceAdds(EVE);
    room.deliver(ALICE, adding.event);
    assert.throws(
      () =>
        DmlsGroup.fromWelcome({
          ...room.options(EVE),
          welcome: parseWelcome(adding.made.welcomeFor(adding.event.eventId)),
          bundle: adding.bundle,
        }),
      { code: 'UNTRUSTED_DEVICE' },
    );
  });

  test('a member that is no longer trusted is removed by the next resolution', () => {
    const room = threeMembers();
    room.add(ALICE, [DAVE]);
    room.untrustedBy.set(ALICE, new Set([DAVE])); // e.g. his user's master key changed
    const plan = room.group(ALICE).planResolution({ devices: [ALICE, BOB, CAROL, DAVE] });
    assert.ok(plan && plan !== 'wait', 'a resolution is due');
    const daveLeaf = room.group(ALICE).current().members.get(DAVE);
    assert.deepEqual(plan.remove, [daveLeaf]);
    assert.deepEqual(plan.add, []);
  });

  test('a leaf of a device whose keys are not known yet waits for them', () => {
    const room = threeMembers();
    const group = room.group(CAROL);
    room.unknownTo.set(CAROL, new Set([DAVE])); // Carol's directory has not fetched Dave yet
    const event = room.add(ALICE, [DAVE]);
    const r = group.receive(event, room.now.value);
    assert.ok(r.length === 0 || r.every((x) => x.kind !== 'commit'));
    assert.deepEqual(group.missingDevices(), [DAVE]);
    room.unknownTo.delete(CAROL); // fetched
    const retried: Received[] = group.retry(room.now.value);
    assert.ok(retried.some((x) => x.kind === 'commit'));
  });
});

describe('4. post-compromise security across forks', () => {
  test('the device whose update lost makes the merge: its old key is not encrypted to', () => {
    const room = threeMembers();
    const fork = room.group(ALICE).current();
    const fromAlice = room.commit(ALICE);
    const fromBob = room.commit(BOB);
    for (const id of EVERYONE) for (const e of [fromAlice, fromBob]) room.deliver(id, e);
    const base = room.group(CAROL).current();
    const loser = base.key === fromAlice.eventId ? BOB : ALICE;
    const oldKey = toHex(leafKey(room, loser, fork.key));
    const plans = EVERYONE.map((id) => room.group(id).planResolution({ devices: EVERYONE }));
    const first = EVERYONE[plans.findIndex((p) => p && p !== 'wait' && p.rank === 0)];
    assert.equal(first, loser, 'the device whose update lost ranks first');
    const merge = room.resolve(loser, EVERYONE);
    const merged = room.group(CAROL).current();
    assert.equal(merged.key, merge.eventId);
    assert.notEqual(toHex(leafKey(room, CAROL, merged.key, loser)), oldKey);
    assert.equal(new Set(EVERYONE.map((id) => exporter(room, id))).size, 1);
    for (const id of EVERYONE) {
      assert.equal(room.group(id).planResolution({ devices: EVERYONE }), undefined, id);
    }
  });
});

/** The HPKE public key of `whose` leaf in `viewer`'s state of epoch `key`. */
function leafKey(room: TestRoom, viewer: string, key: string, whose = viewer): Uint8Array {
  const state = room.state(viewer, key);
  return state.tree.leaf(room.group(viewer).epoch(key)!.members.get(whose)!)!.encryptionKey;
}

describe('5. stranded members come back', () => {
  test('a device offline past the fork window asks to rejoin and is added again', () => {
    const room = threeMembers();
    const fromCarol = room.commit(CAROL); // Carol commits, then loses the network
    room.deliver(CAROL, fromCarol);
    const fromAlice = room.commit(ALICE);
    room.deliverAll(fromAlice, [CAROL]);
    room.deliver(ALICE, fromCarol);
    room.deliver(BOB, fromCarol);
    room.resolve(room.group(ALICE).planResolution({ devices: EVERYONE }) ? ALICE : BOB, EVERYONE);
    room.now.value += 60 * 60 * 1000; // an hour: past the fork window
    room.group(CAROL).prune(room.now.value);
    for (const e of room.events.slice(-2)) room.deliver(CAROL, e);
    room.deliver(CAROL, fromAlice);
    assert.ok(room.group(CAROL).needsRejoin, 'Carol knows she cannot follow');
    const fresh = room.keyPackage(CAROL);
    const rejoins = new Map([[CAROL, fresh.keyPackage]]);
    const resolver = [ALICE, BOB].find((id) => {
      const p = room.group(id).planResolution({ devices: EVERYONE, rejoins });
      return p && p !== 'wait' && p.rank === 0;
    })!;
    const plan = room.group(resolver).planResolution({ devices: EVERYONE, rejoins });
    assert.ok(plan && plan !== 'wait' && plan.add.includes(CAROL) && plan.remove.length === 1);
    const made = room.group(resolver).commit(plan, rejoins);
    const event = room.post(resolver, made.content);
    room.deliverAll(event);
    const said = room.say(BOB, 'welcome back');
    // Not a member of that epoch yet: refused for now, and kept for a Welcome.
    assert.equal(codeOf(room.deliver(CAROL, said)), 'NOT_A_MEMBER');
    const r = room
      .group(CAROL)
      .addWelcome(parseWelcome(made.welcomeFor(event.eventId)), fresh, room.now.value);
    assert.equal(bodyOf(r), 'welcome back', 'what waited for the Welcome is read');
    assert.ok(!room.group(CAROL).needsRejoin);
    assert.equal(room.group(CAROL).current().key, event.eventId);
    stillWorks(room, EVERYONE);
  });

  test('a device that lost its own sent commit asks to rejoin, and does not fork off', () => {
    const room = threeMembers();
    const before = room.group(CAROL).current().key;
    // Carol's commit reaches the room, but she loses it (a crash between sending and saving).
    const lost = room.commit(CAROL);
    room.group(CAROL).discardCommit(lost.content as Parameters<DmlsGroup['discardCommit']>[0]);
    room.deliverAll(lost, [CAROL]);
    for (let i = 0; i < 2; i++) {
      assert.equal(codeOf(room.deliver(CAROL, lost)), 'OWN_COMMIT_LOST', `delivery ${i + 1}`);
    }
    const carol = room.group(CAROL);
    // She cannot check it: until another member builds on it, her tip stays hers.
    assert.equal(carol.current().key, before);
    assert.ok(!carol.needsRejoin);
    assert.deepEqual(carol.missing(), []);
    // Alice builds on it: it was valid for the others, and Carol cannot follow.
    const next = room.commit(ALICE);
    room.deliverAll(next);
    assert.ok(carol.needsRejoin, 'Carol knows she cannot follow');
    assert.equal(carol.epoch(lost.eventId)?.held.kind, 'none', 'the epoch is placed, not refused');
    assert.equal(carol.epoch(next.eventId)?.held.kind, 'none', 'what builds on it is parked');
    // The epoch she lost supersedes the one she holds: she has nothing to send in or commit on.
    assert.ok(!carol.tips().some((t) => t.key === before));
    assert.throws(() => carol.current(), { code: 'NOT_READY' });
    assert.equal(carol.planResolution({ devices: EVERYONE }), 'wait');

    const fresh = room.keyPackage(CAROL);
    const rejoins = new Map([[CAROL, fresh.keyPackage]]);
    const plan = room.group(ALICE).planResolution({ devices: EVERYONE, rejoins });
    assert.ok(plan && plan !== 'wait' && plan.add.includes(CAROL) && plan.remove.length === 1);
    const made = room.group(ALICE).commit(plan, rejoins);
    const event = room.post(ALICE, made.content);
    room.deliverAll(event);
    carol.addWelcome(parseWelcome(made.welcomeFor(event.eventId)), fresh, room.now.value);
    assert.ok(!carol.needsRejoin);
    stillWorks(room, EVERYONE);
  });

  test('a lost own commit that comes after what builds on it is placed all the same', () => {
    const room = threeMembers();
    const lost = room.commit(CAROL);
    room.group(CAROL).discardCommit(lost.content as Parameters<DmlsGroup['discardCommit']>[0]);
    room.deliverAll(lost, [CAROL]);
    const next = room.commit(ALICE);
    room.deliverAll(next, [CAROL]);
    const carol = room.group(CAROL);
    assert.equal(room.deliver(CAROL, next)[0]?.kind, 'queued', 'it waits for its base');
    assert.deepEqual(carol.missing(), [lost.eventId]);
    const results = room.deliver(CAROL, lost);
    assert.equal(codeOf(results), 'OWN_COMMIT_LOST');
    assert.equal(carol.epoch(next.eventId)?.held.kind, 'none', 'what waited is parked now');
    assert.ok(carol.needsRejoin);
    assert.deepEqual(carol.missing(), []);
  });

  test('a commit in its own name that nobody takes in leaves a device where it was', () => {
    const room = threeMembers();
    const before = room.group(BOB).current().key;
    // Made with Bob's key outside his client, adding a leaf for Dave (who published his own
    // key) signed with another, which the others refuse.
    room.keyPair(DAVE);
    const forged = room.forge(
      BOB,
      before,
      { baseEvent: before, resolves: [], added: [DAVE] },
      { add: [room.keyPackage(DAVE, '@someone:test|S1').keyPackage] },
    );
    room.deliverAll(forged, [BOB]);
    assert.equal(codeOf(room.deliver(BOB, forged)), 'OWN_COMMIT_LOST');
    for (const id of [ALICE, CAROL]) assert.equal(codeOf(room.deliver(id, forged)), 'KEY_MISMATCH');
    assert.deepEqual(
      room
        .group(BOB)
        .tips()
        .map((t) => t.key),
      [before],
    );
    assert.ok(!room.group(BOB).needsRejoin);
    stillWorks(room, EVERYONE);
  });
});

describe('6. nothing is lost to delivery order', () => {
  test('a device added on two concurrent branches reads both, whatever comes first', () => {
    const room = threeMembers();
    const daveA = room.keyPackage(DAVE);
    const daveB = room.keyPackage(DAVE);
    const base = room.group(ALICE).current().key;
    const byAlice = room
      .group(ALICE)
      .commit(
        { baseKey: base, resolveKeys: [], remove: [], add: [DAVE] },
        new Map([[DAVE, daveA.keyPackage]]),
      );
    const byBob = room
      .group(BOB)
      .commit(
        { baseKey: base, resolveKeys: [], remove: [], add: [DAVE] },
        new Map([[DAVE, daveB.keyPackage]]),
      );
    const eA = room.post(ALICE, byAlice.content);
    const eB = room.post(BOB, byBob.content);
    // Bob speaks and commits on his own branch before he sees Alice's.
    room.deliver(BOB, eB);
    const onB = room.say(BOB, 'on B');
    const onB2 = room.commit(BOB);
    room.deliver(BOB, onB2);
    const afterB2 = room.say(BOB, 'after B2');
    room.deliverAll(eA);
    // Dave joins on Alice's branch first; Bob's branch reaches him before its Welcome.
    room.groups.set(
      DAVE,
      DmlsGroup.fromWelcome({
        ...room.options(DAVE),
        welcome: parseWelcome(byAlice.welcomeFor(eA.eventId)),
        bundle: daveA,
      }),
    );
    for (const e of [eB, onB, onB2, afterB2]) room.deliver(DAVE, e);
    const r = room
      .group(DAVE)
      .addWelcome(parseWelcome(byBob.welcomeFor(eB.eventId)), daveB, room.now.value);
    const bodies = r.filter((x) => x.kind === 'message').map((x) => bodyOf([x]));
    assert.deepEqual(bodies.sort(), ['after B2', 'on B']);
    assert.ok(r.some((x) => x.kind === 'commit' && x.eventId === onB2.eventId));
  });
});

describe('7. every device decides a merge alike', () => {
  test('the device changes a commit signs must be its proposals', () => {
    const room = threeMembers();
    const base = room.group(BOB).current();
    const carol = base.members.get(CAROL)!;
    // Removes Carol, signs that it removes nobody; signs that it removes Carol, removes nobody.
    const hidden = room.forge(
      BOB,
      base.key,
      { baseEvent: base.key, resolves: [] },
      {
        remove: [carol],
      },
    );
    const claimed = room.forge(BOB, base.key, {
      baseEvent: base.key,
      resolves: [],
      removed: [CAROL],
    });
    for (const event of [hidden, claimed]) {
      assert.equal(codeOf(room.deliver(ALICE, event)), 'INVALID_METADATA');
    }
    assert.equal(room.group(ALICE).current().key, base.key);
  });

  test('a device that never held the resolved branch refuses a merge undoing its removal', () => {
    const ERIN = '@erin:test|E1';
    const room = threeMembers();
    room.add(ALICE, [DAVE]);
    const fork = room.group(ALICE).current();
    // Alice updates while Bob removes Dave: two branches, Y and X.
    const y = room.commit(ALICE);
    const x = removalOf(room, BOB, fork, DAVE);
    room.deliverAll(x);
    room.deliverAll(y);
    // Erin is added on Y only: X is from before she joined, and she cannot decrypt it.
    const erin = room.keyPackage(ERIN);
    const made = room
      .group(ALICE)
      .commit(
        { baseKey: y.eventId, resolveKeys: [], remove: [], add: [ERIN] },
        new Map([[ERIN, erin.keyPackage]]),
      );
    const onY = room.post(ALICE, made.content);
    room.deliverAll(onY);
    const welcome = parseWelcome(made.welcomeFor(onY.eventId)!);
    room.groups.set(ERIN, DmlsGroup.fromWelcome({ ...room.options(ERIN), welcome, bundle: erin }));
    room.deliver(ERIN, x);
    assert.equal(room.group(ERIN).epoch(x.eventId)?.held.kind, 'none');

    // Carol commits on Y too, so that Y, with two committers, is the base the rule picks.
    const onY2 = room.commit(CAROL, { baseKey: onY.eventId, resolveKeys: [], remove: [] });
    room.deliverAll(onY2);
    // A merge on Y that resolves X and keeps Dave, whom X removed.
    const xTag = fromHex(room.group(ALICE).epoch(x.eventId)!.tag);
    const merge = room.forge(ALICE, onY2.eventId, {
      baseEvent: onY2.eventId,
      resolves: [{ event: x.eventId, tag: xTag }],
    });
    assert.equal(codeOf(room.deliver(CAROL, merge)), 'REMOVAL_UNDONE');
    // Erin first fetches the history she lacks (as a client backfills `missing()`), then decides.
    const group = room.group(ERIN);
    const results: Received[] = [...group.receive(merge, room.now.value)];
    for (let round = 0; round < 20 && group.missing().length > 0; round++) {
      for (const id of group.missing()) {
        const event = room.events.find((e) => e.eventId === id);
        if (event) results.push(...group.receive(event, room.now.value));
      }
    }
    const verdict = results.filter((r) => r.eventId === merge.eventId).at(-1);
    assert.equal(verdict?.kind, 'failed', JSON.stringify(verdict));
    assert.equal(verdict.kind === 'failed' && verdict.code, 'REMOVAL_UNDONE');
  });
});
