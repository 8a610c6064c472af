/**
 * Secret storage against matrix-js-sdk (from npm, run under Node): its item encryption and key
 * check byte for byte, its `ServerSideSecretStorageImpl` reading what this package wrote into
 * account data and the other way round, its passphrase derivation and recovery-key encoding;
 * then the refusals.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { deriveRecoveryKeyFromPassphrase } from 'matrix-js-sdk/lib/crypto-api/key-passphrase.js';
import {
  decodeRecoveryKey as sdkDecodeRecoveryKey,
  encodeRecoveryKey as sdkEncodeRecoveryKey,
} from 'matrix-js-sdk/lib/crypto-api/recovery-key.js';
import {
  calculateKeyCheck,
  ServerSideSecretStorageImpl,
  type AccountDataClient,
  type SecretStorageKeyDescriptionAesV1,
} from 'matrix-js-sdk/lib/secret-storage.js';
import decryptAESSecretStorageItem from 'matrix-js-sdk/lib/utils/decryptAESSecretStorageItem.js';
import encryptAESSecretStorageItem from 'matrix-js-sdk/lib/utils/encryptAESSecretStorageItem.js';
import { decodeBase64, encodeUnpaddedBase64 } from '../src/base64.js';
import { CROSS_SIGNING_SECRET_NAMES } from '../src/crossSigning.js';
import {
  SECRET_STORAGE_ALGORITHM,
  checkSecretStorageKey,
  decodeRecoveryKey,
  decryptSecret,
  deriveKeyFromPassphrase,
  encodeRecoveryKey,
  encryptSecret,
  newKeyDescription,
  parseKeyDescription,
  readSecret,
  secretContent,
} from '../src/secretStorage.js';
import { expectMatrixError } from './support.js';

const NAME = CROSS_SIGNING_SECRET_NAMES.master;
const SECRET = encodeUnpaddedBase64(new Uint8Array(32).fill(7)); // as cross-signing keys are stored
const fixedKey = () => new Uint8Array(32).map((_, i) => i * 7 + 1);
const fixedIv = () => {
  const iv = new Uint8Array(16).map((_, i) => 0xf0 - i);
  iv[8]! &= 0x7f;
  return iv;
};

/** Account data in memory, the two calls ServerSideSecretStorageImpl makes of its client. */
function memoryAccountData() {
  const data = new Map<string, unknown>();
  const client = {
    getAccountDataFromServer: async (type: string) => data.get(type) ?? null,
    setAccountData: async (type: string, content: unknown) => {
      data.set(type, content);
      return {};
    },
  };
  return { data, client: client as unknown as AccountDataClient };
}

