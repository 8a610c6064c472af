/**
 * Cross-signing keys: the schema checks of `CrossSigningKey` and each signature link of the
 * spec's chain (master -> self-signing -> device; master -> user-signing -> other user's master).
 * Keys are signed here, and, independently, with libolm's PkSigning over canonical JSON (what
 * matrix-js-sdk's legacy crypto used for cross-signing), so the checks are not only against
 * signatures this package made itself.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import Olm from '@matrix-org/olm';
import { encodeUnpaddedBase64 } from '../src/base64.js';
import { canonicalJson } from '../src/canonicalJson.js';
import {
  crossSigningKeyJson,
  parseCrossSigningKey,
  verifyDeviceKeys,
  verifyMasterKeySignedByUser,
  verifySelfSigningKey,
  verifyUserSigningKey,
  type CrossSigningUsage,
} from '../src/crossSigning.js';
import {
  ed25519KeyPairFromSeed,
  generateEd25519KeyPair,
  type Ed25519KeyPair,
} from '../src/ed25519.js';
import { signJson, type JsonObject } from '../src/signedJson.js';
import { expectMatrixError } from './support.js';

const ALICE = '@alice:example.org';
const BOB = '@bob:example.org';

interface Identity {
  userId: string;
  master: Ed25519KeyPair;
  selfSigning: Ed25519KeyPair;
  userSigning: Ed25519KeyPair;
  device: Ed25519KeyPair;
}

function identity(userId: string): Identity {
  return {
    userId,
    master: generateEd25519KeyPair(),
    selfSigning: generateEd25519KeyPair(),
    userSigning: generateEd25519KeyPair(),
    device: generateEd25519KeyPair(),
  };
}

const id = (key: Ed25519KeyPair) => encodeUnpaddedBase64(key.publicKey);

/** The user's three keys, the sub-keys signed by the master key, as /keys/query returns them. */
function published(user: Identity) {
  const master = crossSigningKeyJson(user.userId, 'master', user.master.publicKey);
  const selfSigning = signJson(
    crossSigningKeyJson(user.userId, 'self_signing', user.selfSigning.publicKey),
    user.userId,
    id(user.master),
    user.master,
  );
  const userSigning = signJson(
    crossSigningKeyJson(user.userId, 'user_signing', user.userSigning.publicKey),
    user.userId,
    id(user.master),
    user.master,
  );
  const deviceId = 'DEVICEONE';
  const deviceKeys = signJson(
    signJson(
      {
        user_id: user.userId,
        device_id: deviceId,
        algorithms: ['m.olm.v1.curve25519-aes-sha2'],
        keys: { [`ed25519:${deviceId}`]: id(user.device) },
      },
      user.userId,
      deviceId,
      user.device,
    ),
    user.userId,
    id(user.selfSigning),
    user.selfSigning,
  );
  return { master, selfSigning, userSigning, deviceKeys };
}

const alice = identity(ALICE);
const bob = identity(BOB);
const alicePublished = published(alice);
const bobPublished = published(bob);

