/**
 * Everything a restoring device receives is checked: altered session data, a wrong key, an
 * entry under the wrong session id or room, and malformed or truncated exports are each refused
 * with a typed error (BackupError, or the engine's MlsError for malformed TLS), never a crash.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decode, mlsMessageCodec, MlsError, type MlsMessage } from '@trellis/mls';
import {
  BackupError,
  backupEpoch,
  createBackup,
  encodeGroupExport,
  encodeRecoveryKey,
  epochSessionId,
  exportGroupState,
  parseBackupVersion,
  parsePassphraseInfo,
  restoreEpoch,
  restoreRoom,
  roomKeysBody,
  unlockWithPassphrase,
  unlockWithRecoveryKey,
  type BackupErrorCode,
  type BackupKey,
  type KeyBackupData,
} from '../src/index.js';
import { decodeBase64, encodeBase64 } from '../src/encoding.js';
import { encryptAesHmacSha2, toAesHmacSha2Json } from '../src/sessionCrypto.js';
import { epochPayload, memberSetPayload, openSession, sealSession } from '../src/sessions.js';
import { device, MemoryBackupStore, Room, ROOM_ID } from './support/room.js';
import { flipped, withByte } from './support/bytes.js';

const alice = device('alice');

function expectBackupError(fn: () => unknown, ...codes: BackupErrorCode[]): BackupError {
  const error = expectTypedError(fn);
  assert.ok(error instanceof BackupError, `expected BackupError ${codes}, got ${String(error)}`);
  assert.ok(codes.includes(error.code), `${error.code} (${error.message}) is not ${codes}`);
  return error;
}

/** Only the two typed errors may come out. */
function expectTypedError(fn: () => unknown): BackupError | MlsError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof BackupError || e instanceof MlsError, `untyped error: ${String(e)}`);
    return e;
  }
  assert.fail('expected an error');
}

// Three epochs of a small room, backed up with member sets shared between them.
const store = new MemoryBackupStore();
const backup = createBackup({ passphrase: 'tamper-proof', iterations: 100 });
store.createVersion(backup.version);
const room = new Room(['alice', 'bob', 'carol']);
const epochIds: string[] = [];
const stored = new Set<string>();
for (let i = 0; i < 3; i++) {
  const b = backupEpoch(backup.key, room.member(alice).state, {
    roomId: ROOM_ID,
    creator: room.creator,
    stored,
    membersPerSet: 2,
  });
  store.put(roomKeysBody(ROOM_ID, b.sessions));
  b.memberSets.forEach((id) => stored.add(id));
  epochIds.push(b.sessionId);
  room.commit(i % 2 ? alice : device('bob'));
}
const sessions = (store.getRoom(ROOM_ID) as { sessions: Record<string, KeyBackupData> }).sessions;
/** Epoch 2, created by Bob. */
const epochId = epochIds[1]!;

/** Restores `id` from the stored sessions with some entries replaced (undefined: removed). */
function restoreWith(
  replaced: Record<string, unknown>,
  key: BackupKey = backup.key,
  id: string = epochId,
  roomId: string = ROOM_ID,
) {
  const all: Record<string, unknown> = { ...sessions, ...replaced };
  return restoreEpoch(key, roomId, id, (sid) => (Object.hasOwn(all, sid) ? all[sid] : undefined));
}

/** Session ids of the member sets an epoch refers to, in the order it fetches them. */
function memberSetsOf(id: string): string[] {
  const seen: string[] = [];
  restoreEpoch(backup.key, ROOM_ID, id, (sid) => {
    if (sid.startsWith('members|')) seen.push(sid);
    return sessions[sid];
  });
  return seen;
}
const memberSetId = memberSetsOf(epochId)[0]!;

function withSessionData(
  data: KeyBackupData,
  field: 'iv' | 'ciphertext' | 'mac',
  bytes: Uint8Array,
): KeyBackupData {
  return { ...data, session_data: { ...data.session_data, [field]: encodeBase64(bytes) } };
}

