/**
 * The SQLite store deletes epoch secrets for real as each write returns: the bytes of replaced
 * or deleted secrets are in neither the database file nor its write-ahead log, and writes that
 * drop no secrets do not pay for a checkpoint.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { SqliteStore } from '../src/sqliteStore.js';

const dir = mkdtempSync(join(tmpdir(), 'trellis-scrub-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const MARKER = new Uint8Array(randomBytes(16));

/** Random bytes of `size` with the marker at a few places (or none), never by chance. */
function secretsOf(size: number, marked: boolean): Uint8Array {
  for (;;) {
    const out = new Uint8Array(randomBytes(size));
    if (marked) {
      for (const at of [0, Math.floor(size / 2), size - MARKER.length]) out.set(MARKER, at);
      return out;
    }
    if (Buffer.from(out).indexOf(MARKER) < 0) return out;
  }
}

/** The files of the store at `path` that hold the marker. */
function markedFiles(path: string): string[] {
  return [path, `${path}-wal`, `${path}-shm`]
    .filter((f) => existsSync(f) && readFileSync(f).indexOf(MARKER) >= 0)
    .map((f) => f.slice(path.length) || 'main');
}

function open(): { store: SqliteStore; path: string } {
  const path = join(dir, `${Math.random().toString(36).slice(2)}.db`);
  const store = new SqliteStore(path);
  store.setRoom('!r', '{"membership":"join"}');
  return { store, path };
}

// Inline in a page, and spread over overflow pages (a group state is several KB).
for (const [what, size] of [
  ['small secrets', 200],
  ['large secrets', 20_000],
] as const) {
  describe(`SqliteStore scrubs replaced and deleted epoch secrets (${what})`, () => {
    test('replaced by other secrets, or by none', () => {
      const { store, path } = open();
      store.saveGroup('!r', 'm', [{ key: 'e', record: '{}', secrets: secretsOf(size, true) }], []);
      assert.deepEqual(markedFiles(path), ['-wal'], 'the marker is written (to the WAL)');
      const before = store.checkpoints;
      const unmarked = secretsOf(size, false);
      store.saveGroup('!r', 'm', [{ key: 'e', record: '{}', secrets: unmarked }], []);
      assert.deepEqual(markedFiles(path), []);
      assert.equal(store.checkpoints, before + 1, 'one checkpoint for the save');
      assert.deepEqual(store.group('!r')!.epochs[0]!.secrets, unmarked);

      store.saveGroup('!r', 'm', [{ key: 'f', record: '{}', secrets: secretsOf(size, true) }], []);
      assert.deepEqual(markedFiles(path), ['-wal']);
      store.saveGroup('!r', 'm', [{ key: 'f', record: '{"held":"none"}' }], []);
      assert.deepEqual(markedFiles(path), []);
      assert.equal(store.checkpoints, before + 2);
      store.close();
      assert.deepEqual(markedFiles(path), []);
    });

    test('deleted with the epoch, or with the room', () => {
      const { store, path } = open();
      store.saveGroup('!r', 'm', [{ key: 'e', record: '{}', secrets: secretsOf(size, true) }], []);
      const before = store.checkpoints;
      store.saveGroup('!r', 'm', [], ['e']);
      assert.deepEqual(markedFiles(path), []);
      assert.equal(store.checkpoints, before + 1);
      assert.deepEqual(store.group('!r')!.epochs, []);

      store.saveGroup('!r', 'm', [{ key: 'e', record: '{}', secrets: secretsOf(size, true) }], []);
      store.scrub(); // the marker, still current, moves to the main file
      assert.deepEqual(markedFiles(path), ['main']);
      store.deleteRoom('!r');
      assert.deepEqual(markedFiles(path), []);
      assert.equal(store.group('!r'), undefined);
      store.close();
    });

    test('writes that drop no secrets do not checkpoint; a transaction checkpoints once', () => {
      const { store, path } = open();
      const secrets = secretsOf(size, true);
      const before = store.checkpoints;
      store.saveGroup('!r', 'm', [{ key: 'e', record: '{}', secrets }], []);
      store.saveGroup('!r', 'm2', [{ key: 'e', record: '{"superseded":1}', secrets }], []);
      store.saveGroup(
        '!r',
        'm3',
        [{ key: 'g', record: '{}', secrets: secretsOf(size, false) }],
        [],
      );
      store.saveGroup('!r', 'm4', [{ key: 'h', record: '{}' }], ['no such epoch', 'h']);
      store.setValue('since', 's1');
      assert.equal(store.checkpoints, before, 'nothing was dropped');
      assert.deepEqual(markedFiles(path), ['-wal'], 'the current secrets stay');

      store.transaction(() => {
        store.saveGroup(
          '!r',
          'm',
          [{ key: 'e', record: '{}', secrets: secretsOf(size, false) }],
          [],
        );
        assert.equal(store.checkpoints, before, 'not inside the transaction');
        store.saveGroup('!r', 'm', [], ['g']);
      });
      assert.equal(store.checkpoints, before + 1);
      assert.deepEqual(markedFiles(path), []);
      store.close();
    });
  });
}
