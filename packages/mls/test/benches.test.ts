/**
 * Smoke tests of `npm run bench` and `npm run bench:crypto`: `--help` answers without running,
 * and a tiny run completes with the columns and JSON keys the docs describe. No speed is checked.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runBench, runBenchJson } from './support/benchRun.js';

const GROUPS = 'packages/mls/bench/groups.ts';
const CRYPTO = 'packages/mls/bench/crypto.ts';

/** Every operation of the group bench, in table order (docs/performance.md). */
const OPERATIONS = [
  'build',
  'sparse.join',
  'sparse.path.create',
  'sparse.path.process',
  'sparse.add.create',
  'sparse.add.process',
  'sparse.remove.create',
  'sparse.remove.process',
  'sparse.state',
  'encrypt',
  'decrypt',
  'full.build',
  'full.path.create',
  'full.path.process',
  'full.add.create',
  'full.add.process',
  'full.join',
  'full.remove.create',
  'full.remove.process',
  'full.state',
];
/** The operations whose cryptographic limit is given. */
const LIMITED = OPERATIONS.filter((id) => !id.endsWith('.state') && id !== 'full.build');

describe('npm run bench', () => {
  test('--help prints the usage and exits 0 without running', async () => {
    const out = await runBench(GROUPS, ['--help']);
    assert.equal(out.code, 0, out.stderr);
    for (const option of ['--sizes', '--budget', '--ts-mls', '--quick', '--json', '--help']) {
      assert.match(out.stdout, new RegExp(option), option);
    }
    assert.doesNotMatch(out.stdout, /N = /);
  });

  test('a bad option exits 2 with the usage', async () => {
    const out = await runBench(GROUPS, ['--sizes', '2']);
    assert.equal(out.code, 2);
    assert.match(out.stderr, /--sizes/);
  });

  test('--sizes 8 --quick --json: every operation of every library, limits and ratios', async () => {
    const report = await runBenchJson(GROUPS, ['--sizes', '8', '--quick']);
    assert.deepEqual(
      report.libraries.map((l: { key: string }) => l.key),
      ['trellis', 'tsMlsNode', 'tsMlsDefault'],
    );
    assert.equal(report.sizes.length, 1);
    const [size] = report.sizes;
    assert.equal(size.n, 8);
    assert.deepEqual(
      Object.keys(size.primitivesMicroseconds).sort(),
      Object.keys(report.primitives).sort(),
    );
    assert.deepEqual(
      size.operations.map((o: { id: string }) => o.id),
      OPERATIONS,
    );
    for (const op of size.operations) {
      for (const lib of ['trellis', 'tsMlsNode', 'tsMlsDefault']) {
        assert.ok(
          'value' in op.results[lib],
          `${lib} ${op.id}: ${JSON.stringify(op.results[lib])}`,
        );
      }
      if (op.id === 'full.build') assert.deepEqual(op.ratios, {}, 'different work, no ratio');
      else assert.ok(op.ratios.tsMlsNode > 0 && op.ratios.tsMlsDefault > 0, op.id);
      if (LIMITED.includes(op.id)) {
        assert.ok(op.limit.value > 0 && op.ofLimit > 0, `${op.id} has a limit`);
        assert.match(op.limit.work, /verify|sign/, op.id);
      } else assert.equal(op.limit, undefined, op.id);
    }
  });

  test('the table, with ts-mls stopped by a budget it cannot meet', async () => {
    const args = ['--sizes', '6', '--quick', '--ts-mls', 'node', '--budget', '0.001'];
    const out = await runBench(GROUPS, args);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^N = 6$/m);
    assert.match(out.stdout, /operation +Trellis +limit +of limit +ts-mls node:crypto +ratio/);
    assert.match(out.stdout, /full tree \(every split parent set by real commits/);
    assert.match(out.stdout, /join from its Welcome/);
    assert.match(out.stdout, /node:crypto primitives: sign/);
    assert.match(out.stdout, /build: one commit adding N−1 members .* not in 0\.001 s/);
    assert.match(
      out.stdout,
      /ts-mls node:crypto, build: did not finish within its budget of 0\.001 s/,
    );
    assert.doesNotMatch(out.stdout, /estimate/);
  });
});

describe('npm run bench:crypto', () => {
  test('--help prints the usage and exits 0', async () => {
    const out = await runBench(CRYPTO, ['--help']);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /--sizes/);
    assert.match(out.stdout, /--duration/);
  });

  test('--sizes 64 --json: a rate per provider for every primitive', async () => {
    const report = await runBenchJson(CRYPTO, [
      '--sizes',
      '64',
      '--duration',
      '5',
      '--cold-keys',
      '8',
    ]);
    const rows = Object.entries(report.opsPerSecond as Record<string, Record<string, number>>);
    assert.ok(rows.some(([name]) => name === 'Ed25519 64 B verify'));
    assert.ok(rows.some(([name]) => name === 'AES-128-GCM seal 64 B'));
    for (const [name, row] of rows) {
      assert.deepEqual(Object.keys(row).sort(), ['node', 'portable'], name);
      for (const rate of Object.values(row)) assert.ok(rate > 0, name);
    }
  });
});
