/**
 * Allocation guard: a length field announcing a huge body is refused before anything of that
 * size is allocated. What a refusal allocates is measured (packages/mls/test/support/
 * allocationMeter.ts), not timed. RFC 9420's lengths are varints, whose largest value is
 * 2^30 − 1; a 4 GiB length cannot be written at all (the 4-byte form with prefix 0b11 is
 * reserved, and refused as INVALID_VARINT). No MLS or backup structure has a uint32 length
 * field. The uint32 fields that size an allocation are counts: a group export's `leaf_count`
 * (its reader allocates a secret tree that wide) and a member set's `first_leaf`, and those
 * are bounded before use.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  BackupError,
  decodeGroupExport,
  decodeMemberSet,
  encodeGroupExport,
  encodeMemberSet,
  exportGroupState,
} from '../packages/backup/src/index.js';
import { membersOf } from '../packages/backup/src/memberSet.js';
import {
  decode,
  MlsError,
  mlsMessageCodec,
  ratchetTreeCodec,
  Reader,
  welcomeCodec,
} from '../packages/mls/src/index.js';
import { meterAllocations } from '../packages/mls/test/support/allocationMeter.js';
import { world } from './targets/fixtures.js';

/** Largest varint: 2^30 − 1, in its 4-byte form. */
const MAX_ANNOUNCED = Uint8Array.of(0xbf, 0xff, 0xff, 0xff);
/** What a refusal may allocate in all: its inputs are a few kilobytes at most. */
const REFUSAL_BUDGET = 256 * 1024;

const mlsCode = (code: string) => (e: unknown) => e instanceof MlsError && e.code === code;
const backupCode = (code: string) => (e: unknown) => e instanceof BackupError && e.code === code;

/** `fn` throws an error `check` accepts, having allocated next to nothing on the way. */
function assertCheap(fn: () => unknown, check: (e: unknown) => boolean): void {
  const { error, largest, total } = meterAllocations(fn);
  assert.ok(error !== undefined, 'accepted');
  if (!check(error)) throw error;
  assert.ok(
    total < REFUSAL_BUDGET,
    `refused after allocating ${total} bytes (largest ${largest}), over ${REFUSAL_BUDGET}`,
  );
}

describe('allocation meter', () => {
  test('sees buffers and arrays made by size, and puts the globals back', () => {
    const globals = [Uint8Array, ArrayBuffer, Array, Buffer.alloc];
    const source = new Uint8Array(100);
    const seen = meterAllocations(() => {
      new Uint8Array(1000);
      new Float64Array(10);
      new ArrayBuffer(3000);
      source.slice(0, 40);
      Buffer.alloc(500);
      new Array(2000);
      Array.from({ length: 50 });
    });
    assert.equal(seen.error, undefined);
    assert.equal(seen.largest, 2000 * 8);
    assert.equal(seen.total, 1000 + 80 + 3000 + 40 + 500 + 2000 * 8 + 50 * 8);
    assert.deepEqual([Uint8Array, ArrayBuffer, Array, Buffer.alloc], globals);
    assert.ok(new Uint8Array(1) instanceof Uint8Array);
  });

  test('catches a reader that allocates what a length announces before checking it', () => {
    // What the guard is for: the mistake a decoder makes when it trusts the length field.
    const trusting = (bytes: Uint8Array) => {
      const announced = new Reader(bytes).varint();
      const body = new Uint8Array(announced);
      if (announced > bytes.length - 4) throw new MlsError('TRUNCATED', 'short');
      return body;
    };
    const bytes = Uint8Array.of(...MAX_ANNOUNCED, 1, 2, 3);
    assert.throws(() => assertCheap(() => trusting(bytes), mlsCode('TRUNCATED')), /allocating/);
    assertCheap(() => new Reader(bytes).opaque(), mlsCode('TRUNCATED'));
  });
});

describe('allocation guard: announced lengths are checked against the bytes present', () => {
  test('opaque<V> announcing 2^30 − 1 bytes with three present: TRUNCATED', () => {
    const bytes = Uint8Array.of(...MAX_ANNOUNCED, 1, 2, 3);
    assertCheap(() => new Reader(bytes).opaque(), mlsCode('TRUNCATED'));
  });

  test('a 4 GiB length cannot be expressed: 0xffffffff is INVALID_VARINT', () => {
    const bytes = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 1, 2, 3);
    assertCheap(() => new Reader(bytes).opaque(), mlsCode('INVALID_VARINT'));
  });

  test('vector of optional<Node> (ratchet tree) announcing 2^30 − 1 bytes: TRUNCATED', () => {
    const bytes = Uint8Array.of(...MAX_ANNOUNCED, 1, 1, 0, 0);
    assertCheap(() => decode(ratchetTreeCodec, bytes), mlsCode('TRUNCATED'));
  });

  test('MLSMessage whose group_id announces 2^30 − 1 bytes: TRUNCATED', () => {
    // mls10, mls_public_message, then FramedContent.group_id
    const bytes = Uint8Array.of(0, 1, 0, 1, ...MAX_ANNOUNCED, 9, 9, 9);
    assertCheap(() => decode(mlsMessageCodec, bytes), mlsCode('TRUNCATED'));
  });

  test('Welcome whose secrets vector announces 2^30 − 1 bytes: TRUNCATED', () => {
    const bytes = Uint8Array.of(0, 1, ...MAX_ANNOUNCED, 0, 0);
    assertCheap(() => decode(welcomeCodec, bytes), mlsCode('TRUNCATED'));
  });

  test('vector items are allocated as decoded, never by an announced count', () => {
    // 2^16 blank nodes: as many array entries as there are bytes, then refused by shape.
    const blanks = new Uint8Array(4 + 0x10000);
    blanks.set(Uint8Array.of(0x80, 0x01, 0x00, 0x00));
    const nodes = decode(ratchetTreeCodec, blanks);
    assert.equal(nodes.length, 0x10000);
  });
});

describe('allocation guard: uint32 counts that size allocations are bounded first', () => {
  const groupExport = exportGroupState(world().receiver);

  test('group export leaf_count 2^32 − 1 (a 4 Gi-leaf secret tree): MALFORMED_EXPORT', () => {
    const bytes = encodeGroupExport({ ...groupExport, leafCount: 0xffffffff });
    assertCheap(() => decodeGroupExport(bytes), backupCode('MALFORMED_EXPORT'));
  });

  test('member set first_leaf 2^32 − 16: refused against the tree, MALFORMED_EXPORT', () => {
    const source = groupExport.members[0]!;
    assert.equal(source.kind, 'inline');
    if (source.kind !== 'inline') return;
    const set = decodeMemberSet(encodeMemberSet({ ...source.set, firstLeaf: 0xfffffff0 }));
    assertCheap(
      () => membersOf([set], set.cipherSuite, groupExport.leafCount),
      backupCode('MALFORMED_EXPORT'),
    );
  });
});
