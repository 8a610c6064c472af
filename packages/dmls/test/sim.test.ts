import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FORGERIES, PARAMS, Simulation, TOLERATED } from './support/sim.js';

const STEPS = 350;
type Report = ReturnType<Simulation['run']>;
type Property = keyof Report['counts'];
const PROPERTIES: Property[] = [
  'disagree',
  'membership',
  'removedReads',
  'lost',
  'retention',
  'errors',
];

for (const seed of [1, 2, 3]) {
  test(`simulation, seed ${seed}: the story happened, and every property holds`, () => {
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

    // The malicious member tried everything, and was refused.
    assert.ok(r.mallory.attempts['undo-removal']!.attempts > 0, 'Mallory tried to undo a removal');
    for (const kind of FORGERIES) {
      const a = r.mallory.attempts[kind];
      assert.ok(a && a.attempts > 0, `Mallory attempted ${kind}`);
      const refusals = Object.values(a.refused).reduce((n, k) => n + k, 0);
      assert.ok(refusals > 0, `${kind} was refused (${JSON.stringify(a.refused)})`);
    }
    for (const kind of TOLERATED) {
      assert.ok(r.mallory.attempts[kind]?.attempts, `Mallory attempted ${kind}`);
    }
    assert.ok(r.mallory.extensions > 0, 'the removed device extended its old branches');

    // Every property, each a failure count (details name devices and events): one tip and one
    // exporter secret for every honest device, tip members = room devices, no read by a removed
    // device, nothing lost, nothing retained past the window, no exception.
    for (const property of PROPERTIES) {
      const why = r.details[property].slice(0, 5).join('\n  ');
      assert.equal(
        r.counts[property],
        0,
        `${property}: ${r.counts[property]} failure(s)\n  ${why}`,
      );
    }
    assert.equal(r.mallory.forgeriesAccepted, 0, 'forgeries accepted by an honest device');
  });
}