describe('tampered session data', () => {
  test('the untouched backup restores', () => {
    const restored = restoreWith({});
    assert.equal(restored.sessionId, epochId);
    assert.equal(restored.epoch, 2n);
    assert.equal(restored.creator.userId, '@bob:example.org');
  });

  for (const target of ['epoch', 'member set'] as const) {
    test(`every byte of a ${target} entry's iv, ciphertext and mac, flipped, is refused`, (t) => {
      const id = target === 'epoch' ? epochId : memberSetId;
      const original = sessions[id]!;
      let refused = 0;
      for (const field of ['iv', 'ciphertext', 'mac'] as const) {
        const bytes = decodeBase64(original.session_data[field], field);
        for (let i = 0; i < bytes.length; i++) {
          for (const flip of [0x01, 0x80, 0xff]) {
            const changed = flipped(bytes, i, flip);
            const altered = withSessionData(original, field, changed);
            // The MAC covers the ciphertext; an altered IV decrypts to noise that is not JSON,
            // unless it now has bit 63 set, which is refused before decryption.
            const code: BackupErrorCode =
              field !== 'iv' ? 'BAD_MAC' : changed[8]! & 0x80 ? 'INVALID_IV' : 'MALFORMED_SESSION';
            expectBackupError(() => restoreWith({ [id]: altered }), code);
            refused++;
          }
        }
      }
      t.diagnostic(`${refused} altered ${target} entries refused`);
    });
  }

  test('every character of the base64 fields, changed, is refused', (t) => {
    const original = sessions[epochId]!;
    let refused = 0;
    for (const field of ['iv', 'ciphertext', 'mac'] as const) {
      const text = original.session_data[field];
      for (let i = 0; i < text.length; i++) {
        for (const replacement of ['A', '/', '=', '*', ' ']) {
          if (text[i] === replacement) continue;
          const altered = text.slice(0, i) + replacement + text.slice(i + 1);
          const data = {
            ...original,
            session_data: { ...original.session_data, [field]: altered },
          };
          expectBackupError(
            () => restoreWith({ [epochId]: data }),
            'INVALID_BASE64',
            'BAD_MAC',
            'MALFORMED_SESSION',
            'INVALID_IV',
          );
          refused++;
        }
      }
    }
    t.diagnostic(`${refused} altered base64 strings refused`);
  });

  test('a shortened or extended ciphertext, and KeyBackupData of the wrong shape, are refused', () => {
    const original = sessions[epochId]!;
    const ciphertext = decodeBase64(original.session_data.ciphertext, 'ciphertext');
    const longer = new Uint8Array(ciphertext.length + 1);
    longer.set(ciphertext);
    for (const bytes of [
      ciphertext.subarray(0, -1),
      ciphertext.subarray(1),
      longer,
      longer.subarray(0, 0),
    ]) {
      const data = withSessionData(original, 'ciphertext', bytes);
      expectBackupError(() => restoreWith({ [epochId]: data }), 'BAD_MAC');
    }
    const shortIv = decodeBase64(original.session_data.iv, 'iv').subarray(0, 15);
    expectBackupError(
      () => restoreWith({ [epochId]: withSessionData(original, 'iv', shortIv) }),
      'MALFORMED_SESSION',
    );

    const { session_data: data, ...rest } = original;
    const shapes: unknown[] = [
      null,
      'text',
      [],
      rest,
      { ...original, session_data: 'x' },
      { ...original, session_data: { ...data, mac: undefined } },
      { ...original, session_data: { ...data, iv: 16 } },
      { ...original, first_message_index: -1 },
      { ...original, forwarded_count: 1.5 },
      { ...original, is_verified: 'yes' },
    ];
    for (const shape of shapes) {
      expectBackupError(() => restoreWith({ [epochId]: shape }), 'MALFORMED_SESSION');
    }
  });

  test('one spoiled entry does not stop the rest of the room from restoring', () => {
    const spoiled = epochIds[0]!;
    const original = sessions[spoiled]!;
    const mac = decodeBase64(original.session_data.mac, 'mac');
    const altered = withSessionData(original, 'mac', flipped(mac, 0, 1));
    const restored = restoreRoom(backup.key, ROOM_ID, {
      sessions: { ...sessions, [spoiled]: altered },
    });
    assert.deepEqual([...restored.failures.keys()], [spoiled]);
    assert.equal((restored.failures.get(spoiled) as BackupError).code, 'BAD_MAC');
    assert.deepEqual([...restored.epochs.keys()].sort(), epochIds.slice(1).sort());
    for (const body of [{ rooms: {} }, null, { sessions: [] }]) {
      expectBackupError(() => restoreRoom(backup.key, ROOM_ID, body), 'MALFORMED_SESSION');
    }
  });
});

