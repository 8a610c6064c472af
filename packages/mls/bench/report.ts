/** The figures of `npm run bench` as a table or as one JSON object. */
import { describeWork, workSeconds, type PrimitiveTimes, type Work } from './limits.js';
import { OPS, type Outcome, type Unit } from './run.js';

export interface SizeResult {
  n: number;
  /** Outcomes by library key, then operation id. */
  outcomes: Record<string, Map<string, Outcome>>;
  /** The cryptographic work of each operation. */
  work: Map<string, Work>;
  /** The primitive times measured for this size. */
  primitives: PrimitiveTimes;
  notes: string[];
}

export interface Library {
  key: string;
  name: string;
}

export interface Row {
  id: string;
  label: string;
  unit: Unit;
  /** Outcome per library key. */
  results: Record<string, Outcome>;
  /** What node:crypto needs for the operation's cryptography, in the row's unit. */
  limit?: { value: number; work: string };
  /** Trellis's share of the limit: 1 = at the limit. */
  ofLimit?: number;
  /** Per other library: how many times faster Trellis is (for sizes: Trellis bytes ÷ theirs). */
  ratios: Record<string, number>;
}

const valueOf = (o: Outcome | undefined) => (o && 'value' in o ? o.value : undefined);

export function rowsFor(size: SizeResult, libraries: Library[]): Row[] {
  const [base, ...others] = libraries;
  return OPS.map((op) => {
    const results: Record<string, Outcome> = {};
    for (const lib of libraries) {
      results[lib.key] = size.outcomes[lib.key]?.get(op.id) ?? { notRun: 'not reached' };
    }
    const row: Row = { id: op.id, label: op.label, unit: op.unit, results, ratios: {} };
    const mine = valueOf(results[base!.key]);
    const work = size.work.get(op.id);
    if (work) {
      const seconds = workSeconds(work, size.primitives);
      row.limit = {
        value: op.unit === 'msg/s' ? 1 / seconds : seconds * 1000,
        work: describeWork(work),
      };
      if (mine !== undefined) {
        row.ofLimit = op.unit === 'msg/s' ? mine / row.limit.value : row.limit.value / mine;
      }
    }
    for (const lib of others) {
      const theirs = valueOf(results[lib.key]);
      if (mine === undefined || theirs === undefined || op.noRatio) continue;
      // Times: theirs over ours. Rates and sizes: ours over theirs.
      row.ratios[lib.key] = op.unit === 'ms' ? theirs / mine : mine / theirs;
    }
    return row;
  });
}

function formatValue(unit: Unit, v: number): string {
  if (unit === 'ms') {
    if (v >= 10_000) return `${(v / 1000).toFixed(1)} s`;
    if (v >= 1000) return `${(v / 1000).toFixed(2)} s`;
    if (v >= 100) return `${v.toFixed(0)} ms`;
    if (v >= 10) return `${v.toFixed(1)} ms`;
    return `${v.toFixed(2)} ms`;
  }
  if (unit === 'bytes') return `${Math.round(v).toLocaleString('en-US')} B`;
  return `${Math.round(v).toLocaleString('en-US')}/s`;
}

function cell(unit: Unit, o: Outcome): string {
  if ('value' in o) return formatValue(unit, o.value);
  if ('didNotFinish' in o) return `not in ${o.didNotFinish.budgetSeconds} s`;
  return 'not run';
}

function ratioText(unit: Unit, r: number | undefined): string {
  if (r === undefined) return '';
  if (unit === 'bytes') return `${r.toFixed(2)}× size`;
  return `${r >= 10 ? r.toFixed(0) : r.toFixed(1)}×`;
}

/** Aligned columns; a row of one cell is a heading, printed as it is. */
function table(rows: string[][], leftColumns: number[]): string[] {
  const cells = rows.filter((r) => r.length > 1);
  const widths = rows[0]!.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const fmt = (r: string[]) =>
    r.length === 1
      ? r[0]!
      : r
          .map((c, i) => (leftColumns.includes(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
          .join('  ')
          .trimEnd();
  return [fmt(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(fmt)];
}

export function printSize(size: SizeResult, rows: Row[], libraries: Library[]): void {
  const [base, ...others] = libraries;
  console.log('');
  console.log(`N = ${size.n.toLocaleString('en-US')}`);
  const header = [
    'operation',
    base!.name,
    'limit',
    'of limit',
    ...others.flatMap((lib) => [lib.name, 'ratio']),
  ];
  const out: string[][] = [header];
  let section = '';
  for (const row of rows) {
    const shape =
      row.id.startsWith('sparse.') || row.id === 'build'
        ? 'sparse'
        : row.id.startsWith('full.')
          ? 'full'
          : 'messages';
    if (shape !== section) {
      section = shape;
      const title =
        shape === 'sparse'
          ? 'sparse tree (right after the bulk add: every parent blank)'
          : shape === 'full'
            ? 'full tree (every split parent set by real commits, nothing unmerged)'
            : 'application messages, leaf N−1 to leaf 0, through wire bytes';
      out.push([title]);
    }
    out.push([
      `  ${row.label}`,
      cell(row.unit, row.results[base!.key]!),
      row.limit ? formatValue(row.unit, row.limit.value) : '',
      row.ofLimit !== undefined ? `${(row.ofLimit * 100).toFixed(0)}%` : '',
      ...others.flatMap((lib) => [
        cell(row.unit, row.results[lib.key]!),
        ratioText(row.unit, row.ratios[lib.key]),
      ]),
    ]);
  }
  for (const line of table(out, [0])) console.log(line);
  const footnotes = new Set<string>();
  for (const row of rows) {
    for (const lib of libraries) {
      const o = row.results[lib.key]!;
      if ('didNotFinish' in o) {
        const d = o.didNotFinish;
        footnotes.add(
          `${lib.name}, ${row.id}: did not finish within its budget of ${d.budgetSeconds} s (stopped after ${d.stoppedAfterSeconds.toFixed(1)} s${d.progress ? `, ${d.progress}` : ''})`,
        );
      } else if ('notRun' in o) {
        footnotes.add(`${lib.name}: ${o.notRun}`);
      }
    }
  }
  for (const note of [...size.notes, ...footnotes]) console.log(`  ${note}`);
}

/** The limits' primitives, as measured for one size. */
export function primitiveLines(primitives: PrimitiveTimes): string[] {
  return Object.entries(primitives).map(
    ([name, seconds]) =>
      `${name} ${(seconds * 1e6).toFixed(2)} µs (${Math.round(1 / seconds).toLocaleString('en-US')}/s)`,
  );
}
