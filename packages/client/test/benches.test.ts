/**
 * Smoke test of `npm run bench:e2e`: `--help` answers without running, and a tiny run completes
 * with the figures the docs describe. No speed is checked.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runBench, runBenchJson } from '../../mls/test/support/benchRun.js';

const E2E = 'packages/client/bench/e2e.ts';

describe('npm run bench:e2e', () => {
  test('--help prints the usage, with the port and database options, and exits 0', async () => {
    const out = await runBench(E2E, ['--help']);
    assert.equal(out.code, 0, out.stderr);
    for (const option of ['--sizes', '--senders', '--messages', '--db', '--port', '--json']) {
      assert.match(out.stdout, new RegExp(option));
    }
    assert.doesNotMatch(out.stdout, /Trellis bench:e2e/);
  });

  test('a tiny run: convergence in-process, throughput and latency through a server', async () => {
    const report = await runBenchJson(E2E, [
      ...['--sizes', '5', '--http-max', '0', '--ks', '2'],
      ...['--messages', '3', '--senders', '2', '--db', 'sqlite'],
    ]);
    const [sqlite] = report.results;
    assert.equal(sqlite.db, 'sqlite');
    assert.deepEqual(
      sqlite.convergence.map((r: { transport: string; devices: number; k: number }) => [
        r.transport,
        r.devices,
        r.k,
      ]),
      [['in-process', 5, 2]],
    );
    assert.ok(sqlite.convergence[0].rounds >= 1);
    const m = sqlite.messages;
    assert.equal(m.senders, 2);
    assert.equal(m.messages, 3);
    for (const key of ['receivedPerSecond', 'sentPerSecond', 'limitPerSecond'])
      assert.ok(m[key] > 0, key);
    assert.ok(m.latencyMs.p99 >= m.latencyMs.p50 && m.latencyMs.p50 > 0);
  });
});
