import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { backoffMs, DEFAULT_RETENTION, DmlsGroup, parseRoomEvent } from '../src/index.js';
import { ALICE, BOB, bodyOf, CAROL, threeMembers } from './support/room.js';

describe('a decentralised group', () => {
  test('members talk; a device reads its own echo; repeats are duplicates', () => {
    const room = threeMembers();
    const hello = room.say(ALICE, 'hello');
    assert.equal(bodyOf(room.deliver(BOB, hello)), 'hello');
    assert.equal(bodyOf(room.deliver(ALICE, hello)), 'hello', 'own echo');
    assert.deepEqual(room.deliver(BOB, hello), [{ kind: 'duplicate', eventId: hello.eventId }]);
  });

  test('two commits on one epoch fork it; both branches are read; one resolution merges them', () => {
    const room = threeMembers();
    const fromAlice = room.commit(ALICE);
    const fromBob = room.commit(BOB);
    // Each committer first sees only its own commit, and speaks on its own branch.
    room.deliver(ALICE, fromAlice);
    room.deliver(BOB, fromBob);
    const onAlice = room.say(ALICE, 'on A');
    const onBob = room.say(BOB, 'on B');
    // Then everything reaches everyone, in different orders.
    room.deliver(ALICE, fromBob);
    room.deliver(BOB, fromAlice);
    room.deliver(CAROL, fromBob);
    room.deliver(CAROL, fromAlice);
    const views = [ALICE, BOB, CAROL].map((id) => room.groups.get(id)!);
    for (const g of views) assert.equal(g.tips().length, 2);
    assert.equal(new Set(views.map((g) => g.current().key)).size, 1, 'one base for all');
    assert.equal(bodyOf(room.deliver(CAROL, onAlice)), 'on A');
    assert.equal(bodyOf(room.deliver(CAROL, onBob)), 'on B');
    assert.equal(bodyOf(room.deliver(ALICE, onBob)), 'on B');
    assert.equal(bodyOf(room.deliver(BOB, onAlice)), 'on A');

    const plans = [ALICE, BOB, CAROL].map((id) =>
      room.group(id).planResolution({ devices: [ALICE, BOB, CAROL] }),
    );
    for (const p of plans) assert.ok(p && p !== 'wait' && p.resolves.length === 1);
    const first = [ALICE, BOB, CAROL][plans.findIndex((p) => p !== 'wait' && p?.rank === 0)]!;
    room.deliverAll(
      room.commit(
        first,
        room.group(first).planResolution({ devices: [ALICE, BOB, CAROL] }) as never,
      ),
    );
    const tips = new Set(
      views.map((g) =>
        g
          .tips()
          .map((t) => t.key)
          .join(),
      ),
    );
    assert.equal(tips.size, 1);
    assert.equal(views[0]!.tips().length, 1);
  });

  test('resolutions that cross widen the back-off, round after round, for every device alike', () => {
    const room = threeMembers();
    const everyone = [ALICE, BOB, CAROL];
    /** Alice and Bob each commit (a merge, once there is a fork) before seeing the other's. */
    const cross = () => {
      const made = [ALICE, BOB].map((id) => {
        const plan = room.group(id).planResolution({ devices: everyone });
        return room.commit(id, plan && plan !== 'wait' ? plan : undefined);
      });
      for (const event of made) room.deliverAll(event);
    };
    const crossed = () =>
      everyone.map((id) => {
        const plan = room.group(id).planResolution({ devices: everyone });
        assert.ok(plan && plan !== 'wait', `${id} has a merge to make`);
        return plan.crossed;
      });
    cross(); // two key updates: a fork, not yet a crossing of merges
    assert.deepEqual(crossed(), [0, 0, 0]);
    cross(); // both merge it at once
    assert.deepEqual(crossed(), [1, 1, 1]);
    cross(); // and again
    assert.deepEqual(crossed(), [2, 2, 2]);
    assert.equal(backoffMs(3, 500, 2), 3 * 500 * 4);
    assert.equal(backoffMs(3, 500, 40), 3 * 500 * 16, 'the doubling stops');
    room.resolve(CAROL, everyone);
    assert.equal(room.group(ALICE).planResolution({ devices: everyone }), undefined);
  });

  test('a message whose epoch is unknown waits, names the commit to fetch, and is read after', () => {
    const room = threeMembers();
    const commit = room.commit(ALICE);
    room.deliver(ALICE, commit);
    const later = room.say(ALICE, 'after the commit');
    const queued = room.deliver(CAROL, later);
    assert.deepEqual(queued, [
      { kind: 'queued', eventId: later.eventId, missing: [commit.eventId], devices: [] },
    ]);
    assert.deepEqual(room.groups.get(CAROL)!.missing(), [commit.eventId]);
    const results = room.deliver(CAROL, commit);
    assert.equal(results[0]!.kind, 'commit');
    assert.equal(bodyOf(results), 'after the commit');
  });

  test('a sender who is not who the event says is refused', () => {
    const room = threeMembers();
    const hello = room.say(ALICE, 'hello');
    const forged = { ...hello, sender: '@bob:test' };
    assert.equal(room.deliver(CAROL, forged)[0]!.kind, 'failed');
    const content = { ...(hello.content as object), sender: ['@alice:test', 'OTHER'] };
    const r = room.deliver(CAROL, { ...hello, eventId: '$x', content })[0]!;
    assert.equal(r.kind === 'failed' && r.code, 'SENDER_MISMATCH');
    const bad = room.deliver(CAROL, { ...hello, eventId: '$y', content: { ciphertext: 1 } })[0]!;
    assert.equal(bad.kind === 'failed' && bad.code, 'MALFORMED_EVENT');
  });

  test('an update lost on a losing branch is made up', () => {
    const room = threeMembers();
    const fromAlice = room.commit(ALICE);
    const fromBob = room.commit(BOB);
    for (const id of [ALICE, BOB, CAROL]) for (const e of [fromAlice, fromBob]) room.deliver(id, e);
    const base = room.groups.get(CAROL)!.current();
    const loser = base.id.creator === ALICE ? BOB : ALICE;
    const resolver = base.id.creator;
    const plan = room.group(resolver).planResolution({ devices: [ALICE, BOB, CAROL] });
    room.deliverAll(room.commit(resolver, plan as never));
    const after = room.group(loser).planResolution({ devices: [ALICE, BOB, CAROL] });
    assert.ok(after && after !== 'wait' && after.selfUpdate, 'the loser updates again');
    assert.equal(room.group(resolver).planResolution({ devices: [ALICE, BOB, CAROL] }), undefined);
  });
});