describe('cross-signing: parsing a CrossSigningKey', () => {
  test('a well-formed key', () => {
    const key = parseCrossSigningKey(alicePublished.selfSigning, ALICE, 'self_signing');
    assert.equal(key.userId, ALICE);
    assert.equal(key.usage, 'self_signing');
    assert.equal(key.keyId, id(alice.selfSigning));
    assert.deepEqual(key.publicKey, alice.selfSigning.publicKey);
  });

  const master = alicePublished.master;
  const keyName = `ed25519:${id(alice.master)}`;
  const cases: [string, unknown, Parameters<typeof expectMatrixError>[1]][] = [
    ['not an object', [master], 'CROSS_SIGNING_MALFORMED'],
    ['user_id missing', { ...master, user_id: undefined }, 'CROSS_SIGNING_MALFORMED'],
    ["another user's key", { ...master, user_id: BOB }, 'CROSS_SIGNING_USER_MISMATCH'],
    ['usage missing', { ...master, usage: undefined }, 'CROSS_SIGNING_MALFORMED'],
    ['usage empty', { ...master, usage: [] }, 'CROSS_SIGNING_MALFORMED'],
    ['usage of another role', { ...master, usage: ['self_signing'] }, 'CROSS_SIGNING_USAGE'],
    ['an unknown usage', { ...master, usage: ['master', 'device'] }, 'CROSS_SIGNING_USAGE'],
    ['a repeated usage', { ...master, usage: ['master', 'master'] }, 'CROSS_SIGNING_USAGE'],
    ['no key', { ...master, keys: {} }, 'CROSS_SIGNING_KEY_COUNT'],
    [
      'two keys',
      { ...master, keys: { ...master.keys, [`ed25519:${id(bob.master)}`]: id(bob.master) } },
      'CROSS_SIGNING_KEY_COUNT',
    ],
    ['keys not an object', { ...master, keys: 'x' }, 'CROSS_SIGNING_MALFORMED'],
    [
      'a key that is not a string',
      { ...master, keys: { [keyName]: 1 } },
      'CROSS_SIGNING_MALFORMED',
    ],
    [
      'an id that is not the key',
      { ...master, keys: { [keyName]: id(bob.master) } },
      'CROSS_SIGNING_KEY_ID',
    ],
    [
      'another algorithm',
      { ...master, keys: { [`curve25519:${id(alice.master)}`]: id(alice.master) } },
      'CROSS_SIGNING_KEY_ID',
    ],
    [
      'a key of 31 bytes',
      {
        ...master,
        keys: {
          'ed25519:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA':
            'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
        },
      },
      'INVALID_KEY',
    ],
    ['a key that is not base64', { ...master, keys: { 'ed25519:!!!!': '!!!!' } }, 'INVALID_KEY'],
    [
      'a padded key',
      { ...master, keys: { [`${keyName}=`]: `${id(alice.master)}=` } },
      'INVALID_KEY',
    ],
    ['signatures not an object', { ...master, signatures: 'x' }, 'MALFORMED_SIGNED_JSON'],
  ];
  for (const [what, json, code] of cases) {
    test(`refused: ${what}`, () =>
      expectMatrixError(() => parseCrossSigningKey(json, ALICE, 'master'), code));
  }
});

describe('cross-signing: the signature chain', () => {
  const parse = (json: unknown, userId: string, usage: CrossSigningUsage) =>
    parseCrossSigningKey(json, userId, usage);
  const aMaster = parse(alicePublished.master, ALICE, 'master');
  const aSelf = parse(alicePublished.selfSigning, ALICE, 'self_signing');
  const aUser = parse(alicePublished.userSigning, ALICE, 'user_signing');
  const bMaster = parse(bobPublished.master, BOB, 'master');
  const bSelf = parse(bobPublished.selfSigning, BOB, 'self_signing');

  test('master signs self-signing and user-signing; self-signing signs the device', () => {
    verifySelfSigningKey(aSelf, aMaster);
    verifyUserSigningKey(aUser, aMaster);
    verifyDeviceKeys(alicePublished.deviceKeys, aSelf);
  });

  test("Alice's user-signing key signs Bob's master key", () => {
    const signedBob = signJson(
      bobPublished.master,
      ALICE,
      id(alice.userSigning),
      alice.userSigning,
    );
    verifyMasterKeySignedByUser(parse(signedBob, BOB, 'master'), aUser);
    expectMatrixError(() => verifyMasterKeySignedByUser(bMaster, aUser), 'SIGNATURE_MISSING');
  });

  test("a self-signing key signed by another user's master key is refused", () => {
    const forged = signJson(
      crossSigningKeyJson(ALICE, 'self_signing', bob.selfSigning.publicKey),
      ALICE,
      id(alice.master),
      bob.master, // under Alice's master key id, but made with Bob's master key
    );
    expectMatrixError(
      () => verifySelfSigningKey(parse(forged, ALICE, 'self_signing'), aMaster),
      'BAD_SIGNATURE',
    );
    expectMatrixError(() => verifySelfSigningKey(bSelf, aMaster), 'CROSS_SIGNING_USER_MISMATCH');
    expectMatrixError(
      () =>
        verifySelfSigningKey(
          parse(
            crossSigningKeyJson(ALICE, 'self_signing', alice.selfSigning.publicKey),
            ALICE,
            'self_signing',
          ),
          aMaster,
        ),
      'SIGNATURE_MISSING',
    );
  });

  test('a tampered self-signing key or device is refused', () => {
    const tampered = {
      ...alicePublished.selfSigning,
      keys: { [`ed25519:${id(bob.selfSigning)}`]: id(bob.selfSigning) },
    };
    expectMatrixError(
      () => verifySelfSigningKey(parse(tampered, ALICE, 'self_signing'), aMaster),
      'BAD_SIGNATURE',
    );
    const device = { ...alicePublished.deviceKeys, algorithms: ['m.megolm.v1.aes-sha2'] };
    expectMatrixError(() => verifyDeviceKeys(device, aSelf), 'BAD_SIGNATURE');
  });

  test('devices: wrong self-signing key, another user, malformed, named after the key', () => {
    expectMatrixError(
      () => verifyDeviceKeys(bobPublished.deviceKeys, aSelf),
      'CROSS_SIGNING_USER_MISMATCH',
    );
    expectMatrixError(
      () => verifyDeviceKeys({ ...alicePublished.deviceKeys, user_id: BOB }, bSelf),
      'SIGNATURE_MISSING',
    );
    expectMatrixError(() => verifyDeviceKeys({ user_id: ALICE }, aSelf), 'DEVICE_KEYS_MALFORMED');
    expectMatrixError(() => verifyDeviceKeys(null, aSelf), 'DEVICE_KEYS_MALFORMED');
    const impostor = signJson(
      { user_id: ALICE, device_id: id(alice.selfSigning), keys: {} },
      ALICE,
      id(alice.selfSigning),
      alice.selfSigning,
    );
    expectMatrixError(() => verifyDeviceKeys(impostor, aSelf), 'CROSS_SIGNING_KEY_ID');
  });

  test('roles are checked: a key in the wrong place is refused before any signature', () => {
    expectMatrixError(() => verifySelfSigningKey(aUser, aMaster), 'CROSS_SIGNING_USAGE');
    expectMatrixError(() => verifySelfSigningKey(aSelf, aSelf), 'CROSS_SIGNING_USAGE');
    expectMatrixError(() => verifyUserSigningKey(aSelf, aMaster), 'CROSS_SIGNING_USAGE');
    expectMatrixError(
      () => verifyDeviceKeys(alicePublished.deviceKeys, aMaster),
      'CROSS_SIGNING_USAGE',
    );
    expectMatrixError(() => verifyMasterKeySignedByUser(bMaster, aSelf), 'CROSS_SIGNING_USAGE');
    expectMatrixError(
      () => verifyMasterKeySignedByUser(aMaster, aUser),
      'CROSS_SIGNING_USER_MISMATCH',
    );
  });
});

