/**
 * Byte-level mutations of valid encodings: bit flips, truncations, extensions, insertions and
 * deletions, repeated ranges, splices of two inputs, and edits guided by a field map (a length
 * field or integer set to a boundary value, a vector item repeated, dropped or swapped with
 * its enclosing lengths fixed up).
 */
import { concat } from '../packages/mls/src/util/bytes.js';
import type { Prng } from './prng.js';
import type { FieldMap, LengthField } from './trace.js';

export interface MutationSource {
  readonly input: Uint8Array;
  readonly fields: FieldMap;
}

export interface MutationContext {
  readonly rng: Prng;
  /** Another corpus entry, for splices. */
  readonly other: () => Uint8Array;
  /** Mutated inputs are cut to this length. */
  readonly maxLength: number;
}

const MAX_VARINT = 0x3fffffff;
const INTERESTING_BYTES = [0x00, 0x01, 0x02, 0x03, 0x3f, 0x40, 0x7f, 0x80, 0xbf, 0xc0, 0xfe, 0xff];

/** The minimal varint encoding of `n` (RFC 9420 §2.1.2). */
export function encodeVarint(n: number): Uint8Array {
  if (n < 0x40) return Uint8Array.of(n);
  if (n < 0x4000) return Uint8Array.of(0x40 | (n >> 8), n & 0xff);
  return Uint8Array.of(0x80 | (n >>> 24), (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/** Encodings a length field may be given: boundaries, off-by-ones, non-minimal and invalid. */
function lengthEncodings(rng: Prng, field: LengthField, remaining: number): Uint8Array {
  const v = field.value;
  const choice = rng.below(12);
  switch (choice) {
    case 0:
      return encodeVarint(Math.max(0, v - 1));
    case 1:
      return encodeVarint(Math.min(MAX_VARINT, v + 1));
    case 2:
      return encodeVarint(0);
    case 3:
      return encodeVarint(MAX_VARINT);
    case 4:
      return encodeVarint(Math.min(MAX_VARINT, remaining + 1));
    case 5:
      return encodeVarint(rng.pick([0x3f, 0x40, 0x3fff, 0x4000, 0xffff, 0x10000]));
    case 6:
      // The same value in a longer, non-minimal encoding.
      return v < 0x40 ? Uint8Array.of(0x40, v) : Uint8Array.of(0x80, 0, (v >> 8) & 0x3f, v & 0xff);
    case 7:
      return Uint8Array.of(0xc0 | rng.below(64)); // the reserved prefix
    case 8:
      return encodeVarint(Math.min(MAX_VARINT, v * 2 + 1));
    case 9:
      return encodeVarint(v >> 1);
    case 10:
      return encodeVarint(rng.below(MAX_VARINT + 1));
    default:
      return encodeVarint(rng.below(Math.max(1, 2 * v + 2)));
  }
}

function interestingInt(rng: Prng, size: 1 | 2 | 4 | 8): Uint8Array {
  const out = new Uint8Array(size);
  const kind = rng.below(6);
  if (kind === 0) return out; // zero
  if (kind === 1) return out.fill(0xff); // maximum
  if (kind === 2) {
    out[size - 1] = 1;
    return out;
  }
  if (kind === 3) {
    out[size - 1] = rng.below(16); // small values: enum members, indices
    return out;
  }
  if (kind === 4) {
    out[0] = 0x80; // top bit
    return out;
  }
  return rng.bytes(size);
}

/** Replaces input[start, end) with `replacement`, then fixes the given enclosing lengths. */
export function replaceItem(
  input: Uint8Array,
  start: number,
  end: number,
  replacement: Uint8Array,
  lengths: readonly LengthField[],
): Uint8Array {
  let delta = replacement.length - (end - start);
  let out = concat(input.subarray(0, start), replacement, input.subarray(end));
  // Innermost first: an inner field's new size changes every outer length, never its offset.
  for (const field of lengths) {
    const value = field.value + delta;
    if (value < 0 || value > MAX_VARINT) break;
    const encoded = encodeVarint(value);
    out = concat(out.subarray(0, field.at), encoded, out.subarray(field.at + field.size));
    delta += encoded.length - field.size;
  }
  return out;
}

type Mutator = (input: Uint8Array, ctx: MutationContext) => Uint8Array;

const flipBits: Mutator = (input, { rng }) => {
  if (input.length === 0) return rng.bytes(1);
  const out = Uint8Array.from(input);
  const flips = 1 + rng.below(rng.chance(0.7) ? 1 : 8);
  for (let i = 0; i < flips; i++) out[rng.below(out.length)]! ^= 1 << rng.below(8);
  return out;
};

const setBytes: Mutator = (input, { rng }) => {
  if (input.length === 0) return rng.bytes(1);
  const out = Uint8Array.from(input);
  const count = 1 + rng.below(4);
  for (let i = 0; i < count; i++) {
    out[rng.below(out.length)] = rng.chance(0.6) ? rng.pick(INTERESTING_BYTES) : rng.below(256);
  }
  return out;
};

const truncate: Mutator = (input, { rng }) =>
  input.slice(0, rng.chance(0.5) ? rng.below(input.length) : input.length - 1 - rng.below(8));

const extend: Mutator = (input, { rng }) =>
  concat(input, rng.chance(0.5) ? rng.bytes(1 + rng.below(64)) : new Uint8Array(1 + rng.below(8)));

const insertBytes: Mutator = (input, { rng }) => {
  const at = rng.below(input.length + 1);
  const bytes = rng.chance(0.5)
    ? rng.bytes(1 + rng.below(16))
    : Uint8Array.of(rng.pick(INTERESTING_BYTES));
  return concat(input.subarray(0, at), bytes, input.subarray(at));
};

const deleteRange: Mutator = (input, { rng }) => {
  const at = rng.below(input.length);
  const n = 1 + rng.below(rng.chance(0.7) ? 4 : 64);
  return concat(input.subarray(0, at), input.subarray(at + n));
};

/** A range repeated in place: a field given twice. */
const repeatRange: Mutator = (input, { rng }) => {
  if (input.length === 0) return input;
  const at = rng.below(input.length);
  const n = 1 + rng.below(Math.min(input.length - at, 64));
  const chunk = input.subarray(at, at + n);
  return concat(input.subarray(0, at + n), chunk, input.subarray(at + n));
};

/** A varint written over the bytes at a random offset (a length field, wherever it may be). */
const overwriteVarint: Mutator = (input, { rng }) => {
  const at = rng.below(input.length + 1);
  const encoded = lengthEncodings(rng, { at, size: 1, value: rng.below(300) }, input.length - at);
  const out = concat(input.subarray(0, at), encoded, input.subarray(at + encoded.length));
  return out;
};

/** The start of one input and the end of another. */
const splice: Mutator = (input, { rng, other }) => {
  const b = other();
  if (rng.chance(0.5)) {
    return concat(
      input.subarray(0, rng.below(input.length + 1)),
      b.subarray(rng.below(b.length + 1)),
    );
  }
  // A chunk of the other input dropped into this one.
  const from = rng.below(b.length + 1);
  const chunk = b.subarray(from, from + 1 + rng.below(128));
  const at = rng.below(input.length + 1);
  return concat(input.subarray(0, at), chunk, input.subarray(at));
};

const BLIND: readonly Mutator[] = [
  flipBits,
  flipBits,
  setBytes,
  truncate,
  extend,
  insertBytes,
  deleteRange,
  repeatRange,
  overwriteVarint,
  splice,
];

/** A mutation that needs the input's field map; undefined when the map has nothing to offer. */
function fieldMutation(source: MutationSource, ctx: MutationContext): Uint8Array | undefined {
  const { input, fields } = source;
  const { rng } = ctx;
  const choice = rng.below(6);
  if (choice <= 1 && fields.lengths.length > 0) {
    const field = rng.pick(fields.lengths);
    const encoded = lengthEncodings(rng, field, input.length - field.at - field.size);
    return concat(input.subarray(0, field.at), encoded, input.subarray(field.at + field.size));
  }
  if (choice === 2 && fields.ints.length > 0) {
    const field = rng.pick(fields.ints);
    const out = Uint8Array.from(input);
    out.set(interestingInt(rng, field.size), field.at);
    return out;
  }
  if (fields.items.length === 0) return undefined;
  const item = rng.pick(fields.items);
  const body = input.subarray(item.start, item.end);
  switch (choice) {
    case 3: // the item twice (a repeated proposal, extension, leaf, ...)
      return replaceItem(input, item.start, item.end, concat(body, body), item.lengths);
    case 4: // the item gone
      return replaceItem(input, item.start, item.end, new Uint8Array(0), item.lengths);
    default: {
      // The item replaced by another one of the same input (often of the same kind).
      const donor = rng.pick(fields.items);
      return replaceItem(
        input,
        item.start,
        item.end,
        input.slice(donor.start, donor.end),
        item.lengths,
      );
    }
  }
}

/**
 * One to a few mutations of `source`. A field-map edit, when there is one, comes first, since
 * the map describes the input before any other change.
 */
export function mutate(source: MutationSource, ctx: MutationContext): Uint8Array {
  const { rng } = ctx;
  let out = source.input;
  let steps = 1 + (rng.chance(0.3) ? rng.below(3) : 0);
  if (rng.chance(0.45)) {
    const edited = fieldMutation(source, ctx);
    if (edited) {
      out = edited;
      steps--;
    }
  }
  for (let i = 0; i < steps; i++) out = rng.pick(BLIND)(out, ctx);
  if (out === source.input) out = flipBits(out, ctx);
  return out.length > ctx.maxLength ? out.slice(0, ctx.maxLength) : out;
}
