/**
 * One process at a time per SQLite store: a second opener, in this process or another, is
 * refused with the holder named; the lock goes when the store is closed, or when its process
 * dies without closing it.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { SqliteStore, StoreLockedError } from '../src/sqliteStore.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/holdStore.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'trellis-lock-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function refusal(path: string): StoreLockedError {
  try {
    new SqliteStore(path).close();
  } catch (error) {
    if (error instanceof StoreLockedError) return error;
    throw error;
  }
  assert.fail(`a second SqliteStore on ${path} was opened`);
}

test('a second store on the same file, in this process or another, is refused until the first is closed', () => {
  const path = join(dir, 'same.db');
  const first = new SqliteStore(path);
  first.setValue('kept', 'yes');
  const error = refusal(path);
  assert.equal(error.code, 'STORE_LOCKED');
  assert.equal(error.path, path);
  if (existsSync('/proc/locks')) {
    assert.equal(error.holder?.pid, process.pid, 'the holder is this process');
    assert.match(error.message, new RegExp(`in use by this process \\(${process.pid}\\)`));
  }
  assert.equal(first.value('kept'), 'yes', 'the first store carries on');
  // The refused attempt left the lock in place for other processes too.
  const other = spawnSync(process.execPath, ['--import', 'tsx', FIXTURE, path], {
    encoding: 'utf8',
  });
  assert.notEqual(other.status, 0, `another process opened the store:\n${other.stdout}`);
  assert.match(other.stderr, /StoreLockedError: the store .* is in use by/);
  first.close();
  const again = new SqliteStore(path);
  assert.equal(again.value('kept'), 'yes');
  again.close();
});

test('a store held by another process is refused with its process id, and freed when it dies', async () => {
  const path = join(dir, 'other.db');
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, path], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('ready')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`the holder exited (${code}) before ready`)));
    });
    const error = refusal(path);
    if (existsSync('/proc/locks')) {
      assert.equal(error.holder?.pid, child.pid);
      assert.match(error.message, new RegExp(`in use by process ${child.pid}`));
    } else {
      assert.match(error.message, /in use by another process/);
    }
  } finally {
    // Killed, not closed: the operating system drops the lock with the process.
    child.kill('SIGKILL');
    await exited;
  }
  const store = new SqliteStore(path);
  assert.equal(store.value('holder'), String(child.pid), 'what the dead holder wrote is kept');
  store.close();
});
