/**
 * Many signature checks at once, spread over worker threads, behind a synchronous call.
 *
 * Joining a group verifies every leaf's signature (RFC 9420 §12.4.3.1): 10,000 members take over
 * a second of one core. Here the checks are written into shared memory and split into chunks;
 * the calling thread and the workers claim chunks from one atomic counter until none are left,
 * then the caller waits (Atomics.wait) for the chunks the workers hold. The engine's API stays
 * synchronous, and the workers only ever speed things up: a worker that is slow to start, busy,
 * stuck or dead leaves its chunks to the caller, which takes over any chunk not finished within
 * `stallMs` of no progress. Every result is computed by the same rules whoever computes it, so
 * which thread did a chunk never shows.
 *
 * Node only (node:worker_threads, Atomics.wait on the main thread). The workers run
 * verifyWorker.js, plain JavaScript because Node 20 workers do not inherit the TypeScript loader
 * the process may run under.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { SignatureCheck } from './provider.js';

/**
 * How a worker checks a signature with node:crypto: the JWK of the raw public key and the
 * verify parameters. Keys and signatures that the provider refuses before reaching OpenSSL are
 * refused by the caller (see `verifyAll`) and never reach a worker.
 */
export type VerifyRecipe =
  | { kind: 'eddsa'; crv: 'Ed25519' | 'Ed448' }
  | { kind: 'ecdsa'; crv: 'P-256' | 'P-384' | 'P-521'; digest: 'sha256' | 'sha384' | 'sha512' };

/** The job a worker receives (see verifyWorker.js, which reads exactly these fields). */
export interface VerifyJob {
  recipe: VerifyRecipe;
  count: number;
  chunkSize: number;
  /** Int32: [next chunk to claim, chunks finished], then one finished flag per chunk. */
  control: SharedArrayBuffer;
  /** Uint32: item i is bytes [3i, 3i+1) key, [3i+1, 3i+2) message, [3i+2, 3i+3) signature. */
  offsets: SharedArrayBuffer;
  data: SharedArrayBuffer;
  /** Uint8 per item: 0 not yet known, 1 valid, 2 invalid. */
  results: SharedArrayBuffer;
}

const NEXT = 0;
const FINISHED = 1;
const FLAGS = 2;
const VALID = 1;
const INVALID = 2;

export interface ParallelVerifierOptions {
  /** Worker threads besides the caller; default: one per other available core, at most 7. */
  threads?: number;
  /** Smaller batches are verified in line, where waking workers would cost more than it saves. */
  minBatch?: number;
  /** Take over a worker's unfinished chunks after this long without any chunk finishing. */
  stallMs?: number;
  /** The worker script; tests substitute misbehaving ones. */
  workerUrl?: URL;
}

export class ParallelVerifier {
  readonly threads: number;
  readonly minBatch: number;
  private readonly stallMs: number;
  private readonly workerUrl: URL;
  private workers: Worker[] | undefined;

  constructor(options: ParallelVerifierOptions = {}) {
    this.threads = options.threads ?? Math.min(7, Math.max(0, availableParallelism() - 1));
    this.minBatch = options.minBatch ?? 64;
    this.stallMs = options.stallMs ?? 50;
    this.workerUrl = options.workerUrl ?? new URL('./verifyWorker.js', import.meta.url);
  }

  /**
   * The validity of each signature. `precheck` refuses what never reaches OpenSSL (wrong sizes,
   * point formats), `verifyHere` is the provider's own check, used on this thread; workers
   * check the rest by `recipe`, which must agree with `verifyHere` on everything `precheck`
   * lets through.
   */
  verifyAll(
    recipe: VerifyRecipe,
    items: readonly SignatureCheck[],
    precheck: (item: SignatureCheck) => boolean,
    verifyHere: (item: SignatureCheck) => boolean,
  ): boolean[] {
    if (items.length < this.minBatch || this.threads === 0) return items.map(verifyHere);
    const chunkSize = Math.max(4, Math.min(64, Math.ceil(items.length / (this.threads + 1) / 8)));
    const job = packJob(recipe, items, chunkSize, precheck);
    for (const worker of this.pool()) worker.postMessage(job);
    return completeJob(job, items, verifyHere, this.stallMs);
  }