describe('retention and persistence', () => {
  test('a superseded epoch keeps its state, then its message keys, then nothing', () => {
    const room = threeMembers();
    const carol = room.groups.get(CAROL)!;
    const early = room.say(ALICE, 'early');
    const late = room.say(ALICE, 'late');
    const lateCommit = room.commit(BOB); // concurrent with Alice's next commit
    const commit = room.commit(ALICE);
    room.deliver(CAROL, early);
    room.deliver(CAROL, commit);
    const old = carol.epoch(parseRoomEvent(early.content).commitEvent)!;
    assert.equal(old.held.kind, 'full');

    room.now.value += DEFAULT_RETENTION.forkWindowMs + 1;
    const changed = carol.prune(room.now.value);
    assert.deepEqual(
      changed.map((n) => n.key),
      [old.key],
    );
    assert.equal(carol.epoch(old.key)!.held.kind, 'messages');
    const tooLate = room.deliver(CAROL, lateCommit)[0]!;
    assert.equal(tooLate.kind === 'failed' && tooLate.code, 'EPOCH_EXPIRED');
    assert.equal(bodyOf(room.deliver(CAROL, late)), 'late', 'message keys still there');

    const snapshot = carol.snapshot();
    const record = snapshot.epochs.find((e) => e.key === old.key)!;
    assert.equal(record.held, 'messages');

    room.now.value += DEFAULT_RETENTION.messageWindowMs + 1;
    carol.prune(room.now.value);
    assert.equal(carol.epoch(old.key)!.held.kind, 'none');
    const gone = carol.snapshot().epochs.find((e) => e.key === old.key)!;
    assert.equal(gone.held, 'none');
    assert.equal(gone.secrets, undefined, 'nothing of its secrets is stored');
    const another = room.say(BOB, 'never read');
    // Bob's state is still in the old epoch (he has not seen Alice's commit).
    const r = room.deliver(CAROL, another)[0]!;
    assert.equal(r.kind === 'failed' && r.code, 'EPOCH_EXPIRED');
  });

  test('a snapshot restores a group that reads on', () => {
    const room = threeMembers();
    room.deliverAll(room.commit(BOB));
    const carol = room.groups.get(CAROL)!;
    const restored = DmlsGroup.restore(
      room.options(CAROL),
      JSON.parse(JSON.stringify(carol.snapshot())),
    );
    assert.equal(restored.current().key, carol.current().key);
    const hello = room.say(ALICE, 'after restore');
    assert.equal(bodyOf(restored.receive(hello, room.now.value)), 'after restore');
  });

  test('a snapshot keeps what the device must not ask for again', () => {
    const room = threeMembers();
    const carol = room.groups.get(CAROL)!;
    // A message of an epoch Carol has not seen: she asks for its commit, which the room withholds.
    const unseen = room.commit(BOB);
    room.deliver(BOB, unseen);
    room.deliver(CAROL, room.say(BOB, 'in an epoch Carol lacks'));
    assert.deepEqual(carol.missing(), [unseen.eventId]);
    carol.unavailable(unseen.eventId);
    const restored = DmlsGroup.restore(
      room.options(CAROL),
      JSON.parse(JSON.stringify(carol.snapshot())),
    );
    assert.deepEqual(restored.missing(), [], 'not asked for again after a restart');
    assert.equal(restored.queuedCount, 1, 'the message still waits');
  });
});
