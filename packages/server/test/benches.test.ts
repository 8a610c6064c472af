/**
 * Smoke test of `npm run bench:server`: `--help` answers without running, and a tiny run on
 * SQLite completes with the figures the docs describe. No speed is checked.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runBench, runBenchJson } from '../../mls/test/support/benchRun.js';

const SERVER = 'packages/server/bench/server.ts';

describe('npm run bench:server', () => {
  test('--help prints the usage, with the port and database options, and exits 0', async () => {
    const out = await runBench(SERVER, ['--help']);
    assert.equal(out.code, 0, out.stderr);
    for (const option of ['--sizes', '--quick', '--db', '--pg-url', '--port', '--json']) {
      assert.match(out.stdout, new RegExp(option));
    }
    for (const name of ['TRELLIS_BENCH_DB', 'TRELLIS_BENCH_PG_URL', 'TRELLIS_BENCH_PORT']) {
      assert.match(out.stdout, new RegExp(name));
    }
    assert.doesNotMatch(out.stderr, /benchmarking/);
  });

  test('--quick --sizes 3 --db sqlite --json: claims, upload and its limit, sync p50/p99', async () => {
    const report = await runBenchJson(SERVER, ['--quick', '--sizes', '3', '--db', 'sqlite']);
    const sqlite = report.results.sqlite;
    assert.equal(sqlite.processes, 1);
    for (const key of [
      'claimsPerSecond',
      'bulkUploadMs',
      'bulkUploadLimitMs',
      'backupKeysPerSecond',
    ]) {
      assert.ok(sqlite[key] > 0, key);
    }
    assert.equal(sqlite.sync.length, 1);
    assert.equal(sqlite.sync[0].clients, 3);
    assert.ok(sqlite.sync[0].p99 >= sqlite.sync[0].p50 && sqlite.sync[0].p50 > 0);
    assert.equal(report.results.postgres, undefined);
  });
});
