/**
 * Cross-signing and secret storage of the client against the real Trellis server over HTTP:
 * setting up the keys (what another user sees, checked with @trellis/matrix), a second device
 * that is given the recovery key (or the passphrase) becoming signed by its user while the
 * backup restore goes on working, a wrong recovery key refused with nothing changed, the
 * secret storage read by matrix-js-sdk, replacing the keys (password UIA) and signing another
 * device, and the refusals of the signed-by-its-user check.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { parseSessionId } from '@trellis/backup';
import {
  CROSS_SIGNING_SECRET_NAMES,
  DEFAULT_KEY_TYPE,
  KEY_DESCRIPTION_PREFIX,
  MatrixError,
  decodeBase64,
  ed25519KeyPairFromSeed,
  encodeRecoveryKey,
  encodeUnpaddedBase64,
  generateEd25519KeyPair,
  parseCrossSigningKey,
  signJson,
  verifyDeviceKeys,
  verifySelfSigningKey,
  verifyUserSigningKey,
} from '@trellis/matrix';
import { deriveRecoveryKeyFromPassphrase } from 'matrix-js-sdk/lib/crypto-api/key-passphrase.js';
import { decodeRecoveryKey as sdkDecodeRecoveryKey } from 'matrix-js-sdk/lib/crypto-api/recovery-key.js';
import {
  ServerSideSecretStorageImpl,
  type AccountDataClient,
  type SecretStorageKeyDescriptionAesV1,
} from 'matrix-js-sdk/lib/secret-storage.js';
import { checkDeviceSignature, ClientError, type KeysQueryAnswer } from '../src/index.js';
import {
  checkPublishedKeys,
  crossSigningUpload,
  newCrossSigningKeys,
  uploadOwnSignature,
} from '../src/crossSigning.js';
import type { MatrixHttp } from '../src/http.js';
import { startServer, type TestServer } from './helpers/server.js';
import { converged, Devices, login, register, until, type Device } from './helpers/clients.js';

const PASSPHRASE = 'correct horse battery staple';
const SECRET_NAMES = Object.values(CROSS_SIGNING_SECRET_NAMES);
/** Every account-data type secret storage uses, for before/after comparisons. */
const accountDataTypes = (keyId: string) => [
  DEFAULT_KEY_TYPE,
  KEY_DESCRIPTION_PREFIX + keyId,
  ...SECRET_NAMES,
];

type Json = Record<string, any>;

/** The raw `/keys/query` answer `device` gets for `users` (not through the code under test). */
async function rawQuery(device: Device, users: string[]): Promise<Json> {
  return device.client.http.request('POST', '/keys/query', {
    body: { device_keys: Object.fromEntries(users.map((u) => [u, []])) },
  });
}

/**
 * Checks with @trellis/matrix alone that, in `answer`, the device is signed by the self-signing
 * key that `userId`'s master key signed; returns the master key id.
 */
function assertSignedByUser(answer: Json, userId: string, deviceId: string): string {
  const master = parseCrossSigningKey(answer.master_keys[userId], userId, 'master');
  const selfSigning = parseCrossSigningKey(
    answer.self_signing_keys[userId],
    userId,
    'self_signing',
  );
  verifySelfSigningKey(selfSigning, master);
  verifyDeviceKeys(answer.device_keys[userId][deviceId], selfSigning);
  return master.keyId;
}

