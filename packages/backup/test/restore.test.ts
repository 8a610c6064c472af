/**
 * The point of the package: a user whose only device is lost reads the room's history on a
 * fresh device from the backup alone, with the recovery key or with the passphrase.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decode, mlsMessageCodec, type EpochReader } from '@trellis/mls';
import {
  backupEpoch,
  createBackup,
  creatorIdentity,
  restoredEpochFor,
  restoreRoom,
  roomKeysBody,
  unlockWithPassphrase,
  unlockWithRecoveryKey,
  type BackupKey,
} from '../src/index.js';
import { device, MemoryBackupStore, Room, ROOM_ID, type TimelineEvent } from './support/room.js';
import { identityOf } from './support/bytes.js';

const PASSPHRASE = 'a long walk through the old messages';
const EPOCHS = 50;
const alice = device('alice');

/** A deterministic shuffle (xorshift), so that a failure can be replayed. */
function shuffled<T>(items: readonly T[], seed = 0x2545f491): T[] {
  const out = [...items];
  let x = seed;
  for (let i = out.length - 1; i > 0; i--) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const j = (x >>> 0) % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

interface History {
  store: MemoryBackupStore;
  recoveryKey: string;
  timeline: readonly TimelineEvent[];
  memberCounts: number[];
  memberSetReferences: number;
}

/**
 * Alice's device backs up every epoch of a room whose members change in every epoch (devices
 * join, leave, and every commit renews the committer's leaf) while several members talk.
 */
function liveHistory(): History {
  const store = new MemoryBackupStore();
  // A low iteration count keeps the test fast; real backups use DEFAULT_PBKDF2_ITERATIONS.
  const backup = createBackup({ passphrase: PASSPHRASE, iterations: 1000 });
  store.createVersion(backup.version);

  const room = new Room(['alice', 'bob', 'carol', 'dave']);
  const stored = new Set<string>();
  const memberCounts: number[] = [];
  let memberSetReferences = 0;
  let joined = 0;
  for (let i = 0; i < EPOCHS; i++) {
    // Back up at the start of the epoch: the export covers what is sent in it afterwards.
    const epochBackup = backupEpoch(backup.key, room.member(alice).state, {
      roomId: ROOM_ID,
      creator: room.creator,
      stored,
      // Small sets, so that this small group shows sharing (large groups use the default).
      membersPerSet: 2,
    });
    store.put(roomKeysBody(ROOM_ID, epochBackup.sessions));
    for (const id of epochBackup.memberSets) stored.add(id);
    memberSetReferences += epochBackup.memberSets.length;
    memberCounts.push(room.members.length);

    const n = room.members.length;
    for (const k of [i % n, (i + 1) % n, (i + 3) % n]) {
      const sender = room.members[k]!.device;
      room.send(sender, `epoch ${room.epoch}: ${sender.userId} says hello (${i}.${k})`);
    }

    const committer = room.members[(i * 7) % n]!.device;
    const others = room.members
      .map((m) => m.device)
      .filter((d) => d.userId !== alice.userId && d.userId !== committer.userId);
    if (i % 5 === 2 && others.length > 2) {
      room.commit(committer, { remove: [others[i % others.length]!] });
    } else if (i % 3 === 0) {
      room.commit(committer, { add: [device(`guest${joined++}`)] });
    } else if (i % 7 === 4) {
      room.commit(committer, {
        add: [device(`guest${joined++}`)],
        remove: [others[0]!],
      });
    } else {
      room.commit(committer);
    }
  }
  return {
    store,
    recoveryKey: backup.recoveryKey,
    timeline: room.timeline,
    memberCounts,
    memberSetReferences,
  };
}

const history = liveHistory();

/** A fresh device: only the server's data and the key it was given. */
function readEverything(key: BackupKey): number {
  const restored = restoreRoom(key, ROOM_ID, history.store.getRoom(ROOM_ID));
  assert.deepEqual([...restored.failures.keys()], []);
  assert.equal(restored.epochs.size, EPOCHS);
  // Each member set is fetched once, however many epochs refer to it.
  const storedSets = history.store.sessionIds(ROOM_ID).filter((id) => id.startsWith('members|'));
  assert.equal(restored.memberSetsFetched, storedSets.length);

  const readers = new Map<string, EpochReader>();
  let read = 0;
  for (const event of shuffled(history.timeline)) {
    const epoch = restoredEpochFor(restored, event.epoch, event.epochCreator);
    assert.ok(epoch, `epoch ${event.epoch} by ${event.epochCreator.userId} was restored`);
    const reader = readers.get(epoch.sessionId) ?? epoch.reader;
    const message = decode(mlsMessageCodec, event.ciphertext);
    const got = reader.decrypt(message);
    readers.set(epoch.sessionId, got.reader);
    assert.equal(new TextDecoder().decode(got.data), event.text);
    assert.equal(identityOf(got.sender), creatorIdentity(event.sender));
    read++;
  }
  return read;
}

describe('restoring history on a fresh device', () => {
  test('the history: 50 epochs, members changing, messages from several members', (t) => {
    assert.equal(history.timeline.length, EPOCHS * 3);
    assert.equal(new Set(history.timeline.map((e) => e.epoch)).size, EPOCHS);
    assert.ok(new Set(history.memberCounts).size >= 3, `group sizes ${history.memberCounts}`);
    // Epochs share member sets: fewer are stored than epochs refer to.
    const storedSets = history.store.sessionIds(ROOM_ID).filter((id) => id.startsWith('members|'));
    assert.ok(
      storedSets.length < history.memberSetReferences,
      `${storedSets.length} member sets stored for ${history.memberSetReferences} references`,
    );
    assert.equal(history.store.sessionIds(ROOM_ID).length, EPOCHS + storedSets.length);
    t.diagnostic(
      `${history.timeline.length} messages in ${EPOCHS} epochs; group sizes ` +
        `${Math.min(...history.memberCounts)}-${Math.max(...history.memberCounts)}; ` +
        `${storedSets.length} member sets stored for ${history.memberSetReferences} references; ` +
        `${history.store.storedBytes(ROOM_ID)} bytes stored`,
    );
  });

  test('with only the recovery key, every message of every epoch is read', () => {
    // As a user might type it: other spacing, a line break.
    const typed = `  ${history.recoveryKey.replaceAll(' ', '').replace(/(.{12})/g, '$1\n')}  `;
    const key = unlockWithRecoveryKey(history.store.getVersion(), typed);
    assert.equal(readEverything(key), EPOCHS * 3);
  });

  test('with only the passphrase, every message of every epoch is read', () => {
    const key = unlockWithPassphrase(history.store.getVersion(), PASSPHRASE);
    assert.equal(readEverything(key), EPOCHS * 3);
  });
});
