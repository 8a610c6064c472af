import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FORGERIES, PARAMS, Simulation } from './support/sim.js';

const STEPS = 350;

for (const seed of [1, 2, 3]) {
  test(`simulation, seed ${seed}: after healing every property holds, and the story did what it should`, () => {
    const r = new Simulation({ seed, steps: STEPS }).run();
    const s = r.story;
    console.log(
      `seed ${seed}: ${JSON.stringify(r.counts)} · ${s.devices} devices, ${s.messages} messages, ` +
        `${s.commits} commits, ${s.forks} forks, ${s.backfilled} backfilled, ` +
        `partition ${s.longestPartitionMs / 1000} s, ${s.rejoinsPosted} rejoins, ` +
        `${s.quiet ? 'quiet' : 'not quiet'} · mallory ${JSON.stringify(r.mallory.attempts)}`,
    );

    // The story really happened.
    assert.ok(s.forks > 0, 'the room forked');
    assert.ok(s.backfilled > 0, 'devices backfilled commits by event id');
    assert.ok(s.paginated > 0, 'a device back from an absence paged through the gap');
    assert.ok(s.duplicates > 0, 'deliveries were duplicated');
    assert.ok(
      s.longestPartitionMs > PARAMS.forkWindowMs,
      `a partition (${s.longestPartitionMs} ms) outlasted the fork window (${PARAMS.forkWindowMs} ms)`,
    );
    assert.ok(
      s.longestOfflineMs > PARAMS.forkWindowMs,
      'a device was offline past the fork window',
    );

    // The malicious member tried everything, and every forgery was refused by the honest devices.
    for (const kind of [...FORGERIES, 'undo-removal']) {
      const a = r.mallory.attempts[kind];
      assert.ok(a && a.attempts > 0, `Mallory attempted ${kind}`);
      const refusals = Object.values(a.refused).reduce((n, k) => n + k, 0);
      assert.ok(refusals > 0, `${kind} was refused (${JSON.stringify(a.refused)})`);
      assert.equal(a.accepted, 0, `${kind} accepted by an honest device`);
    }
    assert.ok(r.mallory.extensions > 0, 'the removed device extended its old branches');
    assert.equal(r.mallory.forgeriesAccepted, 0);

    // The properties, each a failure count (details name devices, epochs and events).
    for (const [property, count] of Object.entries(r.counts)) {
      const why = r.details[property as keyof typeof r.details].slice(0, 5).join('\n  ');
      assert.equal(count, 0, `${property}: ${count} failure(s)\n  ${why}`);
    }
  });
}
