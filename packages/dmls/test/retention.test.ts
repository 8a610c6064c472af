/**
 * Retention deletes what it says (docs/dmls.md, "Retention"): each secret of a superseded epoch
 * is searched for, at each phase, in the live group object and in its snapshot.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toHex } from '@trellis/mls';
import { epochReaderHoldings } from '../../mls/src/group/epochReader.js';
import { findBytes } from '../../mls/test/support/bytesIn.js';
import { DEFAULT_RETENTION } from '../src/index.js';
import { ALICE, BOB, bodyOf, CAROL, threeMembers } from './support/room.js';

test('a superseded epoch keeps its state, then other members’ message keys, then nothing', () => {
  const room = threeMembers();
  const carol = room.group(CAROL);
  const old = carol.current();
  const state = room.state(CAROL, old.key);
  const late = room.say(ALICE, 'late'); // read inside the message window
  const own = room.say(CAROL, 'mine'); // Carol's own sending ratchet moved on
  room.deliver(CAROL, own);
  room.deliverAll(room.commit(BOB));
  assert.notEqual(carol.current().key, old.key);

  const epochOnly = {
    initSecret: state.secrets.initSecret,
    exporterSecret: state.secrets.exporterSecret,
    externalSecret: state.secrets.externalSecret,
    confirmationKey: state.secrets.confirmationKey,
    membershipKey: state.secrets.membershipKey,
    resumptionPsk: state.secrets.resumptionPsk,
    encryptionSecret: state.secrets.encryptionSecret,
  };
  const messageKeys = { senderDataSecret: state.secrets.senderDataSecret };
  // What a reader holds sits behind a WeakMap, out of reflection's reach: search it too.
  const live = () => [
    carol,
    ...carol
      .epochs()
      .map((n) => (n.held.kind === 'messages' ? epochReaderHoldings(n.held.reader) : undefined)),
  ];
  const everywhere = (secret: Uint8Array) => {
    const snapshot = JSON.stringify(carol.snapshot());
    const hex = Buffer.from(secret).toString('base64').replace(/=+$/, '');
    return (
      findBytes(live(), secret) ??
      (snapshot.includes(hex) ? 'snapshot (base64)' : undefined) ??
      (snapshot.includes(toHex(secret)) ? 'snapshot (hex)' : undefined)
    );
  };
  // The state keeps no resumption PSK of past epochs: nothing outlives its epoch through a
  // later state.
  assert.deepEqual(room.state(CAROL, carol.current().key).pastResumptionPsks, []);

  room.now.value += DEFAULT_RETENTION.forkWindowMs + 1;
  carol.prune(room.now.value);
  assert.equal(carol.epoch(old.key)!.held.kind, 'messages');
  for (const [name, secret] of Object.entries(epochOnly)) {
    assert.equal(everywhere(secret), undefined, `${name} is gone after the fork window`);
  }
  assert.notEqual(findBytes(live(), messageKeys.senderDataSecret), undefined, 'positive control');
  assert.equal(bodyOf(room.deliver(CAROL, late)), 'late');

  room.now.value += DEFAULT_RETENTION.messageWindowMs + 1;
  carol.prune(room.now.value);
  assert.equal(carol.epoch(old.key)!.held.kind, 'none');
  for (const [name, secret] of Object.entries({ ...epochOnly, ...messageKeys })) {
    assert.equal(everywhere(secret), undefined, `${name} is gone after the message window`);
  }
});
