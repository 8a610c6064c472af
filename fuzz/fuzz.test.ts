/**
 * A short fuzz pass of every target, run with the tests: a few thousand inputs each (fewer for
 * targets that say so: `shortRuns`), fixed seed. Every input must be accepted or refused with
 * the target's typed error, leave the live states intact, grow no large buffers and not hang
 * (`HANG_BOUND_MS`: the 100 ms speed goal is `npm run fuzz`'s); the seeds must be accepted and
 * the mutants must reach several refusal codes, or the target is not testing what it claims to.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { fuzzTarget, HANG_BOUND_MS, type TargetInstance } from './engine.js';
import { TARGETS } from './targets/index.js';

const SEED = 'trellis-ci';
const RUNS = { decoder: 3000, processing: 2000 } as const;

describe('fuzz: short pass of every target', () => {
  const open: TargetInstance[] = [];
  after(async () => {
    for (const instance of open) await instance.close?.();
  });

  for (const target of TARGETS) {
    test(`${target.name}: ${target.description}`, async () => {
      const instance = await target.setup();
      open.push(instance);
      const runs = target.shortRuns ?? RUNS[target.kind];
      const report = await fuzzTarget(target, instance, {
        runs,
        seed: SEED,
        timeBoundMs: HANG_BOUND_MS,
      });
      const failures = report.failureSamples.map(
        (f) => `#${f.index} ${f.kind}: ${f.message}\ninput ${f.input}\n${f.stack ?? ''}`,
      );
      assert.equal(report.failures, 0, failures.join('\n\n'));
      assert.equal(report.runs, runs);
      assert.ok(report.accepted > 0, 'the seeds are accepted');
      assert.ok(
        Object.keys(report.refused).length >= 3,
        `mutants reach several refusals: ${JSON.stringify(report.refused)}`,
      );
    });
  }
});
