/**
 * Trellis's backups against matrix-js-sdk's own code (from npm, not a copy): the passphrase
 * parameters of `auth_data` (issue 13, item 12) and the AES-CTR counter of `session_data`
 * (item 13). matrix-js-sdk restores a backup with a passphrase by `keyFromAuthData`, checks a
 * key with `calculateKeyCheck`, and encrypts and decrypts aes-hmac-sha2 data with WebCrypto's
 * AES-CTR and a 64-bit counter.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { keyFromAuthData } from 'matrix-js-sdk/lib/common-crypto/key-passphrase.js';
import { deriveRecoveryKeyFromPassphrase } from 'matrix-js-sdk/lib/crypto-api/key-passphrase.js';
import { calculateKeyCheck } from 'matrix-js-sdk/lib/secret-storage.js';
import decryptAESSecretStorageItem from 'matrix-js-sdk/lib/utils/decryptAESSecretStorageItem.js';
import encryptAESSecretStorageItem from 'matrix-js-sdk/lib/utils/encryptAESSecretStorageItem.js';
import { decode, mlsMessageCodec } from '@trellis/mls';
import {
  BackupError,
  backupEpoch,
  createBackup,
  decryptAesHmacSha2,
  encryptAesHmacSha2,
  parseAesHmacSha2Json,
  restoredEpochFor,
  restoreRoom,
  roomKeysBody,
  unlockWithKey,
  unlockWithPassphrase,
  verifyKeyCheck,
  type BackupErrorCode,
  type BackupKey,
  type BackupVersionBody,
  type KeyBackupData,
} from '../src/index.js';
import { decodeBase64, encodeBase64 } from '../src/encoding.js';
import { device, MemoryBackupStore, Room, ROOM_ID } from './support/room.js';

const PASSPHRASE = 'correct horse battery staple, twice';
// Low, so that the test is quick; the derivation is the same at any count.
const ITERATIONS = 1000;
const alice = device('alice');
const bob = device('bob');

function expectBackupError(fn: () => unknown, code: BackupErrorCode): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BackupError, `a BackupError, not ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

function sameBase64(a: string, b: string): void {
  assert.deepEqual(decodeBase64(a, 'a'), decodeBase64(b, 'b'));
}

/** A room with one message in its current epoch, backed up under `key` into a fresh store. */
function backedUpRoom(key: BackupKey, version: unknown) {
  const room = new Room(['alice', 'bob', 'carol']);
  room.send(bob, 'said before the phone was lost');
  const store = new MemoryBackupStore();
  store.createVersion(version);
  const epoch = backupEpoch(key, room.member(alice).state, {
    roomId: ROOM_ID,
    creator: room.creator,
  });
  store.put(roomKeysBody(ROOM_ID, epoch.sessions));
  return { room, store, epoch };
}

/** Reads the room's one message with what `restoreRoom` made of the store's sessions. */
function readMessage(key: BackupKey, room: Room, sessions: unknown): string {
  const restored = restoreRoom(key, ROOM_ID, sessions);
  assert.deepEqual([...restored.failures.values()], []);
  const event = room.timeline[0]!;
  const epoch = restoredEpochFor(restored, event.epoch, event.epochCreator);
  assert.ok(epoch, 'the epoch of the message was restored');
  const got = epoch.reader.decrypt(decode(mlsMessageCodec, event.ciphertext));
  return new TextDecoder().decode(got.data);
}

describe('12. passphrase backups restore across Trellis and matrix-js-sdk', () => {
  test('12. a Trellis passphrase backup is unlocked and read by matrix-js-sdk', async () => {
    const backup = createBackup({ passphrase: PASSPHRASE, iterations: ITERATIONS });
    const { store, epoch } = backedUpRoom(backup.key, backup.version);
    const version = store.getVersion() as BackupVersionBody;

    // matrix-js-sdk's restoreKeyBackupWithPassphrase derives the key with keyFromAuthData.
    const key = await keyFromAuthData(version.auth_data, PASSPHRASE);
    assert.deepEqual(key, Uint8Array.from(backup.key));
    // Its key check agrees with the one Trellis stored.
    const check = await calculateKeyCheck(key, version.auth_data.iv);
    sameBase64(check.mac, version.auth_data.mac);
    // And it decrypts the session data Trellis wrote.
    const sessions = (store.getRoom(ROOM_ID) as { sessions: Record<string, KeyBackupData> })
      .sessions;
    const text = await decryptAESSecretStorageItem(
      sessions[epoch.sessionId]!.session_data,
      key,
      epoch.sessionId,
    );
    const payload = JSON.parse(text) as { room_id: string; group_export: string };
    assert.equal(payload.room_id, ROOM_ID);
    assert.ok(payload.group_export.length > 0);
  });

  test('12. a backup whose auth_data matrix-js-sdk wrote is unlocked and read by Trellis', async () => {
    // As matrix-js-sdk describes a passphrase backup: `private_key_*` fields beside the check.
    const salt = encodeBase64(randomBytes(24));
    const jsKey = await deriveRecoveryKeyFromPassphrase(PASSPHRASE, salt, ITERATIONS, 256);
    const check = await calculateKeyCheck(jsKey);
    const version = {
      algorithm: createBackup().version.algorithm,
      auth_data: {
        iv: check.iv,
        mac: check.mac,
        private_key_salt: salt,
        private_key_iterations: ITERATIONS,
        private_key_bits: 256,
      },
    };
    const key = unlockWithPassphrase(version, PASSPHRASE);
    assert.deepEqual(Uint8Array.from(key), jsKey);
    expectBackupError(() => unlockWithPassphrase(version, `${PASSPHRASE}!`), 'WRONG_KEY');

    // Sessions matrix-js-sdk encrypted under that key restore too.
    const { room, store, epoch } = backedUpRoom(key, version);
    const sessions = (store.getRoom(ROOM_ID) as { sessions: Record<string, KeyBackupData> })
      .sessions;
    for (const [id, data] of Object.entries(sessions)) {
      const parsed = parseAesHmacSha2Json(data.session_data, 'session_data', 'MALFORMED_SESSION');
      const plaintext = new TextDecoder().decode(decryptAesHmacSha2(key, id, parsed));
      sessions[id] = {
        ...data,
        session_data: await encryptAESSecretStorageItem(plaintext, jsKey, id),
      };
    }
    assert.ok(sessions[epoch.sessionId]);
    assert.equal(readMessage(key, room, { sessions }), 'said before the phone was lost');
  });

  test('12. Trellis writes the parameters in both places and refuses them when they disagree', () => {
    const { key, version } = createBackup({ passphrase: PASSPHRASE, iterations: ITERATIONS });
    const authData = version.auth_data;
    assert.equal(authData.private_key_salt, authData.passphrase!.salt);
    assert.equal(authData.private_key_iterations, ITERATIONS);
    assert.equal(authData.private_key_bits, 256);

    // Either place alone is enough.
    const { passphrase, ...flatOnly } = authData;
    const nestedOnly = { iv: authData.iv, mac: authData.mac, passphrase };
    for (const auth_data of [flatOnly, nestedOnly]) {
      assert.deepEqual(unlockWithPassphrase({ ...version, auth_data }, PASSPHRASE), key);
    }
    // Two places that say different things, or half of matrix-js-sdk's pair, are refused.
    for (const auth_data of [
      { ...authData, private_key_iterations: ITERATIONS + 1 },
      { ...authData, private_key_salt: `${authData.private_key_salt}x` },
      { ...flatOnly, private_key_iterations: undefined },
      { ...flatOnly, private_key_salt: 7 },
      { ...flatOnly, private_key_bits: 128 },
    ]) {
      expectBackupError(
        () => unlockWithKey({ ...version, auth_data }, key),
        'INVALID_PASSPHRASE_INFO',
      );
    }
  });
});

