/** Both stores keep the same things the same way; writes are atomic. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { MemoryStore, type Store } from '../src/index.js';
import { SqliteStore } from '../src/sqliteStore.js';

const dir = mkdtempSync(join(tmpdir(), 'trellis-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const kinds: [string, () => Store][] = [
  ['MemoryStore', () => new MemoryStore()],
  ['SqliteStore', () => new SqliteStore(join(dir, `${Math.random().toString(36).slice(2)}.db`))],
];

const bytes = (...values: number[]) => new Uint8Array(values);

for (const [name, make] of kinds) {
  describe(name, () => {
    test('account, values and KeyPackages round-trip', () => {
      const store = make();
      assert.equal(store.account(), undefined);
      const account = {
        homeserver: 'http://h',
        userId: '@a:h',
        deviceId: 'D',
        accessToken: 't',
        suite: 1,
        signaturePublicKey: bytes(1, 2),
        signaturePrivateKey: bytes(3, 4),
      };
      store.setAccount(account);
      assert.deepEqual(store.account(), account);
      store.setValue('x', 'y');
      assert.equal(store.value('x'), 'y');
      store.setValue('x', undefined);
      assert.equal(store.value('x'), undefined);
      store.putKeyPackages([
        { ref: 'r1', lastResort: false, expiresAt: 10, bundle: bytes(9) },
        { ref: 'r2', lastResort: true, expiresAt: 20, retiredAt: 5, bundle: bytes(8) },
      ]);
      assert.deepEqual(store.keyPackage('r2'), {
        ref: 'r2',
        lastResort: true,
        expiresAt: 20,
        retiredAt: 5,
        bundle: bytes(8),
      });
      store.deleteKeyPackages(['r1']);
      assert.deepEqual(
        store.keyPackages().map((k) => k.ref),
        ['r2'],
      );
      store.close();
    });

    test('the cross-signing keys round-trip, are replaced whole, and deleted', () => {
      const store = make();
      assert.equal(store.crossSigning(), undefined);
      const keys = {
        masterKey: 'M',
        selfSigningSeed: new Uint8Array(32).fill(1),
        userSigningSeed: new Uint8Array(32).fill(2),
      };
      store.setCrossSigning(keys);
      assert.deepEqual(store.crossSigning(), keys);
      const next = { ...keys, masterKey: 'N', selfSigningSeed: new Uint8Array(32).fill(3) };
      store.setCrossSigning(next);
      assert.deepEqual(store.crossSigning(), next);
      // A failed transaction leaves the old keys.
      assert.throws(() =>
        store.transaction(() => {
          store.setCrossSigning(undefined);
          throw new Error('abort');
        }),
      );
      assert.deepEqual(store.crossSigning(), next);
      store.setCrossSigning(undefined);
      assert.equal(store.crossSigning(), undefined);
      store.close();
    });

    test('a group is one record per epoch; forgetting the room deletes them all', () => {
      const store = make();
      store.setRoom('!r', '{"membership":"join"}');
      store.saveGroup(
        '!r',
        'meta1',
        [
          { key: '0 a', record: '{}', secrets: bytes(1, 2, 3) },
          { key: '1 a', record: '{}', secrets: bytes(4) },
        ],
        [],
      );
      store.saveGroup('!r', 'meta2', [{ key: '0 a', record: '{"held":"none"}' }], ['1 a']);
      const group = store.group('!r')!;
      assert.equal(group.meta, 'meta2');
      assert.deepEqual(group.epochs, [{ key: '0 a', record: '{"held":"none"}' }]);
      store.setRoom('!r', '{"membership":"join","x":1}');
      assert.ok(store.group('!r'), 'updating the room keeps its group');
      store.deleteRoom('!r');
      assert.equal(store.group('!r'), undefined);
      assert.deepEqual(store.rooms(), []);
      store.close();
    });

    test('backup key and the record of uploaded sessions', () => {
      const store = make();
      store.setBackup({ version: '1', key: bytes(7) });
      store.addBackedUpSessions('1', '!r', ['s1', 's2']);
      assert.deepEqual([...store.backedUpSessions('1', '!r')].sort(), ['s1', 's2']);
      store.setBackup({ version: '2', key: bytes(8) });
      assert.deepEqual(store.backup(), { version: '2', key: bytes(8) });
      assert.equal(store.backedUpSessions('1', '!r').size, 0, 'a new backup starts empty');
      store.close();
    });

    test('a transaction that throws leaves nothing behind', () => {
      const store = make();
      store.setValue('kept', '1');
      assert.throws(() =>
        store.transaction(() => {
          store.setValue('kept', '2');
          store.putKeyPackages([{ ref: 'r', lastResort: false, expiresAt: 1, bundle: bytes(1) }]);
          throw new Error('boom');
        }),
      );
      assert.equal(store.value('kept'), '1');
      assert.deepEqual(store.keyPackages(), []);
      store.close();
    });
  });
}

test('a new SQLite store, its write-ahead log and its lock file are readable by their owner only', () => {
  const path = join(dir, 'private.db');
  const store = new SqliteStore(path);
  store.setValue('secret', 'x');
  for (const file of [path, `${path}-wal`, `${path}.lock`]) {
    assert.equal(statSync(file).mode & 0o777, 0o600, file);
  }
  store.close();
});
