/**
 * Runs one target in a worker thread for pool.ts. Before each input it writes the input and the
 * time it started into memory shared with the main thread, so that the watchdog there can name
 * the input if this thread never comes back (a synchronous hang cannot be interrupted from the
 * inside) or dies (out of memory).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { fuzzTarget, type Heartbeat } from './engine.js';
import { HEADER_BYTES, type WorkerTask } from './pool.js';
import { targetNamed } from './targets/index.js';

const task = workerData as WorkerTask;
const clock = new Float64Array(task.shared, 0, 2);
const length = new Int32Array(task.shared, 16, 1);
const inputCopy = new Uint8Array(task.shared, HEADER_BYTES);

const heartbeat: Heartbeat = {
  begin(index, input) {
    const n = Math.min(input.length, inputCopy.length);
    inputCopy.set(input.subarray(0, n));
    length[0] = n;
    clock[1] = index;
    clock[0] = Date.now();
  },
  end() {
    clock[0] = 0;
  },
};

const target = targetNamed(task.target);
if (!target) throw new Error(`no fuzz target ${task.target}`);
const instance = await target.setup();
try {
  const report = await fuzzTarget(target, instance, {
    runs: task.runs,
    seed: task.seed,
    timeBoundMs: task.timeBoundMs,
    startIndex: task.startIndex,
    heartbeat,
    progressEvery: 5000,
    onProgress: (progress) => parentPort!.postMessage({ type: 'progress', report: progress }),
  });
  parentPort!.postMessage({ type: 'done', report });
} catch (error) {
  // Not every thrown value survives the trip to the main thread (a stack overflow arrives as
  // {}): send what it was first.
  const what = error instanceof Error ? (error.stack ?? error.message) : String(error);
  parentPort!.postMessage({ type: 'crash', what });
  throw error;
} finally {
  await instance.close?.();
}
