/**
 * `npm run bench`: group operations of Trellis beside their cryptographic limit and beside ts-mls
 * 1.6.4 on two providers, in cipher suite 1 (MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519), for
 * groups of N = 100, 1,000 and 10,000 members. See docs/performance.md for what each figure
 * means and `--help` for the options.
 *
 * For each N, the three libraries run interleaved in this process, operation by operation:
 * Trellis (node provider), ts-mls on node:crypto (a CiphersuiteImpl over the same node:crypto
 * calls) and ts-mls on its default provider. Every operation works on wire bytes (commits,
 * Welcomes and messages are encoded when made and decoded when received) and is pure, so it is
 * repeated from the same state while that stays cheap and the median is reported. ts-mls gets a
 * time budget per operation; where it does not finish, the table says so with that budget.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { readBenchOptions } from './cli.js';
import { measurePrimitives, PRIMITIVES } from './limits.js';
import { primitiveLines, printSize, rowsFor, type Library, type SizeResult } from './report.js';
import { MESSAGE_BYTES, runSide, type SideResult, type Timing } from './run.js';
import { trellis, tsMlsSide, type Side } from './sides.js';
import { TS_MLS_VERSION, TsMls, tsKeyPackages, type TsKeyPackage } from './tsmls.js';
import {
  Budget,
  guarded,
  ignoreStoppedBranches,
  SUITE_NAME,
  tsCiphersuite,
  type TsProviderName,
} from './tsmlsProviders.js';

const USAGE = `npm run bench -- [options]

Group operations of Trellis beside node:crypto's limit for their cryptography and beside
ts-mls ${TS_MLS_VERSION} on node:crypto and on its default provider (docs/performance.md).

  --sizes <list>     group sizes, comma-separated, each ≥ 4 (100,1000,10000)
  --budget <s>       seconds ts-mls gets per operation before it is stopped (60)
  --ts-mls <list>    ts-mls providers to run: node, default, both (node,default) or none
  --quick            one run per operation, few messages, short primitive timings: checks
                     that the bench works; its figures mean nothing
  --json             one JSON object instead of the tables
  --help             this text
`;

interface Options {
  sizes: number[];
  budgetMs: number;
  tsProviders: TsProviderName[];
  quick: boolean;
  json: boolean;
}

function readOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      sizes: { type: 'string' },
      budget: { type: 'string' },
      'ts-mls': { type: 'string' },
      quick: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return 'help';
  const sizes = (values.sizes ?? '100,1000,10000').split(',').map((s) => Number(s.trim()));
  if (sizes.some((n) => !Number.isInteger(n) || n < 4)) {
    throw new Error(`--sizes wants integers ≥ 4, not "${values.sizes}"`);
  }
  const budget = Number(values.budget ?? 60);
  if (!(budget > 0)) throw new Error(`--budget wants a positive number of seconds`);
  const ts = values['ts-mls'] ?? 'node,default';
  const tsProviders = ts === 'none' ? [] : ts.split(',').map((p) => p.trim());
  for (const p of tsProviders) {
    if (p !== 'node' && p !== 'default') throw new Error(`--ts-mls: unknown provider "${p}"`);
  }
  return {
    sizes: [...new Set(sizes)].sort((a, b) => a - b),
    budgetMs: budget * 1000,
    tsProviders: tsProviders as TsProviderName[],
    quick: values.quick ?? false,
    json: values.json ?? false,
  };
}

const TS_NAMES: Record<TsProviderName, string> = {
  node: 'ts-mls node:crypto',
  default: 'ts-mls default',
};

/** Sides of different state types, driven alike. */
type AnySide = Side<any, any>;

/**
 * ts-mls KeyPackages for one size, made once on node:crypto and shared by both providers (they
 * are plain bytes either way); only the latest size's are kept.
 */
function sharedTsKeyPackages(): (count: number, tag: string) => Promise<TsKeyPackage[]> {
  let latest: { key: string; made: Promise<TsKeyPackage[]> } | undefined;
  return (count, tag) => {
    const key = `${tag}/${count}`;
    if (latest?.key !== key) {
      latest = { key, made: tsCiphersuite('node').then((cs) => tsKeyPackages(cs, count, tag)) };
    }
    return latest.made;
  };
}

async function sides(providers: TsProviderName[]): Promise<AnySide[]> {
  const keyPackages = sharedTsKeyPackages();
  const out: AnySide[] = [trellis];
  for (const provider of providers) {
    const budget = new Budget();
    const lib = new TsMls(guarded(await tsCiphersuite(provider), budget));
    out.push(
      tsMlsSide(
        `tsMls${provider === 'node' ? 'Node' : 'Default'}`,
        TS_NAMES[provider],
        lib,
        budget,
        keyPackages,
      ),
    );
  }
  return out;
}