describe('wrong key', () => {
  const version = store.getVersion();

  test('another recovery key or passphrase fails the key check, before any use', () => {
    expectBackupError(
      () => unlockWithRecoveryKey(version, createBackup().recoveryKey),
      'WRONG_KEY',
    );
    expectBackupError(() => unlockWithPassphrase(version, 'tamper-proof!'), 'WRONG_KEY');
    // A valid recovery key one bit away from the right one.
    const near = encodeRecoveryKey(flipped(backup.key, 5, 4));
    expectBackupError(() => unlockWithRecoveryKey(version, near), 'WRONG_KEY');
    assert.deepEqual(unlockWithRecoveryKey(version, backup.recoveryKey), backup.key);
  });

  test('sessions opened with another key give BAD_MAC', () => {
    const other = createBackup().key;
    expectBackupError(() => restoreWith({}, other), 'BAD_MAC');
    const restored = restoreRoom(other, ROOM_ID, { sessions });
    assert.equal(restored.epochs.size, 0);
    assert.equal(restored.failures.size, epochIds.length);
    for (const e of restored.failures.values()) assert.equal((e as BackupError).code, 'BAD_MAC');
  });
});

describe('wrong session id', () => {
  test('an entry moved to another session id is refused: the id is in the MAC', () => {
    expectBackupError(() => restoreWith({ [epochId]: sessions[epochIds[0]!] }), 'BAD_MAC');
    const otherCreator = epochSessionId(2n, device('mallory'));
    expectBackupError(
      () => restoreWith({ [otherCreator]: sessions[epochId] }, backup.key, otherCreator),
      'BAD_MAC',
    );
    // Each member set the epoch needs, replaced by another member set's entry.
    const needed = memberSetsOf(epochId);
    const others = Object.keys(sessions).filter((id) => id.startsWith('members|'));
    for (const id of needed) {
      for (const other of others.filter((o) => o !== id)) {
        expectBackupError(() => restoreWith({ [id]: sessions[other] }), 'BAD_MAC');
      }
    }
  });

  test('a missing session or member set is MISSING_SESSION or MISSING_MEMBER_SET', () => {
    expectBackupError(() => restoreWith({ [epochId]: undefined }), 'MISSING_SESSION');
    expectBackupError(() => restoreWith({ [memberSetId]: undefined }), 'MISSING_MEMBER_SET');
  });

  test('malformed session ids, and a member set id given as an epoch, are INVALID_SESSION_ID', () => {
    const creator = encodeBase64(new TextEncoder().encode('@alice:example.org|ALICEDEVICE'));
    const bad = [
      '',
      '1',
      `01|${creator}`,
      `-1|${creator}`,
      `18446744073709551616|${creator}`,
      `1|${creator}=`,
      '1|not base64!',
      `1|${encodeBase64(new TextEncoder().encode('no separator'))}`,
      `1|${encodeBase64(new TextEncoder().encode('@alice:example.org|'))}`,
      `1|${encodeBase64(new Uint8Array([0xff, 0x7c, 0x41]))}`,
      'members|short',
      `members|${encodeBase64(new Uint8Array(31))}`,
      memberSetId,
    ];
    for (const id of bad) {
      expectBackupError(() => restoreWith({}, backup.key, id), 'INVALID_SESSION_ID');
    }
  });

  test('content naming another room or epoch than where it was found is SESSION_MISMATCH', () => {
    // The same entry under the same session id in another room: the MAC cannot tell (the room
    // is not in it), the room id inside the session can.
    expectBackupError(
      () => restoreWith({}, backup.key, epochId, '!elsewhere:example.org'),
      'SESSION_MISMATCH',
    );
    // A writer holding the key that puts another epoch's export under this epoch's id.
    const creator = room.creator;
    const later = exportGroupState(room.member(alice).state);
    const misfiled = sealSession(
      backup.key,
      epochId,
      { ...epochPayload(ROOM_ID, creator, later), epoch: [2, ['@bob:example.org', 'BOBDEVICE']] },
      false,
    );
    expectBackupError(() => restoreWith({ [epochId]: misfiled }), 'SESSION_MISMATCH');
  });
});