describe('secret storage against matrix-js-sdk', () => {
  test('encrypting a secret: same IV, same ciphertext and MAC', async () => {
    const key = fixedKey();
    const iv = fixedIv();
    const ours = encryptSecret(key, NAME, 'a secret: 日本語', iv);
    const theirs = await encryptAESSecretStorageItem(
      'a secret: 日本語',
      key,
      NAME,
      encodeUnpaddedBase64(iv),
    );
    assert.deepEqual(decodeBase64(theirs.iv, 'iv'), decodeBase64(ours.iv, 'iv'));
    assert.deepEqual(decodeBase64(theirs.ciphertext, 'c'), decodeBase64(ours.ciphertext, 'c'));
    assert.deepEqual(decodeBase64(theirs.mac, 'mac'), decodeBase64(ours.mac, 'mac'));
  });

  test('each decrypts what the other encrypted with fresh IVs', async () => {
    for (let i = 0; i < 10; i++) {
      const key = new Uint8Array(randomBytes(32));
      const secret = 'x'.repeat(i * 13) + String(i);
      assert.equal(
        await decryptAESSecretStorageItem(encryptSecret(key, NAME, secret), key, NAME),
        secret,
      );
      assert.equal(
        decryptSecret(key, NAME, await encryptAESSecretStorageItem(secret, key, NAME)),
        secret,
      );
    }
  });

  test("the key check: calculateKeyCheck's iv and mac, and checkKey agree", async () => {
    const key = fixedKey();
    const iv = fixedIv();
    const description = newKeyDescription(key, { name: 'Default key', iv });
    const theirs = await calculateKeyCheck(key, encodeUnpaddedBase64(iv));
    assert.deepEqual(decodeBase64(theirs.mac, 'mac'), decodeBase64(description.mac, 'mac'));
    const storage = new ServerSideSecretStorageImpl(memoryAccountData().client, {});
    // matrix-js-sdk's type makes `name` and `passphrase` required; the spec has both optional.
    const sdkDescription = {
      ...description,
      name: 'Default key',
    } as SecretStorageKeyDescriptionAesV1;
    assert.equal(await storage.checkKey(key, sdkDescription), true);
    const wrong = new Uint8Array(randomBytes(32));
    assert.equal(await storage.checkKey(wrong, sdkDescription), false);
    checkSecretStorageKey(key, description);
    expectMatrixError(() => checkSecretStorageKey(wrong, description), 'SECRET_STORAGE_WRONG_KEY');
  });

  test('ServerSideSecretStorageImpl reads a key and secret written here', async () => {
    const { data, client } = memoryAccountData();
    const key = new Uint8Array(randomBytes(32));
    data.set('m.secret_storage.key.KEYID', newKeyDescription(key, { name: 'ours' }));
    data.set(NAME, secretContent(NAME, SECRET, new Map([['KEYID', key]])));
    const storage = new ServerSideSecretStorageImpl(client, {
      getSecretStorageKey: async ({ keys }) => {
        assert.deepEqual(Object.keys(keys), ['KEYID']);
        return ['KEYID', key];
      },
    });
    assert.equal(await storage.get(NAME), SECRET);
  });

  test('a key and secret written by ServerSideSecretStorageImpl read here', async () => {
    const { data, client } = memoryAccountData();
    const key = new Uint8Array(randomBytes(32));
    const storage = new ServerSideSecretStorageImpl(client, {
      getSecretStorageKey: async ({ keys }) => [Object.keys(keys)[0]!, key],
    });
    const { keyId } = await storage.addKey(SECRET_STORAGE_ALGORITHM, { key, name: 'theirs' });
    await storage.store(NAME, SECRET, [keyId]);
    const description = parseKeyDescription(data.get(`m.secret_storage.key.${keyId}`));
    assert.equal(description.name, 'theirs');
    checkSecretStorageKey(key, description);
    assert.equal(readSecret(data.get(NAME), NAME, keyId, key), SECRET);
  });

  test('m.pbkdf2: the same key as deriveRecoveryKeyFromPassphrase', async () => {
    const info = { algorithm: 'm.pbkdf2', salt: 'MmMsAlty', iterations: 1000, bits: 256 };
    const ours = deriveKeyFromPassphrase('correct horse battery staple', info);
    const theirs = await deriveRecoveryKeyFromPassphrase(
      'correct horse battery staple',
      'MmMsAlty',
      1000,
    );
    assert.deepEqual(ours, theirs);
    assert.notDeepEqual(
      deriveKeyFromPassphrase('correct horse battery staple', { ...info, salt: 'other' }),
      theirs,
    );
  });

  test('recovery keys: the same text both ways', () => {
    for (let i = 0; i < 10; i++) {
      const key = new Uint8Array(randomBytes(32));
      const text = encodeRecoveryKey(key);
      assert.equal(text, sdkEncodeRecoveryKey(key));
      assert.deepEqual(decodeRecoveryKey(text), key);
      assert.deepEqual(sdkDecodeRecoveryKey(text), key);
    }
  });
});

