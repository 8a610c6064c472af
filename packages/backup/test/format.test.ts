/**
 * What goes on the wire: the group export and member sets, session ids, KeyBackupData and the
 * JSON each session encrypts; and that deduplication stores each member set once.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { BACKUP_ALGORITHM } from '@trellis/mls';
import {
  BackupError,
  backupEpoch,
  backupGroupExport,
  createBackup,
  decodeGroupExport,
  decodeMemberSet,
  encodeGroupExport,
  encodeMemberSet,
  epochSessionId,
  exportGroupState,
  GROUP_EXPORT_VERSION,
  MEMBER_SET_VERSION,
  parseSessionId,
  readerForExport,
  splitMembers,
  type BackupErrorCode,
  type KeyBackupData,
} from '../src/index.js';
import { decodeBase64 } from '../src/encoding.js';
import { memberSetId, memberSetIdKey } from '../src/memberSet.js';
import { decryptAesHmacSha2, parseAesHmacSha2Json } from '../src/sessionCrypto.js';
import { device, Room, ROOM_ID } from './support/room.js';

function expectBackupError(fn: () => unknown, code: BackupErrorCode): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BackupError, `expected BackupError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack).includes(Buffer.from(needle));
}

const backup = createBackup();
const alice = device('alice');
const room = new Room(['alice', 'bob', 'carol', 'dave', 'erin']);

/** The JSON a session decrypts to. */
function plaintextOf(sessionId: string, data: KeyBackupData): Record<string, unknown> {
  const encrypted = parseAesHmacSha2Json(data.session_data, 'session_data', 'MALFORMED_SESSION');
  const bytes = decryptAesHmacSha2(backup.key, sessionId, encrypted);
  return JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
}

describe('group export', () => {
  const state = room.member(alice).state;
  const exported = exportGroupState(state, { authenticatedData: new Uint8Array([1, 2, 3]) });
  const bytes = encodeGroupExport(exported);

  test('encodes and decodes to the same value, version first', () => {
    assert.deepEqual(decodeGroupExport(bytes), exported);
    assert.deepEqual([...bytes.subarray(0, 6)], [0, GROUP_EXPORT_VERSION, 0, 1, 0, 1]);
    assert.deepEqual(encodeGroupExport(decodeGroupExport(bytes)), bytes);
  });

  test('holds the epoch’s context, secrets and members', () => {
    assert.deepEqual(exported.context, state.context);
    assert.deepEqual(exported.senderDataSecret, state.secrets.senderDataSecret);
    assert.deepEqual(exported.encryptionSecret, state.secrets.encryptionSecret);
    assert.deepEqual(exported.membershipKey, state.secrets.membershipKey);
    assert.deepEqual(exported.confirmationKey, state.secrets.confirmationKey);
    assert.deepEqual(exported.epochAuthenticator, state.secrets.epochAuthenticator);
    assert.deepEqual(exported.interimTranscriptHash, state.interimTranscriptHash);
    assert.equal(exported.leafCount, state.tree.leafCount);
    const reader = readerForExport(exported);
    for (const m of room.members)
      assert.deepEqual(reader.member(m.state.ownLeaf), m.state.tree.leaf(m.state.ownLeaf));
  });

  test('holds nothing that would let its holder join, commit, export or sign', () => {
    const secrets: [string, Uint8Array][] = [
      ['init_secret', state.secrets.initSecret],
      ['exporter_secret', state.secrets.exporterSecret],
      ['external_secret', state.secrets.externalSecret],
      ['resumption_psk', state.secrets.resumptionPsk],
      ['signature private key', state.signaturePrivateKey],
      ...state.privateKeys.nodes.map((n): [string, Uint8Array] => [
        `HPKE key of node ${n}`,
        state.privateKeys.get(n)!.privateKey,
      ]),
    ];
    assert.ok(secrets.length >= 6);
    for (const [name, secret] of secrets)
      assert.ok(!contains(bytes, secret), `${name} is not exported`);
  });
});

describe('member sets', () => {
  test('are cut at aligned leaf indices, blanks kept inside and trimmed at the end', () => {
    const state = room.member(alice).state;
    const leaves = [...state.tree.members()];
    const sparse = leaves.filter(([i]) => i !== 1 && i !== 4);
    const sets = splitMembers(1, 8, sparse, 2);
    assert.deepEqual(
      sets.map((s) => [s.firstLeaf, s.leaves.map((l) => (l ? 1 : 0))]),
      [
        [0, [1]],
        [2, [1, 1]],
      ],
    );
    for (const set of sets) assert.deepEqual(decodeMemberSet(encodeMemberSet(set)), set);
    assert.equal(encodeMemberSet(sets[0]!)[1], MEMBER_SET_VERSION);
  });

  test('are named by a hash keyed by the backup key, not a plain hash', () => {
    const [set] = splitMembers(1, 8, [...room.member(alice).state.tree.members()], 16);
    const encoded = encodeMemberSet(set!);
    const id = memberSetId(memberSetIdKey(backup.key), encoded);
    assert.equal(id.length, 32);
    assert.deepEqual(memberSetId(memberSetIdKey(backup.key), encoded), id);
    assert.notDeepEqual(memberSetId(memberSetIdKey(createBackup().key), encoded), id);
    assert.notDeepEqual(new Uint8Array(createHash('sha256').update(encoded).digest()), id);
  });
});