describe('malformed and truncated exports', () => {
  // The current epoch, sealed by hand (as a writer holding the key could), with a message in it.
  room.send(alice, 'the last word');
  const event = room.timeline.at(-1)!;
  const message: MlsMessage = decode(mlsMessageCodec, event.ciphertext);
  const state = room.member(alice).state;
  const creator = room.creator;
  const id = epochSessionId(state.context.epoch, creator);
  const exported = exportGroupState(state);
  const exportBytes = encodeGroupExport(exported);
  const payload = epochPayload(ROOM_ID, creator, exported) as Record<string, unknown>;
  const restoreSealed = (fields: Record<string, unknown>) =>
    restoreWith(
      { [id]: sealSession(backup.key, id, { ...payload, ...fields }, false) },
      backup.key,
      id,
    );
  const withExport = (bytes: Uint8Array) => ({ group_export: encodeBase64(bytes) });

  test('the export as sealed restores and reads the message', () => {
    const restored = restoreSealed({});
    assert.equal(new TextDecoder().decode(restored.reader.decrypt(message).data), 'the last word');
  });

  test('every truncation of the export is refused as TRUNCATED, an extension as TRAILING_BYTES', (t) => {
    for (let length = 0; length < exportBytes.length; length++) {
      const error = expectTypedError(() =>
        restoreSealed(withExport(exportBytes.subarray(0, length))),
      );
      assert.ok(
        error instanceof MlsError && error.code === 'TRUNCATED',
        `${length}: ${error.message}`,
      );
    }
    const longer = new Uint8Array(exportBytes.length + 1);
    longer.set(exportBytes);
    const error = expectTypedError(() => restoreSealed(withExport(longer)));
    assert.ok(error instanceof MlsError && error.code === 'TRAILING_BYTES');
    t.diagnostic(
      `${exportBytes.length} truncations of a ${exportBytes.length}-byte export refused`,
    );
  });

  test('random changes to the export: a typed error, at restore or when reading, never a crash', (t) => {
    let seed = 7;
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    const outcomes = new Map<string, number>();
    const count = (what: string) => outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
    for (let round = 0; round < 1500; round++) {
      const bytes = Uint8Array.from(exportBytes);
      for (let c = 1 + (next() % 3); c > 0; c--) bytes[next() % bytes.length] = next() & 0xff;
      let restored;
      try {
        restored = restoreSealed(withExport(bytes));
      } catch (e) {
        assert.ok(e instanceof BackupError || e instanceof MlsError, `untyped error: ${String(e)}`);
        count(`restore: ${e.code}`);
        continue;
      }
      // Changes to bytes the decoder cannot judge (a key, a signature, a secret) show when the
      // message is read: it decrypts to the very text sent, or it is refused.
      try {
        const read = restored.reader.decrypt(message);
        assert.equal(new TextDecoder().decode(read.data), 'the last word');
        count('read: unchanged');
      } catch (e) {
        assert.ok(e instanceof MlsError, `untyped error: ${String(e)}`);
        count(`read: ${e.code}`);
      }
    }
    t.diagnostic(JSON.stringify(Object.fromEntries([...outcomes].sort())));
  });

  test('fields that do not fit together are refused', () => {
    const reencoded = (change: object) => withExport(encodeGroupExport({ ...exported, ...change }));
    const variants: [Record<string, unknown>, string][] = [
      [{ algorithm: 'm.megolm.v1.aes-sha2' }, 'UNSUPPORTED_ALGORITHM'],
      [
        { algorithm: 'm.dmls.v1.welcome.dhkemx25519-aes128gcm-sha256-ed25519' },
        'UNSUPPORTED_ALGORITHM',
      ],
      [{ algorithm: 'm.dmls.v1.dhkemx25519-chacha20poly1305-sha256-ed25519' }, 'SESSION_MISMATCH'],
      [{ room_id: 7 }, 'SESSION_MISMATCH'],
      [{ epoch: [2] }, 'MALFORMED_SESSION'],
      [{ epoch: ['2', [creator.userId, creator.deviceId]] }, 'MALFORMED_SESSION'],
      [{ epoch: [Number(state.context.epoch), [creator.userId, 'OTHER']] }, 'SESSION_MISMATCH'],
      [{ group_export: 42 }, 'MALFORMED_SESSION'],
      [{ group_export: 'not base64' }, 'INVALID_BASE64'],
      [reencoded({ leafCount: 3 }), 'MALFORMED_EXPORT'],
      [reencoded({ leafCount: 1 }), 'MALFORMED_EXPORT'],
      [reencoded({ leafCount: exported.leafCount * 2 }), 'MALFORMED_EXPORT'],
      [reencoded({ leafCount: 2 ** 21 }), 'MALFORMED_EXPORT'],
      [reencoded({ leafCount: 2 ** 31 }), 'MALFORMED_EXPORT'],
      [reencoded({ members: [] }), 'MALFORMED_EXPORT'],
      [reencoded({ members: [...exported.members, ...exported.members] }), 'MALFORMED_EXPORT'],
      [reencoded({ members: [{ kind: 'reference', id: new Uint8Array(31) }] }), 'MALFORMED_EXPORT'],
      [
        reencoded({ members: [{ kind: 'reference', id: new Uint8Array(32) }] }),
        'MISSING_MEMBER_SET',
      ],
      [reencoded({ encryptionSecret: new Uint8Array(31) }), 'MALFORMED_EXPORT'],
      [reencoded({ context: { ...exported.context, cipherSuite: 3 } }), 'MALFORMED_EXPORT'],
      [reencoded({ context: { ...exported.context, epoch: 99n } }), 'SESSION_MISMATCH'],
      [withExport(withByte(exportBytes, 1, 2)), 'UNSUPPORTED_VERSION'],
      [withExport(withByte(exportBytes, 3, 2)), 'UNSUPPORTED_VERSION'],
      [withExport(withByte(exportBytes, 5, 0x99)), 'UNSUPPORTED_CIPHER_SUITE'],
    ];
    for (const [fields, code] of variants) {
      const error = expectTypedError(() => restoreSealed(fields));
      assert.equal(error.code, code, `${JSON.stringify(fields).slice(0, 80)}: ${error.message}`);
    }
    expectBackupError(
      () => restoreWith({ [id]: sealSession(backup.key, id, {}, false) }, backup.key, id),
      'UNSUPPORTED_ALGORITHM',
    );
    for (const text of ['not json', '[1, 2]', '"text"', '\u00ff{}']) {
      const raw = encryptAesHmacSha2(backup.key, id, new TextEncoder().encode(text));
      const data = { ...sessions[epochId]!, session_data: toAesHmacSha2Json(raw) };
      expectBackupError(() => restoreWith({ [id]: data }, backup.key, id), 'MALFORMED_SESSION');
    }
    const notUtf8 = encryptAesHmacSha2(backup.key, id, new Uint8Array([0x7b, 0xff, 0x7d]));
    const data = { ...sessions[epochId]!, session_data: toAesHmacSha2Json(notUtf8) };
    expectBackupError(() => restoreWith({ [id]: data }, backup.key, id), 'MALFORMED_SESSION');
  });

  test('a member set entry that is malformed, or not the set its id names, is refused', () => {
    const opened = openSession(backup.key, ROOM_ID, memberSetId, sessions[memberSetId]);
    assert.ok(opened.kind === 'member_set');
    const reseal = (fields: object) => ({
      [memberSetId]: sealSession(
        backup.key,
        memberSetId,
        { ...memberSetPayload(ROOM_ID, opened.encoded), ...fields },
        false,
      ),
    });
    assert.equal(restoreWith(reseal({})).epoch, 2n);
    for (let length = 0; length < opened.encoded.length; length++) {
      const truncated = { member_set: encodeBase64(opened.encoded.subarray(0, length)) };
      const error = expectTypedError(() => restoreWith(reseal(truncated)));
      assert.ok(error instanceof MlsError && error.code === 'TRUNCATED', error.message);
    }
    expectBackupError(() => restoreWith(reseal({ member_set: 5 })), 'MALFORMED_SESSION');
    expectBackupError(
      () => restoreWith(reseal({ member_set: encodeBase64(withByte(opened.encoded, 1, 9)) })),
      'UNSUPPORTED_VERSION',
    );
    // Another member set's content under this one's id: sealed correctly, but its id says no.
    const otherId = Object.keys(sessions).find(
      (sid) => sid.startsWith('members|') && sid !== memberSetId,
    )!;
    const other = openSession(backup.key, ROOM_ID, otherId, sessions[otherId]);
    assert.ok(other.kind === 'member_set');
    expectBackupError(
      () => restoreWith(reseal({ member_set: encodeBase64(other.encoded) })),
      'MEMBER_SET_MISMATCH',
    );
    expectBackupError(
      () =>
        restoreWith(reseal({ algorithm: 'm.dmls.v1.dhkemx25519-chacha20poly1305-sha256-ed25519' })),
      'SESSION_MISMATCH',
    );
  });
});