describe('cross-signing and secret storage, over HTTP', () => {
  let server: TestServer;
  const devices = new Devices();
  let a1: Device;
  let bob: Device;
  let alice: string;
  let recoveryKey: string;
  let masterKey: string;
  let keyId: string;
  let roomId: string;
  /** Alice's second device, holding the first keys. */
  let second: Device;

  before(async () => {
    server = await startServer();
    a1 = devices.add(await register(server.url, 'alice'));
    bob = devices.add(await register(server.url, 'bob'));
    alice = a1.client.userId;
    a1.client.start();
  });

  after(async () => {
    await devices.stopAll();
    await server.close();
  });

  test('set-up: others see the master and self-signing keys, not the user-signing key, and this device signed', async () => {
    roomId = await a1.client.createRoom({ name: 'history' });
    await a1.client.sendText(roomId, 'before the second device');
    ({ recoveryKey } = await a1.client.enableBackup({ passphrase: PASSPHRASE, iterations: 1000 }));

    const state = await a1.client.crossSigning.setUp();
    masterKey = state.masterKey;
    keyId = state.secretStorageKeyId!;
    assert.equal(a1.client.crossSigning.masterKey, masterKey);

    const seenByBob = await rawQuery(bob, [alice]);
    assert.equal(assertSignedByUser(seenByBob, alice, a1.client.deviceId), masterKey);
    assert.deepEqual(seenByBob.user_signing_keys ?? {}, {});
    // Alice's own answer has her user-signing key, signed by her master key.
    const own = await rawQuery(a1, [alice]);
    verifyUserSigningKey(
      parseCrossSigningKey(own.user_signing_keys[alice], alice, 'user_signing'),
      parseCrossSigningKey(own.master_keys[alice], alice, 'master'),
    );

    // The device keeps the self-signing and user-signing keys of the published keys, not the
    // master key; the server has no private key.
    const held = a1.client.store.crossSigning()!;
    assert.equal(held.masterKey, masterKey);
    const selfSigning = ed25519KeyPairFromSeed(held.selfSigningSeed);
    assert.equal(
      Object.values(own.self_signing_keys[alice].keys)[0],
      encodeUnpaddedBase64(selfSigning.publicKey),
    );
    const userSigning = ed25519KeyPairFromSeed(held.userSigningSeed);
    assert.equal(
      Object.values(own.user_signing_keys[alice].keys)[0],
      encodeUnpaddedBase64(userSigning.publicKey),
    );
    const text = JSON.stringify(own);
    for (const seed of [held.selfSigningSeed, held.userSigningSeed]) {
      assert.ok(!text.includes(encodeUnpaddedBase64(seed)));
    }

    const check = await bob.client.crossSigning.check(alice, a1.client.deviceId);
    assert.deepEqual(check, {
      signed: true,
      masterKey,
      selfSigningKey: encodeUnpaddedBase64(selfSigning.publicKey),
    });
  });

  test('a second device given the recovery key becomes signed by its user; the backup restore works alongside', async () => {
    const a2 = devices.add(await login(server.url, 'alice'));
    second = a2;
    a2.client.start();
    const before = await bob.client.crossSigning.check(alice, a2.client.deviceId);
    assert.equal(before.signed, false);
    assert.equal(!before.signed && before.fault, 'DEVICE_NOT_SIGNED');

    const state = await a2.client.crossSigning.recover(recoveryKey);
    assert.equal(state.masterKey, masterKey);
    assert.equal(a2.client.crossSigning.masterKey, masterKey);
    const seenByBob = await rawQuery(bob, [alice]);
    assert.equal(assertSignedByUser(seenByBob, alice, a2.client.deviceId), masterKey);
    const after = await bob.client.crossSigning.check(alice, a2.client.deviceId);
    assert.equal(after.signed && after.masterKey, masterKey);

    // The same recovery key restores the history this device was not there for.
    await until('A2 joins the room', () => converged(roomId, [a1, a2]));
    await a1.client.flushBackup();
    const report = await a2.client.restoreBackup(recoveryKey);
    assert.ok(report.messages >= 1);
    assert.ok(
      a2.messages.some(
        (m) => m.source === 'backup' && m.content.body === 'before the second device',
      ),
    );

    // The passphrase the backup was made from unlocks secret storage too.
    const a3 = devices.add(await login(server.url, 'alice'));
    assert.equal((await a3.client.crossSigning.recover(PASSPHRASE)).masterKey, masterKey);
    assertSignedByUser(await rawQuery(bob, [alice]), alice, a3.client.deviceId);
    for (const d of [a1, a2, a3, bob]) assert.deepEqual(d.errors, [], `${d.name} had no errors`);
  });

  test('a wrong recovery key or passphrase is refused with a typed error, and nothing changes', async () => {
    const a4 = devices.add(await login(server.url, 'alice'));
    const snapshot = async () =>
      JSON.stringify([
        await rawQuery(a1, [alice]),
        ...(await Promise.all(
          accountDataTypes(keyId).map((t) => a1.client.http.accountData(alice, t)),
        )),
      ]);
    const beforeState = await snapshot();
    const wrongKey = encodeRecoveryKey(new Uint8Array(randomBytes(32)));
    for (const wrong of [wrongKey, 'not the passphrase']) {
      await assert.rejects(a4.client.crossSigning.recover(wrong), (e: unknown) => {
        assert.ok(e instanceof ClientError);
        assert.equal(e.code, 'SECRET_STORAGE');
        assert.ok(e.cause instanceof MatrixError);
        assert.equal(e.cause.code, 'SECRET_STORAGE_WRONG_KEY');
        return true;
      });
    }
    // A mistyped recovery key is not a passphrase either: the wrong key too.
    const typo = recoveryKey.replace(
      /^(.{5})(.)/,
      (_, head: string, c: string) => head + (c === 'a' ? 'b' : 'a'),
    );
    await assert.rejects(a4.client.crossSigning.recover(typo), { code: 'SECRET_STORAGE' });
    // A key description whose key check was removed is refused even with the right key: the
    // check is what tells a wrong key from a right one.
    const descriptionType = KEY_DESCRIPTION_PREFIX + keyId;
    const description = (await a1.client.http.accountData(alice, descriptionType))!;
    const { iv: _iv, mac: _mac, ...unchecked } = description;
    await a1.client.http.setAccountData(alice, descriptionType, unchecked);
    await assert.rejects(a4.client.crossSigning.recover(recoveryKey), { code: 'SECRET_STORAGE' });
    await a1.client.http.setAccountData(alice, descriptionType, description);
    assert.equal(a4.client.store.crossSigning(), undefined);
    assert.equal(a4.client.crossSigning.masterKey, undefined);
    assert.equal(await snapshot(), beforeState);
    const check = await bob.client.crossSigning.check(alice, a4.client.deviceId);
    assert.equal(!check.signed && check.fault, 'DEVICE_NOT_SIGNED');
  });

  test("matrix-js-sdk's secret storage reads what Trellis wrote, with the same recovery key and passphrase", async () => {
    const data = new Map<string, unknown>();
    for (const type of accountDataTypes(keyId)) {
      data.set(type, await a1.client.http.accountData(alice, type));
    }
    const client = {
      getAccountDataFromServer: async (type: string) => data.get(type) ?? null,
      setAccountData: async () => {
        throw new Error('read only');
      },
    } as unknown as AccountDataClient;
    const sdkKey = sdkDecodeRecoveryKey(recoveryKey);
    const storage = new ServerSideSecretStorageImpl(client, {
      getSecretStorageKey: async ({ keys }) => {
        assert.deepEqual(Object.keys(keys), [keyId]);
        return [keyId, sdkKey];
      },
    });
    assert.equal(await storage.getDefaultKeyId(), keyId);
    const [id, description] = (await storage.getKey())!;
    assert.equal(id, keyId);
    const aes = description as SecretStorageKeyDescriptionAesV1;
    assert.equal(await storage.checkKey(sdkKey, aes), true);
    // The passphrase fields give matrix-js-sdk the same key from the passphrase.
    const fromPassphrase = await deriveRecoveryKeyFromPassphrase(
      PASSPHRASE,
      aes.passphrase.salt,
      aes.passphrase.iterations,
    );
    assert.deepEqual(fromPassphrase, sdkKey);

    const published = await rawQuery(bob, [alice]);
    const own = await rawQuery(a1, [alice]);
    const publicKeys = {
      [CROSS_SIGNING_SECRET_NAMES.master]: published.master_keys[alice],
      [CROSS_SIGNING_SECRET_NAMES.self_signing]: published.self_signing_keys[alice],
      [CROSS_SIGNING_SECRET_NAMES.user_signing]: own.user_signing_keys[alice],
    };
    for (const name of SECRET_NAMES) {
      const secret = await storage.get(name);
      assert.ok(secret);
      const pair = ed25519KeyPairFromSeed(decodeBase64(secret, name));
      assert.equal(
        Object.values(publicKeys[name].keys)[0],
        encodeUnpaddedBase64(pair.publicKey),
        name,
      );
    }
  });

  test('replacing the keys needs the password; a device holding the self-signing key signs another', async () => {
    const oldStorage = await Promise.all(
      accountDataTypes(keyId).map(async (t) => [t, await a1.client.http.accountData(alice, t)]),
    );
    await assert.rejects(a1.client.crossSigning.setUp(), { code: 'CROSS_SIGNING' });
    await assert.rejects(a1.client.crossSigning.setUp({ password: 'wrong' }), {
      code: 'HTTP',
      errcode: 'M_FORBIDDEN',
    });
    const replaced = await a1.client.crossSigning.setUp({ password: 'pw' });
    assert.notEqual(replaced.masterKey, masterKey);
    const other = devices.add(await login(server.url, 'alice'));
    // Signed by nobody yet; then by A1's new self-signing key.
    const answer = await rawQuery(bob, [alice]);
    assert.equal(assertSignedByUser(answer, alice, a1.client.deviceId), replaced.masterKey);
    assert.throws(() => assertSignedByUser(answer, alice, other.client.deviceId), MatrixError);
    // A2 holds the replaced self-signing key: it refuses to sign with it (before the server
    // would refuse the signature).
    await assert.rejects(second.client.crossSigning.signDevice(other.client.deviceId), {
      code: 'CROSS_SIGNING',
      message: /published master key/,
    });
    await a1.client.crossSigning.signDevice(other.client.deviceId);
    const signed = await rawQuery(bob, [alice]);
    assert.equal(assertSignedByUser(signed, alice, other.client.deviceId), replaced.masterKey);
    // Secret storage put back as it was (stale, or a server replaying it): its keys are not
    // the published ones, and a recovering device refuses them.
    const newStorage = await Promise.all(
      accountDataTypes(replaced.secretStorageKeyId!).map(async (t) => [
        t,
        await a1.client.http.accountData(alice, t),
      ]),
    );
    for (const [type, content] of oldStorage) {
      await a1.client.http.setAccountData(alice, type as string, content as object);
    }
    await assert.rejects(other.client.crossSigning.recover(recoveryKey), { code: 'CROSS_SIGNING' });
    assert.equal(other.client.store.crossSigning(), undefined);
    for (const [type, content] of newStorage) {
      await a1.client.http.setAccountData(alice, type as string, content as object);
    }
    // The new keys are in secret storage: a device recovering now gets them.
    assert.equal(
      (await other.client.crossSigning.recover(recoveryKey)).masterKey,
      replaced.masterKey,
    );
  });

  test('the signed-by-its-user check refuses every broken link', async () => {
    const answer: Json = await bob.client.http.queryAllKeys([alice]);
    const deviceId = a1.client.deviceId;
    assert.equal(checkDeviceSignature(answer as KeysQueryAnswer, alice, deviceId).signed, true);
    const fault = (a: Json, device = deviceId) => {
      const check = checkDeviceSignature(a as KeysQueryAnswer, alice, device);
      return check.signed ? 'signed' : check.fault;
    };
    const device = answer.device_keys[alice][deviceId];
    const withDevice = (d: Json) => ({
      ...answer,
      device_keys: { [alice]: { ...answer.device_keys[alice], [deviceId]: d } },
    });
    // The device keys changed after signing.
    assert.equal(
      fault(withDevice({ ...device, algorithms: ['m.megolm.v1.aes-sha2'] })),
      'DEVICE_NOT_SIGNED',
    );
    // Signed by the device itself only (the self-signing signature removed).
    const { signatures } = device;
    const onlyOwn = Object.fromEntries(
      Object.entries(signatures[alice]).filter(([k]) => !k.startsWith('ed25519:')),
    );
    assert.equal(
      fault(withDevice({ ...device, signatures: { [alice]: onlyOwn } })),
      'DEVICE_NOT_SIGNED',
    );
    // A signature under the self-signing key's id by another key.
    const selfSigningId = Object.values(answer.self_signing_keys[alice].keys)[0] as string;
    const { signatures: _s, ...content } = device;
    const forged = signJson(content, alice, selfSigningId, generateEd25519KeyPair());
    assert.equal(fault(withDevice(forged)), 'DEVICE_NOT_SIGNED');
    // A server's own self-signing key, validly signing the device, but not signed by the master key.
    const serverKey = generateEd25519KeyPair();
    const serverKeyId = encodeUnpaddedBase64(serverKey.publicKey);
    const serverSsk = {
      user_id: alice,
      usage: ['self_signing'],
      keys: { [`ed25519:${serverKeyId}`]: serverKeyId },
    };
    const byServer = signJson(content, alice, serverKeyId, serverKey);
    assert.equal(
      fault({ ...withDevice(byServer), self_signing_keys: { [alice]: serverSsk } }),
      'SELF_SIGNING_KEY_INVALID',
    );
    // A server's own master key over the real self-signing key.
    const serverMasterId = encodeUnpaddedBase64(generateEd25519KeyPair().publicKey);
    assert.equal(
      fault({
        ...answer,
        master_keys: {
          [alice]: {
            user_id: alice,
            usage: ['master'],
            keys: { [`ed25519:${serverMasterId}`]: serverMasterId },
          },
        },
      }),
      'SELF_SIGNING_KEY_INVALID',
    );
    assert.equal(fault({ ...answer, master_keys: {} }), 'NO_MASTER_KEY');
    assert.equal(fault({ ...answer, self_signing_keys: {} }), 'NO_SELF_SIGNING_KEY');
    assert.equal(
      fault({ ...answer, master_keys: { [alice]: { ...answer.master_keys[alice], usage: 'x' } } }),
      'MASTER_KEY_INVALID',
    );
    assert.equal(fault(answer, 'NO_SUCH_DEVICE'), 'NO_DEVICE');
    // Another device's keys listed under this device's id.
    const otherId = Object.keys(answer.device_keys[alice]).find(
      (d) => d !== deviceId && fault(answer, d) === 'signed',
    )!;
    assert.ok(otherId);
    assert.equal(fault(withDevice(answer.device_keys[alice][otherId])), 'DEVICE_NOT_SIGNED');
  });

  test('a signature the server refuses is an error, not a silent success', async () => {
    const http = {
      uploadSignatures: async () => ({ [alice]: { D: { errcode: 'M_INVALID_SIGNATURE' } } }),
    } as unknown as MatrixHttp;
    await assert.rejects(uploadOwnSignature(http, alice, 'D', {}), { code: 'CROSS_SIGNING' });
    const accepted = { uploadSignatures: async () => ({}) } as unknown as MatrixHttp;
    await uploadOwnSignature(accepted, alice, 'D', {});
  });

  test('recovered keys must be the published ones, each link signed by the master key', () => {
    const keys = newCrossSigningKeys();
    const upload = crossSigningUpload(alice, keys);
    const answer = (u: Json): KeysQueryAnswer => ({
      device_keys: {},
      master_keys: { [alice]: u.master_key },
      self_signing_keys: { [alice]: u.self_signing_key },
      user_signing_keys: { [alice]: u.user_signing_key },
    });
    checkPublishedKeys(answer(upload), alice, keys);
    const masterId = encodeUnpaddedBase64(keys.master.publicKey);
    const { signatures: _s, ...usk } = upload.user_signing_key;
    const forgedUsk = signJson(usk, alice, masterId, generateEd25519KeyPair());
    assert.throws(
      () => checkPublishedKeys(answer({ ...upload, user_signing_key: forgedUsk }), alice, keys),
      { code: 'CROSS_SIGNING' },
    );
    const { signatures: _t, ...ssk } = upload.self_signing_key;
    const forgedSsk = signJson(ssk, alice, masterId, generateEd25519KeyPair());
    assert.throws(
      () => checkPublishedKeys(answer({ ...upload, self_signing_key: forgedSsk }), alice, keys),
      { code: 'CROSS_SIGNING' },
    );
    // Someone else's keys, validly linked, are not the held ones.
    const others = newCrossSigningKeys();
    assert.throws(
      () => checkPublishedKeys(answer(crossSigningUpload(alice, others)), alice, keys),
      { code: 'CROSS_SIGNING' },
    );
  });

  test('the secret names are HKDF labels no key-backup entry can have', () => {
    for (const name of SECRET_NAMES) {
      assert.throws(() => parseSessionId(name), { code: 'INVALID_SESSION_ID' });
      assert.ok(!name.includes('|'));
      assert.notEqual(name, 'trellis backup member set id');
      assert.notEqual(name, '');
    }
  });
});
