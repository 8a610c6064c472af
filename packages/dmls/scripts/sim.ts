/**
 * `npm run sim -- --seeds N [--first S] [--steps K] [--jobs J] [--verbose]`: the decentralised-
 * group simulation (test/support/sim/) for seeds S..S+N-1, one line per seed with each
 * property's failure count and what the story did, then each property's total over all seeds.
 * Exits non-zero if any property failed on any seed. `--jobs` runs seeds in that many worker
 * processes (default: 2); `--verbose` prints the first diagnostics of each failed property.
 */
import { fork } from 'node:child_process';
import { Simulation, type PropertyCounts, type SimReport } from '../test/support/sim.js';

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

const seeds = arg('seeds', 10);
const first = arg('first', 1);
const steps = arg('steps', 350);
const jobs = Math.max(1, Math.min(arg('jobs', 2), seeds));
const verbose = process.argv.includes('--verbose');
const worker = process.argv.indexOf('--worker');

const PROPERTIES: readonly [keyof PropertyCounts, string][] = [
  ['disagree', 'devices disagreeing on the tip or exporter secret'],
  ['membership', 'tip members differing from the room'],
  ['removedReads', 'reads by removed devices of epochs after their removal'],
  ['lost', 'honest messages not read by a device holding their epoch'],
  ['retention', 'secrets found past the message window'],
  ['errors', 'exceptions out of the dMLS API'],
];

function line(r: SimReport): string {
  const c = r.counts;
  const s = r.story;
  const m = r.mallory;
  const failed = PROPERTIES.some(([k]) => c[k] > 0);
  const attempts = Object.values(m.attempts).reduce((n, a) => n + a.attempts, 0);
  const refusals: Record<string, number> = {};
  for (const a of Object.values(m.attempts)) {
    for (const [code, n] of Object.entries(a.refused)) refusals[code] = (refusals[code] ?? 0) + n;
  }
  return (
    `seed ${r.seed}: ${failed ? 'FAILED' : 'ok'} · disagree ${c.disagree} · membership ${c.membership} · ` +
    `removed-reads ${c.removedReads} · lost ${c.lost} · retention ${c.retention} · errors ${c.errors} | ` +
    `${s.devices} devices, ${s.messages} msgs, ${s.commits} commits, ${s.forks} forks, ` +
    `${s.backfilled} backfilled, ${s.paginated} paged, ${s.duplicates} dups, ` +
    `partition ${Math.round(s.longestPartitionMs / 1000)} s (fork window ${s.forkWindowMs / 1000} s), ` +
    `offline ${s.offlinePeriods}× ≤${Math.round(s.longestOfflineMs / 1000)} s, ${s.rejoinsPosted} rejoins, ` +
    `${s.quiet ? `quiet ${Math.round(s.healMs / 1000)} s after healing` : 'NOT quiet'} | ` +
    `mallory: ${attempts} attempts, ${m.extensions} extensions, ${m.forgeriesAccepted} forgeries accepted, refused ` +
    `${Object.entries(refusals)
      .sort()
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')} · ${(r.wallMs / 1000).toFixed(1)} s`
  );
}

function details(r: SimReport): string[] {
  const out: string[] = [];
  for (const [k] of PROPERTIES) {
    for (const d of r.details[k].slice(0, 4)) out.push(`  ${k}: ${d.split('\n')[0]}`);
  }
  for (const d of r.story.refusalSamples.slice(0, 4)) out.push(`  honest commit refused: ${d}`);
  out.push(`  rejoin requests: ${JSON.stringify(r.story.rejoinReasons)}`);
  return out;
}

if (worker >= 0) {
  // A worker: runs the seeds it is given and sends each report back.
  const [index, count] = process.argv[worker + 1]!.split('/').map(Number) as [number, number];
  for (let seed = first + index; seed < first + seeds; seed += count) {
    const report = new Simulation({ seed, steps }).run();
    process.send!(report);
  }
  process.exit(0);
}

const reports = new Map<number, SimReport>();
let next = first;
const totals = Object.fromEntries(PROPERTIES.map(([k]) => [k, 0])) as Record<
  keyof PropertyCounts,
  number
>;
const failedSeeds = Object.fromEntries(PROPERTIES.map(([k]) => [k, 0])) as Record<
  keyof PropertyCounts,
  number
>;
let forgeriesAccepted = 0;
let workerFailed = false;

function flush(): void {
  while (reports.has(next)) {
    const r = reports.get(next)!;
    reports.delete(next);
    next++;
    console.log(line(r));
    if (verbose) for (const d of details(r)) console.log(d);
    for (const [k] of PROPERTIES) {
      totals[k] += r.counts[k];
      if (r.counts[k] > 0) failedSeeds[k]++;
    }
    forgeriesAccepted += r.mallory.forgeriesAccepted;
  }
}

function summary(): void {
  console.log(`sim: ${seeds} seeds from ${first}, ${steps} steps each`);
  for (const [k, label] of PROPERTIES) {
    console.log(
      `  ${k.padEnd(12)} ${String(totals[k]).padStart(6)} failures in ${failedSeeds[k]} seed(s): ${label}`,
    );
  }
  console.log(
    `  ${'forgeries'.padEnd(12)} ${String(forgeriesAccepted).padStart(6)} acceptances of forgeries that must be refused`,
  );
  const failed = PROPERTIES.some(([k]) => totals[k] > 0);
  console.log(failed ? 'sim: FAILED' : 'sim: every property held on every seed');
  process.exitCode = failed || workerFailed ? 1 : 0;
}

if (jobs === 1) {
  for (let seed = first; seed < first + seeds; seed++) {
    reports.set(seed, new Simulation({ seed, steps }).run());
    flush();
  }
  summary();
} else {
  let running = jobs;
  for (let i = 0; i < jobs; i++) {
    const child = fork(process.argv[1]!, [...process.argv.slice(2), '--worker', `${i}/${jobs}`], {
      execArgv: process.execArgv,
    });
    child.on('message', (r: SimReport) => {
      reports.set(r.seed, r);
      flush();
    });
    child.on('exit', (code) => {
      if (code !== 0) {
        console.error(`sim: worker ${i} exited with ${code}`);
        workerFailed = true;
      }
      if (--running === 0) {
        flush();
        summary();
      }
    });
  }
}