describe('received JSON nested deeply (found by fuzzing)', () => {
  // 20,000 levels: JSON.parse reads them, JSON.stringify overflows the stack on them. Error
  // messages used to JSON.stringify the value they refused, so a RangeError left the package.
  const deep = `${'['.repeat(20000)}${']'.repeat(20000)}`;
  const key = createBackup({ key: new Uint8Array(32).fill(1) }).key;

  test('a backup version whose algorithm or passphrase fields are deep: BackupError', () => {
    expectBackupError(
      () => parseBackupVersion(JSON.parse(`{"algorithm":${deep},"auth_data":{}}`)),
      'UNSUPPORTED_ALGORITHM',
    );
    expectBackupError(
      () => parsePassphraseInfo(JSON.parse(`{"algorithm":${deep}}`)),
      'UNSUPPORTED_ALGORITHM',
    );
    expectBackupError(
      () =>
        parsePassphraseInfo(
          JSON.parse(`{"algorithm":"m.pbkdf2","salt":"s","iterations":1,"bits":${deep}}`),
        ),
      'INVALID_PASSPHRASE_INFO',
    );
  });

  test('a session whose room_id or algorithm is deep: BackupError', () => {
    const sessionId = 'members|' + 'A'.repeat(43);
    const sealed = (plaintext: string): KeyBackupData => ({
      first_message_index: 0,
      forwarded_count: 0,
      is_verified: false,
      session_data: toAesHmacSha2Json(
        encryptAesHmacSha2(key, sessionId, new TextEncoder().encode(plaintext)),
      ),
    });
    const algorithm = '"m.dmls_backup.v1.aes-hmac-sha2"';
    expectBackupError(
      () =>
        openSession(
          key,
          ROOM_ID,
          sessionId,
          sealed(`{"algorithm":${algorithm},"room_id":${deep}}`),
        ),
      'SESSION_MISMATCH',
    );
    expectBackupError(
      () => openSession(key, ROOM_ID, sessionId, sealed(`{"algorithm":${deep},"room_id":"x"}`)),
      'UNSUPPORTED_ALGORITHM',
    );
  });
});
