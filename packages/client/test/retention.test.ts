/**
 * Retention over real HTTP, with the client's clock moved past the windows: a superseded epoch
 * keeps only message keys after the fork window and nothing after the message window; its
 * secrets are then gone from memory and from the SQLite file (its bytes are searched, WAL
 * included), its late messages are refused with a clear reason, and a restarted client still
 * refuses them.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import type { EpochId, RoomEventContent } from '@trellis/dmls';
import { Client } from '../src/index.js';
import { SqliteStore } from '../src/sqliteStore.js';
import { startServer } from './helpers/server.js';
import { converged, Devices, FAST, register, until, watch } from './helpers/clients.js';

const WINDOW = 60_000;
const retention = { forkWindowMs: WINDOW, messageWindowMs: WINDOW };

/** Whether any of `secrets` appears in the database file or its write-ahead log. */
function foundInFiles(path: string, secrets: readonly Uint8Array[]): boolean {
  const files = [path, `${path}-wal`].filter(existsSync).map((f) => readFileSync(f));
  return secrets.some((s) => files.some((bytes) => bytes.indexOf(Buffer.from(s)) >= 0));
}

function storedRow(path: string, roomId: string, key: string) {
  const db = new Database(path, { readonly: true });
  try {
    return db
      .prepare('select record, secrets from epochs where room_id = ? and epoch_key = ?')
      .get(roomId, key) as { record: string; secrets: Buffer | null } | undefined;
  } finally {
    db.close();
  }
}

test('old epochs lose their secrets after the windows, in memory and in the store', async () => {
  const server = await startServer();
  const devices = new Devices();
  after(async () => {
    await devices.stopAll();
    await server.close();
  });
  let offset = 0;
  const clock = () => Date.now() + offset;
  const dbPath = join(server.dir, 'alice.db');

  const options = { ...FAST, retention, clock, baseUrl: server.url };
  const alice = devices.add(
    watch(
      await Client.register({
        ...options,
        store: new SqliteStore(dbPath),
        username: 'alice',
        password: 'pw',
      }),
      'alice',
    ),
  );
  const bob = devices.add(await register(server.url, 'bob', { retention, clock }));
  alice.client.start();
  bob.client.start();
  const roomId = await alice.client.createRoom({ invite: [bob.client.userId] });
  await until('bob invited', () => bob.client.room(roomId)?.membership === 'invite');
  await bob.client.joinRoom(roomId);
  await until('one group', () => converged(roomId, [alice, bob]));

  // The epoch whose secrets we follow, and messages in it that bob holds back ("late").
  const { epoch: old, key: oldKey }: { epoch: EpochId; key: string } = alice.client
    .room(roomId)!
    .current()!;
  const node = alice.client.room(roomId)!.group!.epoch(oldKey)!;
  assert.equal(node.held.kind, 'full');
  const secrets = node.held.kind === 'full' ? node.held.state.secrets : undefined;
  const all = [
    secrets!.encryptionSecret,
    secrets!.senderDataSecret,
    secrets!.initSecret,
    secrets!.exporterSecret,
  ];
  const bobGroup = bob.client.room(roomId)!.group!;
  const late = ['late 1', 'late 2', 'late 3'].map((body) =>
    bobGroup.encrypt('m.room.message', { msgtype: 'm.text', body }),
  );
  const sendLate = (content: RoomEventContent, i: number) =>
    bob.client.http.sendEvent(roomId, 'm.room.encrypted', `late-${i}`, content);

  await alice.client.rotateKeys(roomId);
  await until('bob follows', () => converged(roomId, [alice, bob]));
  assert.ok(foundInFiles(dbPath, all), 'the scan finds the secrets while they are kept');

  // Past the fork window: only what decrypts the epoch's messages is left.
  offset += WINDOW + 1_000;
  assert.ok(alice.client.prune() >= 1);
  const room = alice.client.room(roomId)!;
  assert.equal(room.group!.epoch(oldKey)!.held.kind, 'messages');
  assert.equal(JSON.parse(storedRow(dbPath, roomId, oldKey)!.record).held, 'messages');
  assert.ok(!foundInFiles(dbPath, [secrets!.initSecret, secrets!.exporterSecret]));

  await sendLate(late[0]!, 0);
  await until('a late message is still read', () => alice.bodies(roomId).includes('late 1'));
  assert.deepEqual(alice.messages.find((m) => m.content.body === 'late 1')!.epoch, old);

  // Past the message window too: nothing is left.
  offset += WINDOW + 1_000;
  assert.ok(alice.client.prune() >= 1);
  assert.equal(room.group!.epoch(oldKey)!.held.kind, 'none', 'gone from memory');
  const row = storedRow(dbPath, roomId, oldKey)!;
  assert.equal(row.secrets, null, 'gone from the store');
  assert.equal(JSON.parse(row.record).held, 'none');
  assert.ok(!foundInFiles(dbPath, all), 'no byte of the secrets is left in the files');

  await sendLate(late[1]!, 1);
  await until('refused', () => alice.failures.some((f) => f.code === 'EPOCH_EXPIRED'));
  const refusal = alice.failures.find((f) => f.code === 'EPOCH_EXPIRED')!;
  assert.match(refusal.reason, /deleted \(retention\)/);
  assert.equal(refusal.sender, bob.client.userId);
  assert.ok(!alice.bodies(roomId).includes('late 2'));

  // A restarted client does not bring the epoch back, and refuses the same way.
  await alice.client.close();
  const again = devices.add(
    watch(Client.open({ ...options, store: new SqliteStore(dbPath) }), 'alice again'),
  );
  assert.equal(again.client.room(roomId)!.group!.epoch(oldKey)!.held.kind, 'none');
  again.client.start();
  await sendLate(late[2]!, 2);
  await until('refused after a restart', () =>
    again.failures.some((f) => f.code === 'EPOCH_EXPIRED'),
  );
  assert.ok(!again.bodies(roomId).includes('late 3'));
  // Current epochs are unaffected.
  await bob.client.sendText(roomId, 'still talking');
  await until('current messages read', () => again.bodies(roomId).includes('still talking'));
  await again.client.close();
});
