/**
 * `npm run fuzz -- [options]`: fuzzes every target (or those named) and prints, per target,
 * inputs tried, accepted, refused by code, and failures. Exits 1 if anything failed; each
 * failing input is written to fuzz/findings/ for a regression file.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { DEFAULT_TIME_BOUND_MS, fuzzTarget, type TargetReport } from './engine.js';
import { runPool } from './pool.js';
import { TARGETS } from './targets/index.js';

const USAGE = `npm run fuzz -- [options]

  --runs N             inputs per decoder target (default 20000)
  --processing-runs M  inputs per processing target (default N / 10)
  --seed S             seed of every random choice (default "trellis")
  --target a,b         only these targets (default all); --list names them
  --jobs J             targets fuzzed at once, one worker thread each (default: cores, at most 2)
  --time-bound MS      per-input bound; slower three times in a row is a failure (default ${DEFAULT_TIME_BOUND_MS})
  --hang MS            an input running this long is a hang (default 10000)
  --in-process         no worker threads (no hang watchdog)
  --json               print the reports as JSON
  --list               list the targets`;

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20000' },
    'processing-runs': { type: 'string' },
    seed: { type: 'string', default: 'trellis' },
    target: { type: 'string' },
    jobs: { type: 'string' },
    'time-bound': { type: 'string', default: String(DEFAULT_TIME_BOUND_MS) },
    hang: { type: 'string', default: '10000' },
    'in-process': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    list: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (values.list) {
  for (const t of TARGETS)
    console.log(`${t.name.padEnd(20)} ${t.kind.padEnd(11)} ${t.description}`);
  process.exit(0);
}

const runs = Number(values.runs);
const processingRuns = Number(values['processing-runs'] ?? Math.max(1, Math.floor(runs / 10)));
const names = values.target?.split(',').map((n) => n.trim());
const unknown = names?.filter((n) => !TARGETS.some((t) => t.name === n)) ?? [];
if (unknown.length > 0 || !Number.isSafeInteger(runs) || runs < 1) {
  console.error(unknown.length > 0 ? `unknown target(s): ${unknown.join(', ')}` : 'bad --runs');
  console.error(USAGE);
  process.exit(2);
}
const targets = TARGETS.filter((t) => !names || names.includes(t.name));
const tasks = targets.map((t) => ({
  target: t.name,
  runs: t.kind === 'decoder' ? runs : processingRuns,
}));
const seed = values.seed!;
const timeBoundMs = Number(values['time-bound']);
const jobs = Number(values.jobs ?? Math.min(2, availableParallelism()));
const log = (line: string) => {
  if (!values.json) process.stderr.write(`${line}\n`);
};

const started = performance.now();
log(
  `fuzzing ${tasks.length} targets, seed "${seed}", ${runs} inputs per decoder and ${processingRuns} per processing target, bound ${timeBoundMs} ms`,
);
let reports: TargetReport[];
if (values['in-process']) {
  reports = [];
  for (const [i, target] of targets.entries()) {
    const instance = await target.setup();
    try {
      reports.push(await fuzzTarget(target, instance, { runs: tasks[i]!.runs, seed, timeBoundMs }));
    } finally {
      await instance.close?.();
    }
    log(`done ${target.name}`);
  }
} else {
  reports = await runPool(tasks, {
    seed,
    timeBoundMs,
    jobs,
    hangMs: Number(values.hang),
    onProgress: (r) => log(`  ${r.target}: ${r.runs} inputs, ${r.failures} failures`),
    onDone: (r) =>
      log(`done ${r.target}: ${r.runs} inputs in ${(r.durationMs / 1000).toFixed(1)} s`),
  });
}
const wallSeconds = (performance.now() - started) / 1000;

const failed = reports.filter((r) => r.failures > 0);
if (failed.length > 0) {
  const dir = new URL('./findings/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  for (const r of failed) {
    for (const f of r.failureSamples) {
      const file = new URL(`${r.target}-${r.seed}-${f.index}.json`, dir);
      writeFileSync(file, `${JSON.stringify({ target: r.target, seed: r.seed, ...f }, null, 2)}\n`);
    }
  }
}

if (values.json) {
  console.log(JSON.stringify({ seed, wallSeconds, reports }, null, 2));
} else {
  console.log(formatReports(reports, seed, wallSeconds));
}
process.exit(failed.length > 0 ? 1 : 0);

function formatReports(list: TargetReport[], runSeed: string, seconds: number): string {
  const rows = list.map((r) => [
    r.target,
    r.kind,
    String(r.runs),
    String(r.accepted),
    String(Object.values(r.refused).reduce((a, b) => a + b, 0)),
    String(r.failures),
    String(r.retimed),
    r.slowestMs.toFixed(1),
    (r.durationMs / 1000).toFixed(1),
    String(Math.round(r.runs / Math.max(r.durationMs / 1000, 1e-9))),
  ]);
  const header = [
    'target',
    'kind',
    'inputs',
    'accepted',
    'refused',
    'failures',
    'retimed',
    'slowest ms',
    'seconds',
    'inputs/s',
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const out = [
    line(header),
    `|${widths.map((w, i) => (i < 2 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
    ...rows.map(line),
    '',
    'refused, by code:',
  ];
  for (const r of list) {
    const codes = Object.entries(r.refused)
      .sort((a, b) => b[1] - a[1])
      .map(([code, n]) => `${code} ${n}`)
      .join(', ');
    out.push(`  ${r.target}: ${codes}`);
  }
  for (const r of list.filter((x) => x.failureSamples.length > 0)) {
    out.push('', `failures of ${r.target} (inputs in fuzz/findings/):`);
    for (const f of r.failureSamples) out.push(`  #${f.index} ${f.kind}: ${f.message}`);
  }
  const total = list.reduce((a, r) => a + r.runs, 0);
  const failures = list.reduce((a, r) => a + r.failures, 0);
  out.push(
    '',
    `${total} inputs, ${failures} failures, seed "${runSeed}", ${seconds.toFixed(0)} s wall`,
  );
  return out.join('\n');
}
