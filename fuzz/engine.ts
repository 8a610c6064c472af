/**
 * The fuzz loop. For one target: run its seeds as they are, then inputs made by mutating corpus
 * entries, and sort every outcome into accepted, refused (by error code) or failure. A failure
 * is anything the target does not declare as a refusal: an exception of another type, a broken
 * invariant (a live group state that changed or stopped working), an input slower than the time
 * bound three times in a row, or a memory blow-up.
 *
 * Guidance is cheap and coverage-free: an input whose outcome (code and message shape) has not
 * been seen before joins the corpus, so later inputs are mutated from it and go further.
 */
import { mutateJson } from './json.js';
import { mutate } from './mutate.js';
import { Prng } from './prng.js';
import { EMPTY_FIELD_MAP, type FieldMap } from './trace.js';

export type TargetKind = 'decoder' | 'processing';

/** A refusal that is not an exception (an HTTP error response, say). */
export interface Refusal {
  readonly refused: string;
  readonly detail?: string;
}

/** undefined: the input was accepted. */
export type Outcome = Refusal | undefined;

export interface TargetInstance {
  readonly seeds: readonly Uint8Array[];
  /** Processes one input: returns (accepted, or a refusal) or throws. */
  run(input: Uint8Array): Outcome | Promise<Outcome>;
  /** The refusal code of an error the target expects; undefined makes the error a failure. */
  classify(error: unknown): string | undefined;
  /** After each input: throws `InvariantViolation` if a live state changed or broke. */
  check?(): void | Promise<void>;
  /** The input's field map, for field-guided mutations. */
  fields?(input: Uint8Array): FieldMap;
  /** Inputs are JSON text: mutate them as documents too. */
  readonly json?: boolean;
  /** A structure-aware mutation, or undefined to leave it to the byte mutators. */
  mutate?(input: Uint8Array, rng: Prng): Uint8Array | undefined;
  close?(): Promise<void>;
}

export interface FuzzTarget {
  readonly name: string;
  readonly kind: TargetKind;
  readonly description: string;
  /**
   * Inputs in the short pass `npm test` runs (fuzz.test.ts); the kind's default when omitted.
   * For targets whose inputs cost milliseconds each (several group states restored per input).
   */
  readonly shortRuns?: number;
  /** Builds fixtures and seeds (deterministically, so that saved inputs replay). */
  setup(): Promise<TargetInstance>;
}

/** A live state changed or stopped working after an input. */
export class InvariantViolation extends Error {
  override readonly name = 'InvariantViolation';
}

export type FailureKind = 'exception' | 'invariant' | 'slow' | 'memory' | 'hang';

export interface Failure {
  readonly kind: FailureKind;
  readonly index: number;
  readonly message: string;
  readonly stack?: string;
  /** The input, hex. */
  readonly input: string;
  readonly ms?: number;
}

export interface TargetReport {
  target: string;
  kind: TargetKind;
  seed: string;
  runs: number;
  accepted: number;
  refused: Record<string, number>;
  failures: number;
  /** Distinct failures (by kind and message), each with its input. */
  failureSamples: Failure[];
  /** Inputs over the time bound once, but not when run again (GC pauses, a busy machine). */
  retimed: number;
  slowestMs: number;
  durationMs: number;
  corpus: number;
  outcomes: number;
  peakExternalMb: number;
}

/** Where the watchdog (pool.ts) learns which input is running; a no-op in process. */
export interface Heartbeat {
  begin(index: number, input: Uint8Array): void;
  end(): void;
}

export interface RunOptions {
  runs: number;
  seed: string;
  /** Per-input bound in milliseconds. */
  timeBoundMs?: number;
  /** Largest corpus kept, seeds included. */
  maxCorpus?: number;
  heartbeat?: Heartbeat;
  /** Called every `progressEvery` inputs. */
  onProgress?: (report: TargetReport) => void;
  progressEvery?: number;
  /** First input index (a run resumed after a hang). */
  startIndex?: number;
}

/** The speed goal of `npm run fuzz`: an input slower than this, three times, is a failure. */
export const DEFAULT_TIME_BOUND_MS = 100;
/**
 * The bound the tests use (the short pass, the regressions): a hang check, not a speed goal,
 * a hundred times the goal so that a loaded machine stays far inside it. Speed is the fuzz
 * runner's and the benches' business.
 */
