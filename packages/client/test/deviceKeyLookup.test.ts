/**
 * The keys dMLS checks leaves against. A device that logged out must be judged like one its
 * user never published: otherwise a ghost leaf in its name is refused by devices that pinned
 * its key and let in by devices that never saw it, and the two sides' graphs split
 * (simulation seeds 241, 370, 422).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cipherSuite, nodeCrypto } from '@trellis/mls';
import { DeviceKeyLookup } from '../src/deviceKeyLookup.js';
import { DeviceDirectory, deviceKeys } from '../src/devices.js';
import type { MatrixHttp } from '../src/http.js';
import type { Json } from '../src/json.js';
import { MemoryStore } from '../src/store.js';

const suite = cipherSuite(1, nodeCrypto);
const BOB = '@bob:test';

function bobDevice(deviceId: string) {
  return { userId: BOB, deviceId, suite, signatureKeyPair: suite.signature.generateKeyPair() };
}

/** A directory whose `/keys/query` answers with Bob's devices as `listed` holds them. */
function setUp() {
  const listed = new Map<string, Json>();
  const http = {
    queryKeys: async () => ({ [BOB]: Object.fromEntries(listed) }),
  } as unknown as MatrixHttp;
  const changed: string[] = [];
  const directory = new DeviceDirectory(new MemoryStore(), http, suite, (id) => changed.push(id));
  const lookup = new DeviceKeyLookup(directory);
  const refresh = async () => {
    directory.markDirty([BOB]);
    await directory.refreshDue();
  };
  return { listed, directory, lookup, refresh, changed };
}

test('a published device answers its pinned key; once it logs out, null like one never seen', async () => {
  const { listed, lookup, refresh } = setUp();
  const b1 = bobDevice('B1');
  listed.set('B1', deviceKeys(b1));

  assert.equal(lookup.lookup(`${BOB}|B1`), undefined, 'unknown at first: to be fetched');
  await refresh();
  assert.deepEqual(lookup.lookup(`${BOB}|B1`), b1.signatureKeyPair.publicKey);

  listed.delete('B1');
  await refresh();
  assert.equal(lookup.lookup(`${BOB}|B1`), null, 'logged out: judged as unpublished');

  // A device never seen, asked about after the same answer, gets the same verdict.
  assert.equal(lookup.lookup(`${BOB}|B9`), undefined);
  await refresh();
  assert.equal(lookup.lookup(`${BOB}|B9`), null);
});

test('a device listed again under another key keeps its pinned key, so a ghost stays refused', async () => {
  const { listed, lookup, refresh, changed } = setUp();
  const b1 = bobDevice('B1');
  listed.set('B1', deviceKeys(b1));
  lookup.lookup(`${BOB}|B1`);
  await refresh();

  // The server swaps the device's key (a malicious or confused homeserver).
  listed.set('B1', deviceKeys({ ...b1, signatureKeyPair: suite.signature.generateKeyPair() }));
  await refresh();
  assert.deepEqual(changed, [`${BOB}|B1`]);
  assert.deepEqual(lookup.lookup(`${BOB}|B1`), b1.signatureKeyPair.publicKey);
});
