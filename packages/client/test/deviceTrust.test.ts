/**
 * The trust policy's decisions (deviceTrust.ts), device by device: strict and tofu on unsigned
 * devices, the master key pinned on first sight, and a verified user's key change holding back
 * new devices until the local user accepts it, while devices trusted before stay trusted.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DeviceSignatureCheck } from '../src/crossSigning.js';
import { DeviceTrust, type TrustPolicy } from '../src/deviceTrust.js';
import { Emitter, type ClientEvents } from '../src/events.js';
import { MemoryStore } from '../src/store.js';

const BOB = '@bob:test';
const signedUnder = (masterKey: string): DeviceSignatureCheck => ({
  signed: true,
  masterKey,
  selfSigningKey: `ssk of ${masterKey}`,
});
const unsigned: DeviceSignatureCheck = {
  signed: false,
  fault: 'DEVICE_NOT_SIGNED',
  message: "@bob:test's device B9 is not signed by its user",
};

function trust(policy: TrustPolicy, store = new MemoryStore()) {
  const changes: ClientEvents['masterKeyChanged'][] = [];
  const events = new Emitter<ClientEvents>(() => undefined);
  events.on('masterKeyChanged', (e) => changes.push(e));
  return { t: new DeviceTrust(store, policy, events, '@alice:test|A1'), changes, store };
}

test('strict refuses an unsigned device, tofu trusts it unsigned; both trust a signed one', () => {
  for (const policy of ['strict', 'tofu'] as const) {
    const { t } = trust(policy);
    t.observeMaster(BOB, 'M1');
    assert.deepEqual(t.judge(BOB, `${BOB}|B1`, signedUnder('M1')), { trusted: true, signed: true });
    const verdict = t.judge(BOB, `${BOB}|B9`, unsigned);
    if (policy === 'strict') {
      assert.deepEqual(verdict, { trusted: false, reason: 'UNSIGNED', message: unsigned.message });
    } else {
      assert.deepEqual(verdict, { trusted: true, signed: false });
    }
  }
  // This device itself is trusted whatever its keys show.
  assert.equal(trust('strict').t.judge('@alice:test', '@alice:test|A1', unsigned).trusted, true);
});

test("a verified user's new master key holds back new devices until accepted; old ones stay", () => {
  const { t, changes, store } = trust('strict');
  t.observeMaster(BOB, 'M1');
  assert.equal(t.judge(BOB, `${BOB}|B1`, signedUnder('M1')).trusted, true);
  t.markVerified(BOB, 'M1');

  t.observeMaster(BOB, 'M2'); // the server now publishes another master key
  assert.deepEqual(changes, [{ userId: BOB, masterKey: 'M2', verified: true }]);
  const held = t.judge(BOB, `${BOB}|B2`, signedUnder('M2'));
  assert.equal(held.trusted, false);
  assert.equal(!held.trusted && held.reason, 'MASTER_KEY_CHANGED');
  // B1, trusted under M1, stays trusted although the published keys no longer chain to M1.
  assert.deepEqual(t.judge(BOB, `${BOB}|B1`, unsigned), { trusted: true, signed: true });
  assert.equal(t.verifiedMasterKey(BOB), 'M1');

  // The decision survives a restart (the store), and accepting lets the new devices in.
  const again = new DeviceTrust(store, 'strict', new Emitter<ClientEvents>(() => undefined), 'x');
  assert.equal(again.judge(BOB, `${BOB}|B2`, signedUnder('M2')).trusted, false);
  assert.equal(again.acceptMasterKey(BOB), true);
  assert.deepEqual(again.judge(BOB, `${BOB}|B2`, signedUnder('M2')), {
    trusted: true,
    signed: true,
  });
  assert.equal(again.verifiedMasterKey(BOB), undefined, 'the new key is not verified');
  assert.equal(again.acceptMasterKey(BOB), false, 'nothing left to accept');
});

test("an unverified user's new master key is pinned in its place, with a warning", () => {
  const { t, changes } = trust('strict');
  t.observeMaster(BOB, 'M1');
  t.observeMaster(BOB, 'M2');
  assert.deepEqual(changes, [{ userId: BOB, masterKey: 'M2', verified: false }]);
  assert.equal(t.judge(BOB, `${BOB}|B2`, signedUnder('M2')).trusted, true);
  t.observeMaster(BOB, 'M2');
  assert.equal(changes.length, 1, 'told once');
});