describe('13. session_data AES-CTR: an IV with bit 63 set is refused', () => {
  const key = new Uint8Array(randomBytes(32));
  const name = 'a session';
  // Four blocks, so that a counter starting near the end of its low 64 bits runs past them.
  const plaintext = 'sixty-four bytes of session data, four blocks of AES-CTR counter';

  /** An IV whose low 64 bits are `low` (big-endian), the high half random. */
  function ivWithLow(low: bigint): string {
    const iv = Buffer.from(randomBytes(16));
    iv.writeBigUInt64BE(low, 8);
    return encodeBase64(iv);
  }

  test('13. an IV with bit 63 clear decrypts as matrix-js-sdk encrypted it', async () => {
    // The highest low half a writer may produce: the 64-bit counter cannot wrap from here.
    const written = await encryptAESSecretStorageItem(
      plaintext,
      key,
      name,
      ivWithLow(2n ** 63n - 2n),
    );
    const data = parseAesHmacSha2Json(written, 'session_data', 'MALFORMED_SESSION');
    assert.equal(new TextDecoder().decode(decryptAesHmacSha2(key, name, data)), plaintext);
  });

  test('13. an IV with bit 63 set is refused (INVALID_IV), not decrypted with a 128-bit counter', async () => {
    // matrix-js-sdk's counter wraps to zero inside the low 64 bits after the first block; a
    // 128-bit counter would carry into the high half and decrypt the rest to noise.
    const written = await encryptAESSecretStorageItem(
      plaintext,
      key,
      name,
      ivWithLow(2n ** 64n - 1n),
    );
    assert.equal(await decryptAESSecretStorageItem(written, key, name), plaintext);
    const data = parseAesHmacSha2Json(written, 'session_data', 'MALFORMED_SESSION');
    expectBackupError(() => decryptAesHmacSha2(key, name, data), 'INVALID_IV');
    // Any IV with bit 63 set, however far from wrapping, and in every place an IV is read.
    const barely = decodeBase64(ivWithLow(2n ** 63n), 'iv');
    expectBackupError(() => decryptAesHmacSha2(key, name, { ...data, iv: barely }), 'INVALID_IV');
    expectBackupError(() => encryptAesHmacSha2(key, name, new Uint8Array(1), barely), 'INVALID_IV');
    const check = await calculateKeyCheck(key, ivWithLow(2n ** 63n));
    expectBackupError(() => verifyKeyCheck(key, check), 'INVALID_IV');
  });

  test('13. a backed-up session whose IV has bit 63 set is reported as INVALID_IV', () => {
    const backup = createBackup();
    const { room, store, epoch } = backedUpRoom(backup.key, backup.version);
    const sessions = (store.getRoom(ROOM_ID) as { sessions: Record<string, KeyBackupData> })
      .sessions;
    assert.equal(readMessage(backup.key, room, { sessions }), 'said before the phone was lost');
    const entry = sessions[epoch.sessionId]!;
    const iv = decodeBase64(entry.session_data.iv, 'iv');
    iv[8]! |= 0x80;
    sessions[epoch.sessionId] = {
      ...entry,
      session_data: { ...entry.session_data, iv: encodeBase64(iv) },
    };
    const restored = restoreRoom(backup.key, ROOM_ID, { sessions });
    const failure = restored.failures.get(epoch.sessionId);
    assert.ok(failure instanceof BackupError, `a BackupError, not ${String(failure)}`);
    assert.equal(failure.code, 'INVALID_IV');
  });
});