describe('secret storage: refusals', () => {
  const key = fixedKey();
  const encrypted = encryptSecret(key, NAME, SECRET, fixedIv());

  test('a wrong key, a wrong name, altered ciphertext or MAC: SECRET_STORAGE_BAD_MAC', () => {
    expectMatrixError(
      () => decryptSecret(new Uint8Array(32), NAME, encrypted),
      'SECRET_STORAGE_BAD_MAC',
    );
    expectMatrixError(
      () => decryptSecret(key, 'm.cross_signing.self_signing', encrypted),
      'SECRET_STORAGE_BAD_MAC',
    );
    const flipped = decodeBase64(encrypted.ciphertext, 'c');
    flipped[0]! ^= 1;
    expectMatrixError(
      () => decryptSecret(key, NAME, { ...encrypted, ciphertext: encodeUnpaddedBase64(flipped) }),
      'SECRET_STORAGE_BAD_MAC',
    );
    const mac = decodeBase64(encrypted.mac, 'mac');
    mac[31]! ^= 0x80;
    expectMatrixError(
      () => decryptSecret(key, NAME, { ...encrypted, mac: encodeUnpaddedBase64(mac) }),
      'SECRET_STORAGE_BAD_MAC',
    );
  });

  test('malformed data, bad base64, an IV with bit 63 set, a short key', () => {
    expectMatrixError(
      () => decryptSecret(key, NAME, { iv: encrypted.iv, mac: encrypted.mac }),
      'SECRET_STORAGE_MALFORMED',
    );
    expectMatrixError(() => decryptSecret(key, NAME, 'x'), 'SECRET_STORAGE_MALFORMED');
    expectMatrixError(
      () => decryptSecret(key, NAME, { ...encrypted, ciphertext: '!!' }),
      'INVALID_BASE64',
    );
    const iv = fixedIv();
    iv[8]! |= 0x80;
    expectMatrixError(() => encryptSecret(key, NAME, SECRET, iv), 'SECRET_STORAGE_INVALID_IV');
    expectMatrixError(
      () => encryptSecret(new Uint8Array(16), NAME, SECRET),
      'SECRET_STORAGE_INVALID_KEY',
    );
  });

  test('reading a secret: no encrypted map, not under this key', () => {
    expectMatrixError(() => readSecret({}, NAME, 'K', key), 'SECRET_STORAGE_MALFORMED');
    expectMatrixError(
      () => readSecret({ encrypted: { OTHER: encrypted } }, NAME, 'K', key),
      'SECRET_STORAGE_MISSING_KEY',
    );
    assert.equal(readSecret({ encrypted: { K: encrypted } }, NAME, 'K', key), SECRET);
  });

  test('key descriptions: algorithm, field types, iv without mac, passphrase', () => {
    const good = newKeyDescription(key, { iv: fixedIv() });
    expectMatrixError(
      () => parseKeyDescription({ ...good, algorithm: 'm.secret_storage.v2' }),
      'SECRET_STORAGE_UNSUPPORTED_ALGORITHM',
    );
    expectMatrixError(() => parseKeyDescription({ ...good, name: 5 }), 'SECRET_STORAGE_MALFORMED');
    expectMatrixError(
      () => parseKeyDescription({ ...good, mac: undefined }),
      'SECRET_STORAGE_MALFORMED',
    );
    expectMatrixError(() => parseKeyDescription([]), 'SECRET_STORAGE_MALFORMED');
    expectMatrixError(
      () => parseKeyDescription({ ...good, passphrase: { algorithm: 'm.scrypt' } }),
      'SECRET_STORAGE_UNSUPPORTED_ALGORITHM',
    );
    expectMatrixError(
      () =>
        parseKeyDescription({
          ...good,
          passphrase: { algorithm: 'm.pbkdf2', salt: 's', iterations: 0 },
        }),
      'INVALID_PASSPHRASE_INFO',
    );
    expectMatrixError(
      () => checkSecretStorageKey(key, { ...good, mac: 'AAAA' }),
      'SECRET_STORAGE_MALFORMED',
    );
  });

  test('a description without iv and mac: the key is taken as valid, as the spec says', () => {
    checkSecretStorageKey(new Uint8Array(32), { algorithm: SECRET_STORAGE_ALGORITHM });
  });

  test('recovery keys: a typo is INVALID_RECOVERY_KEY with the finer code as cause', () => {
    const text = encodeRecoveryKey(key);
    const typo = text.slice(0, 5) + (text[5] === 'a' ? 'b' : 'a') + text.slice(6);
    expectMatrixError(() => decodeRecoveryKey(typo), 'INVALID_RECOVERY_KEY');
    assert.throws(
      () => decodeRecoveryKey('0OIl'),
      (e: Error) => (e.cause as { code: string }).code === 'RECOVERY_KEY_CHARACTER',
    );
  });
});
