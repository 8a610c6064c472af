/**
 * Worker thread of parallelVerify.ts: claims chunks of a shared batch of signature checks and
 * writes each result, exactly as the node provider's `verify` decides it for keys and signatures
 * that passed its size and format checks (the caller marks the others invalid beforehand).
 *
 * Plain JavaScript on purpose: Node 20 workers do not inherit the TypeScript loader the process
 * may run under. The job's fields are `VerifyJob` in parallelVerify.ts; verifyWorker.d.ts gives
 * the types of what this module exports (to tests, which run jobs on their own thread).
 */
import { createPublicKey, verify } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

const NEXT = 0;
const FINISHED = 1;
const FLAGS = 2;
const VALID = 1;
const INVALID = 2;

/** Imported keys by their bytes: a group's keys recur from one join or rejoin to the next. */
const KEY_CACHE_SIZE = 16384;
const keys = new Map();

function importKey(recipe, raw) {
  const id = raw.toString('latin1');
  let key = keys.get(id);
  if (key === undefined) {
    if (recipe.kind === 'eddsa') {
      key = createPublicKey({
        key: { kty: 'OKP', crv: recipe.crv, x: raw.toString('base64url') },
        format: 'jwk',
      });
    } else {
      // An uncompressed SEC1 point: 0x04, then x and y of equal size.
      const half = (raw.length - 1) / 2;
      key = createPublicKey({
        key: {
          kty: 'EC',
          crv: recipe.crv,
          x: raw.subarray(1, 1 + half).toString('base64url'),
          y: raw.subarray(1 + half).toString('base64url'),
        },
        format: 'jwk',
      });
    }
    if (keys.size >= KEY_CACHE_SIZE) keys.delete(keys.keys().next().value);
    keys.set(id, key);
  }
  return key;
}

function check(recipe, publicKey, message, signature) {
  try {
    const key = importKey(recipe, publicKey);
    return recipe.kind === 'eddsa'
      ? verify(null, message, key, signature)
      : verify(recipe.digest, message, { key, dsaEncoding: 'der' }, signature);
  } catch {
    return false;
  }
}

/** Claims and checks chunks of `job` until none are left unclaimed. */
export function runJob(job) {
  const control = new Int32Array(job.control);
  const offsets = new Uint32Array(job.offsets);
  const results = new Uint8Array(job.results);
  const part = (from, to) => Buffer.from(job.data, offsets[from], offsets[to] - offsets[from]);
  const chunks = Math.ceil(job.count / job.chunkSize);
  for (let chunk; (chunk = Atomics.add(control, NEXT, 1)) < chunks;) {
    const end = Math.min(job.count, (chunk + 1) * job.chunkSize);
    for (let i = chunk * job.chunkSize; i < end; i++) {
      if (results[i] !== 0) continue;
      const valid = check(
        job.recipe,
        part(3 * i, 3 * i + 1),
        part(3 * i + 1, 3 * i + 2),
        part(3 * i + 2, 3 * i + 3),
      );
      results[i] = valid ? VALID : INVALID;
    }
    if (Atomics.compareExchange(control, FLAGS + chunk, 0, 1) === 0) {
      Atomics.add(control, FINISHED, 1);
      Atomics.notify(control, FINISHED);
    }
  }
}

if (parentPort) parentPort.on('message', runJob);
