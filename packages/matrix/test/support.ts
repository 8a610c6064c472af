import assert from 'node:assert/strict';
import { MatrixError, type MatrixErrorCode } from '../src/errors.js';

export function expectMatrixError(fn: () => unknown, code: MatrixErrorCode): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof MatrixError, `a MatrixError, not ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

/** A small deterministic PRNG (mulberry32), so that generated cases are the same every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}