  /** Stops the workers; a later batch starts new ones. */
  async close(): Promise<void> {
    const workers = this.workers ?? [];
    this.workers = undefined;
    await Promise.all(workers.map((w) => w.terminate()));
  }

  private pool(): Worker[] {
    if (this.workers) return this.workers;
    const workers: Worker[] = [];
    for (let i = 0; i < this.threads; i++) {
      let worker: Worker;
      try {
        worker = new Worker(this.workerUrl, { execArgv: [] });
      } catch {
        break; // no threads to be had (resource limits): the caller verifies alone
      }
      worker.unref(); // idle workers never keep a process alive
      // A worker that fails leaves the pool (and is not replaced); the caller takes over whatever
      // it held (see completeJob).
      const drop = () => {
        const at = workers.indexOf(worker);
        if (at >= 0) workers.splice(at, 1);
      };
      worker.on('error', drop);
      worker.on('exit', drop);
      workers.push(worker);
    }
    this.workers = workers;
    return workers;
  }
}

/** The items in shared memory, those refused by `precheck` already marked invalid. */
export function packJob(
  recipe: VerifyRecipe,
  items: readonly SignatureCheck[],
  chunkSize: number,
  precheck: (item: SignatureCheck) => boolean,
): VerifyJob {
  let size = 0;
  for (const item of items) {
    size += item.publicKey.length + item.message.length + item.signature.length;
  }
  const data = new SharedArrayBuffer(size);
  const offsets = new SharedArrayBuffer(4 * (3 * items.length + 1));
  const results = new SharedArrayBuffer(items.length);
  const bytes = new Uint8Array(data);
  const at = new Uint32Array(offsets);
  const marks = new Uint8Array(results);
  let pos = 0;
  items.forEach((item, i) => {
    if (!precheck(item)) marks[i] = INVALID;
    for (const [k, part] of [item.publicKey, item.message, item.signature].entries()) {
      at[3 * i + k] = pos;
      bytes.set(part, pos);
      pos += part.length;
    }
  });
  at[3 * items.length] = pos;
  const chunks = Math.ceil(items.length / chunkSize);
  const control = new SharedArrayBuffer(4 * (FLAGS + chunks));
  return { recipe, count: items.length, chunkSize, control, offsets, data, results };
}

/**
 * The caller's part of a job: claims and checks chunks until none are left, waits for those that
 * workers hold, and takes over any still unfinished after `stallMs` without progress.
 */
export function completeJob(
  job: VerifyJob,
  items: readonly SignatureCheck[],
  verifyHere: (item: SignatureCheck) => boolean,
  stallMs: number,
): boolean[] {
  const chunks = Math.ceil(job.count / job.chunkSize);
  const control = new Int32Array(job.control);
  const results = new Uint8Array(job.results);
  const runChunk = (chunk: number) => {
    const end = Math.min(job.count, (chunk + 1) * job.chunkSize);
    for (let i = chunk * job.chunkSize; i < end; i++) {
      if (results[i] === 0) results[i] = verifyHere(items[i]!) ? VALID : INVALID;
    }
    if (Atomics.compareExchange(control, FLAGS + chunk, 0, 1) === 0) {
      Atomics.add(control, FINISHED, 1);
    }
  };
  for (let chunk; (chunk = Atomics.add(control, NEXT, 1)) < chunks;) runChunk(chunk);
  for (;;) {
    const finished = Atomics.load(control, FINISHED);
    if (finished >= chunks) break;
    if (Atomics.wait(control, FINISHED, finished, stallMs) === 'timed-out') {
      for (let chunk = 0; chunk < chunks; chunk++) {
        if (Atomics.load(control, FLAGS + chunk) === 0) runChunk(chunk);
      }
    }
  }
  return Array.from(results, (r) => r === VALID);
}