/** Runs every side at size `n`, interleaved operation by operation. */
async function runSize(
  all: AnySide[],
  n: number,
  timing: Timing,
  primitiveMs: number,
  progress: (text: string) => void,
): Promise<SizeResult> {
  progress(`N=${n} node:crypto primitives`);
  const primitives = measurePrimitives(primitiveMs);
  const runs = [];
  const made: string[] = [];
  for (const side of all) {
    progress(`${side.name} N=${n} KeyPackages`);
    const start = performance.now();
    const kps = await side.keyPackages(n + 1, `n${n}`);
    const seconds = (performance.now() - start) / 1000;
    // ts-mls's are made once on node:crypto and shared by both of its providers.
    if (side === trellis) made.push(`Trellis ${seconds.toFixed(1)} s`);
    else if (made.length === 1)
      made.push(`ts-mls ${seconds.toFixed(1)} s (on node:crypto, for both providers)`);
    runs.push(runSide(side, n, kps, timing, progress));
  }
  const notes = [`${n + 1} KeyPackages per library made beforehand, not timed: ${made.join(', ')}`];
  const results = new Map<AnySide, SideResult>();
  let active = runs.map((run, i) => ({ run, side: all[i]! }));
  while (active.length > 0) {
    const next = [];
    for (const a of active) {
      const step = await a.run.next();
      if (step.done) results.set(a.side, step.value);
      else next.push(a);
    }
    active = next;
  }
  const outcomes: SizeResult['outcomes'] = {};
  for (const [side, result] of results) {
    outcomes[side.key] = result.outcomes;
    notes.push(...result.notes.map((note) => `${side.name}: ${note}`));
  }
  return { n, outcomes, work: results.get(trellis)!.work, primitives, notes };
}

async function main(): Promise<void> {
  const options = readBenchOptions(USAGE, () => readOptions(process.argv.slice(2)));
  const { quick, json } = options;
  ignoreStoppedBranches();
  const timing: Timing = {
    repeatBudgetMs: quick ? 0 : 1500,
    maxRuns: quick ? 1 : 7,
    warmUpMs: quick ? 0 : 100,
    messages: (key) => (quick ? 10 : key === 'trellis' ? 500 : 100),
    messageRounds: quick ? 1 : 3,
    budgetMs: options.budgetMs,
  };
  const primitiveMs = quick ? 5 : 200;
  const progress = (text: string) => {
    if (!json && process.stderr.isTTY) process.stderr.write(`\r\x1b[K${text}`);
  };
  const began = performance.now();
  const loadBefore = os.loadavg()[0]!;
  const all = await sides(options.tsProviders);
  const libraries: Library[] = all.map((s) => ({ key: s.key, name: s.name }));

  if (!quick) {
    // Warm every library's code paths up on a small group first.
    progress('warming up');
    await runSize(
      all,
      16,
      { ...timing, maxRuns: 1, repeatBudgetMs: 0, messageRounds: 1 },
      5,
      () => {},
    );
  }
  const results: SizeResult[] = [];
  for (const n of options.sizes) results.push(await runSize(all, n, timing, primitiveMs, progress));
  progress('');

  const meta = {
    node: process.version,
    cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown'}`,
    loadAverage: { before: loadBefore, after: os.loadavg()[0]! },
    cipherSuite: SUITE_NAME,
    tsMlsVersion: TS_MLS_VERSION,
    libraries,
    budgetSeconds: options.budgetMs / 1000,
    messageBytes: MESSAGE_BYTES,
    quick,
    totalSeconds: Math.round((performance.now() - began) / 1000),
  };
  if (json) {
    const round = (_key: string, v: unknown) =>
      typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(4)) : v;
    const sizes = results.map((size) => ({
      n: size.n,
      primitivesMicroseconds: Object.fromEntries(
        Object.entries(size.primitives).map(([k, s]) => [k, s * 1e6]),
      ),
      notes: size.notes,
      operations: rowsFor(size, libraries),
    }));
    console.log(JSON.stringify({ ...meta, primitives: PRIMITIVES, sizes }, round));
    return;
  }
  console.log(`Trellis beside node:crypto's limit and ts-mls ${TS_MLS_VERSION}: ${SUITE_NAME}`);
  console.log(
    `Node ${process.version}, ${meta.cpus}, load average ${loadBefore.toFixed(1)} at start, ${meta.loadAverage.after.toFixed(1)} at end`,
  );
  console.log(
    [
      `Times: median of up to ${timing.maxRuns} runs while cheap, one run when slow. Commits are made by leaf N−1`,
      'and processed by leaf 0; the Remove removes leaf 1; the Add fills leaf N. Everything through wire bytes.',
      'limit: node:crypto alone doing the cryptography the operation needs (see docs/performance.md);',
      'of limit: limit ÷ Trellis time (or Trellis rate ÷ limit rate); ratio: how many times faster Trellis is.',
      `ts-mls gets ${options.budgetMs / 1000} s per operation (and for its whole full-tree build); "not in" means it was stopped there.`,
      quick ? 'QUICK RUN: one run per operation and few messages; the figures mean nothing.' : '',
    ]
      .filter(Boolean)
      .join('\n'),
  );
  for (const size of results) {
    printSize(size, rowsFor(size, libraries), libraries);
    console.log(`  node:crypto primitives: ${primitiveLines(size.primitives).join('; ')}`);
  }
  console.log('');
  console.log(`Finished in ${meta.totalSeconds} s.`);
}

await main();