describe('session ids', () => {
  test('<epoch>|<unpadded base64 of userId|deviceId>', () => {
    const id = epochSessionId(12n, { userId: '@alice:example.org', deviceId: 'ALICEDEVICE' });
    assert.equal(
      id,
      `12|${Buffer.from('@alice:example.org|ALICEDEVICE').toString('base64').replace(/=+$/, '')}`,
    );
    assert.deepEqual(parseSessionId(id), {
      kind: 'epoch',
      epoch: 12n,
      creator: { userId: '@alice:example.org', deviceId: 'ALICEDEVICE' },
    });
    const max = epochSessionId(2n ** 64n - 1n, alice);
    assert.equal((parseSessionId(max) as { epoch: bigint }).epoch, 2n ** 64n - 1n);
  });

  test('a user id with the separator works (split at the last one); a device id with it does not', () => {
    const odd = { userId: '@a|b:example.org', deviceId: 'DEV' };
    assert.deepEqual(parseSessionId(epochSessionId(3n, odd)), {
      kind: 'epoch',
      epoch: 3n,
      creator: odd,
    });
    expectBackupError(
      () => epochSessionId(3n, { userId: '@a:example.org', deviceId: 'D|EV' }),
      'INVALID_SESSION_ID',
    );
    expectBackupError(
      () => epochSessionId(3n, { userId: '', deviceId: 'DEV' }),
      'INVALID_SESSION_ID',
    );
    expectBackupError(() => epochSessionId(-1n, alice), 'INVALID_SESSION_ID');
    expectBackupError(() => epochSessionId(2n ** 64n, alice), 'INVALID_SESSION_ID');
  });
});

describe('backed-up sessions', () => {
  test('KeyBackupData as the API defines it, session_data as aes-hmac-sha2', () => {
    const state = room.member(alice).state;
    const b = backupEpoch(backup.key, state, {
      roomId: ROOM_ID,
      creator: room.creator,
      dedupe: false,
    });
    assert.deepEqual(Object.keys(b.sessions), [b.sessionId]);
    const data = b.sessions[b.sessionId]!;
    assert.deepEqual(Object.keys(data).sort(), [
      'first_message_index',
      'forwarded_count',
      'is_verified',
      'session_data',
    ]);
    assert.equal(data.first_message_index, 0);
    assert.equal(data.forwarded_count, 0);
    assert.equal(data.is_verified, false);
    assert.deepEqual(Object.keys(data.session_data).sort(), ['ciphertext', 'iv', 'mac']);
    for (const value of Object.values(data.session_data)) assert.doesNotMatch(value, /=/);
    assert.equal(decodeBase64(data.session_data.iv, 'iv')[8]! & 0x80, 0);

    const payload = plaintextOf(b.sessionId, data);
    assert.deepEqual(Object.keys(payload).sort(), [
      'algorithm',
      'epoch',
      'group_export',
      'room_id',
    ]);
    assert.equal(payload.algorithm, BACKUP_ALGORITHM);
    assert.equal(payload.algorithm, 'm.dmls_backup.v1.aes-hmac-sha2');
    assert.equal(payload.room_id, ROOM_ID);
    assert.deepEqual(payload.epoch, [
      Number(state.context.epoch),
      [room.creator.userId, room.creator.deviceId],
    ]);
    const inline = decodeGroupExport(decodeBase64(payload.group_export as string, 'group_export'));
    assert.deepEqual(inline, exportGroupState(state));

    const verified = backupEpoch(backup.key, state, {
      roomId: ROOM_ID,
      creator: room.creator,
      isVerified: true,
    });
    assert.ok(Object.values(verified.sessions).every((d) => d.is_verified));
  });

  test('member set entries: their own JSON, stored once, and not again for the next epoch', () => {
    const big = new Room(Array.from({ length: 40 }, (_, i) => `member${i}`));
    const first = big.members[0]!.device;
    const stored = new Set<string>();
    const perEpoch: number[] = [];
    for (let i = 0; i < 4; i++) {
      const state = big.member(first).state;
      const b = backupEpoch(backup.key, state, { roomId: ROOM_ID, creator: big.creator, stored });
      assert.equal(b.memberSets.length, 3, '40 members in sets of 16');
      perEpoch.push(Object.keys(b.sessions).length);
      b.memberSets.forEach((id) => stored.add(id));
      if (i === 0) {
        const setId = b.memberSets[0]!;
        const payload = plaintextOf(setId, b.sessions[setId]!);
        assert.deepEqual(Object.keys(payload).sort(), ['algorithm', 'member_set', 'room_id']);
        const epochPayload = plaintextOf(b.sessionId, b.sessions[b.sessionId]!);
        const refs = decodeGroupExport(
          decodeBase64(epochPayload.group_export as string, 'x'),
        ).members;
        assert.ok(refs.every((r) => r.kind === 'reference'));
      }
      // One member commits with a path: its leaf changes, every other leaf stays.
      big.commit(big.members[(i * 13 + 5) % 40]!.device);
    }
    // The first epoch stores all three sets; each later one its export and the changed set.
    assert.deepEqual(perEpoch, [4, 2, 2, 2]);
  });

  test('dedupe off stores members inline; an export that already refers to sets is not re-split', () => {
    const state = room.member(alice).state;
    const inline = backupEpoch(backup.key, state, {
      roomId: ROOM_ID,
      creator: room.creator,
      dedupe: false,
    });
    assert.deepEqual(inline.memberSets, []);
    expectBackupError(
      () => backupEpoch(backup.key, state, { roomId: '', creator: room.creator }),
      'INVALID_ARGUMENT',
    );
    expectBackupError(
      () =>
        backupEpoch(backup.key, state, {
          roomId: ROOM_ID,
          creator: room.creator,
          membersPerSet: 0,
        }),
      'INVALID_ARGUMENT',
    );
    const referring = {
      ...exportGroupState(state),
      members: [{ kind: 'reference' as const, id: new Uint8Array(32) }],
    };
    expectBackupError(
      () => backupGroupExport(backup.key, referring, { roomId: ROOM_ID, creator: room.creator }),
      'INVALID_ARGUMENT',
    );
  });
});
