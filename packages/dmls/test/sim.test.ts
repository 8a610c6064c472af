import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Simulation } from './support/sim.js';

for (const seed of [1, 2, 3]) {
  test(`simulation, seed ${seed}: 8 users, 500 steps, converges and every member reads`, () => {
    const report = new Simulation({ seed, steps: 500, users: 8 }).run();
    console.log(
      `seed ${seed}: ${report.devices} devices, ${report.messages} messages, ${report.forks} forks, ` +
        `${report.backfilled} commit events backfilled, ` +
        `${report.resolutionRounds} rounds to one tip (${report.settleRounds} to settle), ` +
        `tip ${report.tip}, ${report.decrypted} decryptions`,
    );
    assert.deepEqual(report.violations, []);
    assert.deepEqual(report.missing.slice(0, 5), []);
    assert.ok(report.forks > 0 && report.backfilled > 0, 'the story forked and backfilled');
    assert.ok(report.resolutionRounds <= 5, `${report.resolutionRounds} rounds to one tip`);
    assert.ok(report.settleRounds < 100, 'every lost update is made up');
  });
}
