/**
 * Runs targets in worker threads, as many at once as asked (one per core by default), with a
 * watchdog: an input still running after `hangMs` is a hang, so the worker is stopped, the
 * input recorded as a failure, and the target resumed after it in a fresh worker. A worker
 * that dies (out of memory, say) is handled the same way.
 */
import { inspect } from 'node:util';
import { Worker } from 'node:worker_threads';
import { emptyReport, toHex, type Failure, type FailureKind, type TargetReport } from './engine.js';
import { targetNamed } from './targets/index.js';

/** What a worker (worker.ts) is given. */
export interface WorkerTask {
  target: string;
  runs: number;
  seed: string;
  timeBoundMs: number;
  startIndex: number;
  /**
   * Shared with the watchdog: [started (ms since the epoch, 0 between inputs), input index] as
   * two Float64s, the input's length as an Int32, then the input's bytes.
   */
  shared: SharedArrayBuffer;
}

export const HEADER_BYTES = 24;

export interface PoolTask {
  target: string;
  runs: number;
}

export interface PoolOptions {
  seed: string;
  timeBoundMs: number;
  jobs: number;
  /** An input running longer than this is a hang. */
  hangMs: number;
  onProgress?: (report: TargetReport) => void;
  onDone?: (report: TargetReport) => void;
}

const SHARED_INPUT_BYTES = 4 * 1024 * 1024;
/** A worker's V8 heap limit: an input that needs more is a memory failure. */
const HEAP_LIMIT_MB = 2048;

// A worker does not inherit tsx's loader: it registers it, then imports the TypeScript entry.
const WORKER_BOOTSTRAP = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then(({ register }) => { register(); return import(${JSON.stringify(new URL('./worker.ts', import.meta.url).href)}); });`;

function merge(into: TargetReport, part: TargetReport): void {
  into.runs += part.runs;
  into.accepted += part.accepted;
  for (const [code, n] of Object.entries(part.refused))
    into.refused[code] = (into.refused[code] ?? 0) + n;
  into.failures += part.failures;
  into.failureSamples.push(...part.failureSamples);
  into.retimed += part.retimed;
  into.slowestMs = Math.max(into.slowestMs, part.slowestMs);
  into.durationMs += part.durationMs;
  into.corpus = Math.max(into.corpus, part.corpus);
  into.outcomes = Math.max(into.outcomes, part.outcomes);
  into.peakExternalMb = Math.max(into.peakExternalMb, part.peakExternalMb);
}

/** One target to completion, resuming after any input that hangs or kills its worker. */
async function runTask(task: PoolTask, options: PoolOptions): Promise<TargetReport> {
  const target = targetNamed(task.target);
  if (!target) throw new Error(`no fuzz target ${task.target}`);
  const total = emptyReport(target, options.seed);
  let startIndex = 0;
  while (startIndex < task.runs) {
    const shared = new SharedArrayBuffer(HEADER_BYTES + SHARED_INPUT_BYTES);
    const clock = new Float64Array(shared, 0, 2);
    clock[1] = -1; // no input yet
    const started = Date.now();
    const workerData: WorkerTask = {
      target: task.target,
      runs: task.runs - startIndex,
      seed: options.seed,
      timeBoundMs: options.timeBoundMs,
      startIndex,
      shared,
    };
    const worker = new Worker(WORKER_BOOTSTRAP, {
      eval: true,
      workerData,
      resourceLimits: { maxOldGenerationSizeMb: HEAP_LIMIT_MB },
    });
    // The worker's counts so far, kept in case it is lost before it reports them all.
    let lastProgress: TargetReport | undefined;
    const outcome = await new Promise<
      { report: TargetReport } | { lost: FailureKind; message: string }
    >((resolve) => {
      let settled = false;
      const settle = (value: { report: TargetReport } | { lost: FailureKind; message: string }) => {
        if (settled) return;
        settled = true;
        clearInterval(watchdog);
        resolve(value);
      };
      const watchdog = setInterval(() => {
        const since = clock[0]!;
        if (since > 0 && Date.now() - since > options.hangMs) {
          settle({ lost: 'hang', message: `no answer after ${options.hangMs} ms` });
          void worker.terminate();
        }
      }, 250);
      let crash: string | undefined;
      worker.on('message', (m: { type: string; report: TargetReport; what: string }) => {
        if (m.type === 'crash') crash = m.what;
        if (m.type === 'progress') {
          lastProgress = m.report;
          const view = structuredClone(total);
          merge(view, m.report);
          options.onProgress?.(view);
        } else if (m.type === 'done') settle({ report: m.report });
      });
      worker.on('error', (error: Error & { code?: string }) =>
        settle({
          lost: error.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'memory' : 'exception',
          message: `worker died: ${crash ?? (error instanceof Error ? (error.stack ?? error.message) : inspect(error))}`,
        }),
      );
      worker.on('exit', (code) =>
        settle({ lost: 'exception', message: `worker exited (${code})` }),
      );
    });
    if ('report' in outcome) {
      merge(total, outcome.report);
      await worker.terminate();
      break;
    }
    // The input the worker was on when it was lost: record it and go on after it.
    const index = clock[1]!;
    if (index < startIndex) {
      throw new Error(
        `${task.target}: the worker failed before its first input: ${outcome.message}`,
      );
    }
    const length = new Int32Array(shared, 16, 1)[0]!;
    const input = new Uint8Array(shared, HEADER_BYTES, length).slice();
    const failure: Failure = {
      kind: outcome.lost,
      index,
      message: outcome.message,
      input: toHex(input),
    };
    if (lastProgress) merge(total, lastProgress);
    // Inputs after the last progress report, up to the lost one, count as run; their outcomes
    // were not reported.
    total.runs += index - startIndex + 1 - (lastProgress?.runs ?? 0);
    total.failures++;
    total.failureSamples.push(failure);
    total.durationMs += Date.now() - started - (lastProgress?.durationMs ?? 0);
    startIndex = index + 1;
  }
  return total;
}

export async function runPool(
  tasks: readonly PoolTask[],
  options: PoolOptions,
): Promise<TargetReport[]> {
  const reports = new Array<TargetReport>(tasks.length);
  let next = 0;
  const lane = async () => {
    while (next < tasks.length) {
      const i = next++;
      reports[i] = await runTask(tasks[i]!, options);
      options.onDone?.(reports[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.jobs) }, lane));
  return reports;
}
