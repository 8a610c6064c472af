/**
 * Smoke test of `npm run bench:backup`: `--help` answers without running, and a tiny run
 * completes with the figures the docs describe. No speed is checked.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runBench, runBenchJson } from '../../mls/test/support/benchRun.js';

const BACKUP = 'packages/backup/bench/backup.ts';

describe('npm run bench:backup', () => {
  test('--help prints the usage and exits 0', async () => {
    const out = await runBench(BACKUP, ['--help']);
    assert.equal(out.code, 0, out.stderr);
    for (const option of ['--sizes', '--epochs', '--json'])
      assert.match(out.stdout, new RegExp(option));
    assert.doesNotMatch(out.stdout, /history built/);
  });

  test('--sizes 6 --epochs 3 --json: bytes and rates with and without deduplication', async () => {
    const report = await runBenchJson(BACKUP, ['--sizes', '6', '--epochs', '3']);
    assert.equal(report.epochs, 3);
    assert.deepEqual(
      report.groups.map((g: { members: number; dedupe: boolean }) => [g.members, g.dedupe]),
      [
        [6, false],
        [6, true],
      ],
    );
    for (const g of [...report.groups, ...report.membersPerSet.sweep]) {
      for (const key of ['entries', 'bytes', 'backupEpochsPerSecond', 'restoreEpochsPerSecond']) {
        assert.ok(g[key] > 0, `${key}: ${JSON.stringify(g)}`);
      }
    }
  });
});
