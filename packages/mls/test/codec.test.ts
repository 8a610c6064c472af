/** The codec's lent writers (`encodeTransient`): no copies, no sharing, nothing left behind. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeTransient, type Writer } from '../src/codec/index.js';

const writeBytes = (bytes: number[]) => (w: Writer) => w.raw(Uint8Array.from(bytes));

describe('encodeTransient', () => {
  test('passes exactly what was written, and zeroes it once the call returns', () => {
    let seen: Uint8Array | undefined;
    const result = encodeTransient(writeBytes([1, 2, 3]), (bytes) => {
      seen = bytes;
      return Array.from(bytes);
    });
    assert.deepEqual(result, [1, 2, 3]);
    assert.deepEqual(Array.from(seen!), [0, 0, 0], 'a kept reference sees only zeros');
  });

  test('nested calls write to separate buffers', () => {
    const outer = encodeTransient(writeBytes([1, 1, 1, 1]), (a) =>
      encodeTransient(writeBytes([2, 2]), (b) => {
        assert.notEqual(a.buffer, b.buffer);
        return [Array.from(a), Array.from(b)];
      }),
    );
    assert.deepEqual(outer, [
      [1, 1, 1, 1],
      [2, 2],
    ]);
  });

  test('a throwing writer or consumer still leaves nothing behind for the next call', () => {
    let seen: Uint8Array | undefined;
    assert.throws(
      () =>
        encodeTransient(writeBytes([9, 9, 9]), (bytes) => {
          seen = bytes;
          throw new Error('consumer failed');
        }),
      /consumer failed/,
    );
    assert.deepEqual(Array.from(seen!), [0, 0, 0]);
    assert.throws(
      () =>
        encodeTransient(
          (w) => {
            w.raw(Uint8Array.of(7, 7));
            throw new Error('writer failed');
          },
          () => 0,
        ),
      /writer failed/,
    );
    assert.deepEqual(
      encodeTransient(writeBytes([5]), (bytes) => Array.from(bytes)),
      [5],
      'the next call starts empty',
    );
  });

  test('a large encoding works and its buffer is not kept for later calls', () => {
    const big = new Uint8Array(1 << 17).fill(3);
    let bigBuffer: ArrayBufferLike | undefined;
    const sum = encodeTransient(
      (w) => w.raw(big),
      (bytes) => {
        bigBuffer = bytes.buffer;
        return bytes.reduce((a, b) => a + b, 0);
      },
    );
    assert.equal(sum, 3 * big.length);
    for (let i = 0; i < 20; i++) {
      encodeTransient(writeBytes([i]), (bytes) => assert.notEqual(bytes.buffer, bigBuffer));
    }
  });
});