export const HANG_BOUND_MS = 10_000;
/**
 * Growth of memory outside the V8 heap (typed arrays) over one input that makes it a failure.
 * Growth, not level: a large buffer stays counted until the next GC, and must not be blamed on
 * the inputs after the one that made it.
 */
const EXTERNAL_GROWTH_LIMIT = 256 * 1024 * 1024;
const MAX_SAMPLES = 20;
/** Timings after the first before an input over the bound is called slow. */
const SLOW_RETRIES = 2;

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function describe(error: unknown): { message: string; stack?: string } {
  if (error instanceof Error) {
    return {
      message: `${error.name}: ${error.message}`,
      ...(error.stack && { stack: error.stack }),
    };
  }
  return { message: `non-Error thrown: ${String(error)}` };
}

/** The shape of a message, for telling outcomes apart: ids, keys, numbers and tails dropped. */
function shape(text: string): string {
  return text
    .replace(/[A-Za-z0-9+/=_-]{12,}/g, 'B')
    .replace(/\d+/g, '#')
    .slice(0, 60);
}

interface CorpusEntry {
  readonly input: Uint8Array;
  fields?: FieldMap;
}

export function emptyReport(target: FuzzTarget, seed: string): TargetReport {
  return {
    target: target.name,
    kind: target.kind,
    seed,
    runs: 0,
    accepted: 0,
    refused: {},
    failures: 0,
    failureSamples: [],
    retimed: 0,
    slowestMs: 0,
    durationMs: 0,
    corpus: 0,
    outcomes: 0,
    peakExternalMb: 0,
  };
}

/** What one input did. */
export type Attempt =
  | { kind: 'accepted'; ms: number }
  | { kind: 'refused'; code: string; detail: string; ms: number }
  | { kind: 'failure'; failure: Omit<Failure, 'index' | 'input'>; ms: number };

/** Runs one input and sorts what it did (then the target's invariants, if it has any). */
export async function attempt(instance: TargetInstance, input: Uint8Array): Promise<Attempt> {
  const started = performance.now();
  let result: Attempt;
  try {
    const pending = instance.run(input);
    const outcome = pending instanceof Promise ? await pending : pending;
    const ms = performance.now() - started;
    result = outcome
      ? { kind: 'refused', code: outcome.refused, detail: outcome.detail ?? '', ms }
      : { kind: 'accepted', ms };
  } catch (error) {
    const ms = performance.now() - started;
    const code = instance.classify(error);
    result =
      code === undefined
        ? { kind: 'failure', failure: { kind: 'exception', ...describe(error) }, ms }
        : { kind: 'refused', code, detail: error instanceof Error ? error.message : '', ms };
  }
  if (instance.check && result.kind !== 'failure') {
    try {
      const checked = instance.check();
      if (checked instanceof Promise) await checked;
    } catch (error) {
      const kind = error instanceof InvariantViolation ? 'invariant' : 'exception';
      result = { kind: 'failure', failure: { kind, ...describe(error) }, ms: result.ms };
    }
  }
  return result;
}

