/**
 * `npm run sim -- --seeds N [--first S] [--steps K]`: the decentralised-group simulation for many
 * seeds, one line each, and a total. Exits non-zero if any seed breaks an invariant.
 */
import { Simulation } from '../test/support/sim.js';

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

const seeds = arg('seeds', 10);
const first = arg('first', 1);
const steps = arg('steps', 500);
let failures = 0;
for (let seed = first; seed < first + seeds; seed++) {
  const started = performance.now();
  const r = new Simulation({ seed, steps, users: 8 }).run();
  const ok = r.violations.length === 0 && r.missing.length === 0;
  if (!ok) failures++;
  console.log(
    `seed ${seed}: ${ok ? 'ok' : 'FAILED'} · ${r.devices} devices, ${r.messages} messages, ` +
      `${r.forks} forks, ${r.backfilled} backfilled, one tip after ${r.resolutionRounds} ` +
      `round(s), settled after ${r.settleRounds} · tip ${r.tip} · ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  for (const v of [...r.violations, ...r.missing].slice(0, 5)) console.log(`  ${v}`);
}
console.log(`sim: ${seeds - failures} of ${seeds} seeds held every invariant`);
process.exitCode = failures === 0 ? 0 : 1;
