/**
 * Replays every input in fuzz/regressions/: each once made a target fail (or is kept because it
 * probes a limit). Each must now be accepted or refused with the target's typed error, with the
 * live states intact, without allocating a large buffer (measured, allocationMeter.ts) and
 * without hanging (`HANG_BOUND_MS`, a bound far beyond a loaded machine, not a speed goal).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { meterAllocationsUntilSettled } from '../packages/mls/test/support/allocationMeter.js';
import { attempt, HANG_BOUND_MS, type TargetInstance } from './engine.js';
import { targetNamed } from './targets/index.js';

interface Regression {
  target: string;
  /** Why the input is here: what it did, and what fixed it. */
  note: string;
  /** The input, hex. */
  input: string;
}

/** A buffer no input of a few kilobytes has reason to allocate. */
const LARGE_BUFFER = 64 * 1024 * 1024;
const DIR = new URL('./regressions/', import.meta.url);
const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

describe('fuzz regressions', () => {
  const instances = new Map<string, TargetInstance>();
  after(async () => {
    for (const instance of instances.values()) await instance.close?.();
  });

  test('there are regression inputs to replay', () => {
    assert.ok(files.length > 0);
  });

  for (const file of files) {
    const regression = JSON.parse(readFileSync(new URL(file, DIR), 'utf8')) as Regression;
    test(`${file}: ${regression.note}`, async () => {
      const target = targetNamed(regression.target);
      assert.ok(target, `target ${regression.target} exists`);
      let instance = instances.get(target.name);
      if (!instance) {
        instance = await target.setup();
        instances.set(target.name, instance);
      }
      const input = new Uint8Array(Buffer.from(regression.input, 'hex'));
      const result = await attempt(instance, input);
      assert.notEqual(
        result.kind,
        'failure',
        result.kind === 'failure' ? `${result.failure.message}\n${result.failure.stack}` : '',
      );
      // Again once warm (the first run of a target pays for loading code), measured: what it
      // allocates (with whatever else ran meanwhile: an in-process server) and whether it hangs.
      const { value: again, allocations } = await meterAllocationsUntilSettled(() =>
        attempt(instance, input),
      );
      assert.notEqual(again.kind, 'failure');
      assert.ok(
        allocations.largest < LARGE_BUFFER,
        `allocated a buffer of ${allocations.largest} bytes`,
      );
      assert.ok(again.ms < HANG_BOUND_MS, `hangs: took ${again.ms.toFixed(1)} ms`);
    });
  }
});