/** Fuzzes one target set up as `instance`; never throws for what an input does. */
export async function fuzzTarget(
  target: FuzzTarget,
  instance: TargetInstance,
  options: RunOptions,
): Promise<TargetReport> {
  const bound = options.timeBoundMs ?? DEFAULT_TIME_BOUND_MS;
  const maxCorpus = options.maxCorpus ?? 2000;
  const heartbeat = options.heartbeat;
  const startIndex = options.startIndex ?? 0;
  const rng = new Prng(`${options.seed}/${target.name}/${startIndex}`);
  const report = emptyReport(target, options.seed);
  const seeds: CorpusEntry[] = instance.seeds.map((input) => ({ input }));
  if (seeds.length === 0) throw new Error(`${target.name} has no seeds`);
  const finds: CorpusEntry[] = [];
  const seen = new Set<string>();
  const failureKeys = new Set<string>();
  const maxLength = Math.max(...seeds.map((s) => s.input.length)) * 2 + 1024;
  const fieldsOf = (entry: CorpusEntry): FieldMap =>
    (entry.fields ??= instance.fields ? instance.fields(entry.input) : EMPTY_FIELD_MAP);
  const anyEntry = () => (finds.length > 0 && rng.chance(0.5) ? rng.pick(finds) : rng.pick(seeds));
  const started = performance.now();
  // Seeds run as they are first (they should mostly be accepted), but leave room for mutants.
  const asIs = Math.min(seeds.length, Math.ceil(options.runs / 4));

  const next = (index: number): Uint8Array => {
    if (index < asIs) return seeds[index]!.input;
    const parent = anyEntry();
    if (instance.mutate && rng.chance(0.3)) {
      const structured = instance.mutate(parent.input, rng);
      if (structured)
        return structured.length > maxLength ? structured.slice(0, maxLength) : structured;
    }
    if (instance.json && rng.chance(0.5)) {
      const mutated = mutateJson(parent.input, rng);
      if (mutated) return mutated.length > maxLength ? mutated.slice(0, maxLength) : mutated;
    }
    return mutate(
      { input: parent.input, fields: fieldsOf(parent) },
      { rng, other: () => anyEntry().input, maxLength },
    );
  };

  const fail = (failure: Omit<Failure, 'index' | 'input'>, index: number, input: Uint8Array) => {
    report.failures++;
    const key = `${failure.kind}|${shape(failure.message)}`;
    if (failureKeys.has(key) || report.failureSamples.length >= MAX_SAMPLES) return;
    failureKeys.add(key);
    report.failureSamples.push({ ...failure, index, input: toHex(input) });
  };

  let externalBefore = process.memoryUsage().arrayBuffers;
  for (let i = 0; i < options.runs; i++) {
    const index = startIndex + i;
    const input = next(index);
    heartbeat?.begin(index, input);
    let result = await attempt(instance, input);
    if (result.ms > bound && result.kind !== 'failure') {
      // Once could be a GC pause, the other core's work or a disk stall (the server targets
      // write to SQLite): time it again, twice, before calling it slow. A slow input is slow
      // every time.
      let fastest = result.ms;
      for (let retry = 0; retry < SLOW_RETRIES && fastest > bound; retry++) {
        const again = await attempt(instance, input);
        fastest = Math.min(fastest, again.ms);
        if (again.ms <= bound || again.kind === 'failure') result = again;
      }
      if (fastest > bound) {
        result = {
          kind: 'failure',
          failure: {
            kind: 'slow',
            message: `took at least ${fastest.toFixed(1)} ms (bound ${bound} ms)`,
          },
          ms: fastest,
        };
      } else {
        report.retimed++;
      }
    }
    heartbeat?.end();
    report.runs++;
    if (result.ms > report.slowestMs) report.slowestMs = result.ms;

    const external = process.memoryUsage().arrayBuffers;
    const growth = external - externalBefore;
    externalBefore = external;
    if (external > report.peakExternalMb * 1048576) report.peakExternalMb = external / 1048576;
    if (growth > EXTERNAL_GROWTH_LIMIT && result.kind !== 'failure') {
      result = {
        kind: 'failure',
        failure: { kind: 'memory', message: `${(growth / 1048576).toFixed(0)} MiB more buffers` },
        ms: result.ms,
      };
    }

    let outcome: string;
    if (result.kind === 'accepted') {
      report.accepted++;
      outcome = 'accepted';
    } else if (result.kind === 'refused') {
      report.refused[result.code] = (report.refused[result.code] ?? 0) + 1;
      outcome = `${result.code}|${shape(result.detail)}`;
    } else {
      fail(result.failure, index, input);
      outcome = `failure|${result.failure.kind}`;
    }
    if (!seen.has(outcome)) {
      seen.add(outcome);
      if (index >= asIs && seeds.length + finds.length < maxCorpus) {
        finds.push({ input });
      }
    }
    if (options.onProgress && (i + 1) % (options.progressEvery ?? 10000) === 0) {
      report.durationMs = performance.now() - started;
      report.corpus = seeds.length + finds.length;
      report.outcomes = seen.size;
      options.onProgress(report);
    }
  }
  report.durationMs = performance.now() - started;
  report.corpus = seeds.length + finds.length;
  report.outcomes = seen.size;
  return report;
}