describe('cross-signing against libolm signatures', () => {
  before(async () => {
    await Olm.init();
  });

  test('a chain signed by libolm PkSigning verifies; one byte off does not', () => {
    const seeds = [1, 2, 3].map((n) => new Uint8Array(32).fill(n));
    const [masterSigner, selfSigner, deviceSigner] = seeds.map(() => new Olm.PkSigning());
    try {
      const masterId = masterSigner!.init_with_seed(seeds[0]!);
      const selfId = selfSigner!.init_with_seed(seeds[1]!);
      const deviceKeyId = deviceSigner!.init_with_seed(seeds[2]!);
      // The same seeds through node:crypto give the same public keys.
      assert.equal(id(ed25519KeyPairFromSeed(seeds[0]!)), masterId);
      const olmSign = (object: JsonObject, signer: Olm.PkSigning, keyId: string) => ({
        ...object,
        signatures: { [ALICE]: { [`ed25519:${keyId}`]: signer.sign(canonicalJson(object)) } },
      });
      const master = crossSigningKeyJson(
        ALICE,
        'master',
        ed25519KeyPairFromSeed(seeds[0]!).publicKey,
      );
      const selfSigning = olmSign(
        { user_id: ALICE, usage: ['self_signing'], keys: { [`ed25519:${selfId}`]: selfId } },
        masterSigner!,
        masterId,
      );
      const device = olmSign(
        {
          user_id: ALICE,
          device_id: 'OLMDEVICE',
          algorithms: [],
          keys: { 'ed25519:OLMDEVICE': deviceKeyId },
        },
        selfSigner!,
        selfId,
      );
      const mk = parseCrossSigningKey(master, ALICE, 'master');
      const ssk = parseCrossSigningKey(selfSigning, ALICE, 'self_signing');
      verifySelfSigningKey(ssk, mk);
      verifyDeviceKeys(device, ssk);
      expectMatrixError(
        () => verifyDeviceKeys({ ...device, device_id: 'OLMDEVICF' }, ssk),
        'BAD_SIGNATURE',
      );
    } finally {
      for (const signer of [masterSigner, selfSigner, deviceSigner]) signer!.free();
    }
  });
});
