/**
 * Field maps: where an input's length fields, integers and vector items are, learnt by watching
 * the engine's own `Reader` decode it. Mutators use them to edit a length field, an enum or an
 * index in place, or to repeat, drop or swap a whole vector item while keeping every enclosing
 * length right, which reaches checks that random bytes would only hit by luck.
 *
 * The Reader's methods are wrapped only while one input is traced, and only reads of that
 * input's own bytes are recorded (nested decodes of copied fields are not).
 */
import { Reader } from '../packages/mls/src/codec/index.js';

/** A varint-encoded length in the input. */
export interface LengthField {
  readonly at: number;
  /** Bytes the varint takes: 1, 2 or 4. */
  readonly size: number;
  readonly value: number;
}

/** A fixed-size integer in the input (enum values, indices, versions). */
export interface IntField {
  readonly at: number;
  readonly size: 1 | 2 | 4 | 8;
}

/** A region whose bytes can be replaced if `lengths` (innermost first) are fixed up. */
export interface Item {
  readonly start: number;
  readonly end: number;
  readonly lengths: readonly LengthField[];
}

export interface FieldMap {
  readonly lengths: readonly LengthField[];
  readonly ints: readonly IntField[];
  readonly items: readonly Item[];
}

export const EMPTY_FIELD_MAP: FieldMap = { lengths: [], ints: [], items: [] };

/** A Reader as seen from here: its private `bytes` too, to tell which input it reads. */
type AnyReader = {
  readonly bytes: Uint8Array;
  readonly offset: number;
  readonly remaining: number;
};
type Method = (this: AnyReader, ...args: any[]) => any;

function readVarint(bytes: Uint8Array, at: number): LengthField | undefined {
  if (at >= bytes.length) return undefined;
  const prefix = bytes[at]! >> 6;
  if (prefix === 3) return undefined;
  const size = 1 << prefix;
  if (at + size > bytes.length) return undefined;
  let value = bytes[at]! & 0x3f;
  for (let i = 1; i < size; i++) value = value * 256 + bytes[at + i]!;
  return { at, size, value };
}

/**
 * Runs `decode` (which must read `input` through a Reader over that very array) and returns
 * the fields it read, at their offsets plus `base` (for an input that is part of a larger one).
 * Errors from `decode` are swallowed: a partial map is still useful.
 */
export function traceFields(input: Uint8Array, decode: () => unknown, base = 0): FieldMap {
  const lengths: LengthField[] = [];
  const ints: IntField[] = [];
  const items: Item[] = [];
  const open: LengthField[] = [];
  const proto = Reader.prototype as unknown as Record<string, Method>;
  const originals = new Map<string, Method>();
  const wrap = (name: string, replacement: (original: Method) => Method) => {
    const original = proto[name]!;
    originals.set(name, original);
    proto[name] = replacement(original);
  };
  const mine = (r: AnyReader) => r.bytes === input;

  for (const [name, size] of [
    ['u8', 1],
    ['u16', 2],
    ['u32', 4],
    ['u64', 8],
  ] as const) {
    wrap(
      name,
      (original) =>
        function (this: AnyReader) {
          if (mine(this) && this.remaining >= size) ints.push({ at: this.offset, size });
          return original.call(this);
        },
    );
  }
  wrap(
    'varint',
    (original) =>
      function (this: AnyReader) {
        const field = mine(this) ? readVarint(input, this.offset) : undefined;
        const value = original.call(this);
        if (field) lengths.push(field);
        return value;
      },
  );
  wrap(
    'opaque',
    (original) =>
      function (this: AnyReader, maxLength?: number) {
        const field = mine(this) ? readVarint(input, this.offset) : undefined;
        const value = original.call(this, maxLength) as Uint8Array;
        if (field) {
          const start = field.at + field.size;
          items.push({ start, end: start + field.value, lengths: [field, ...[...open].reverse()] });
        }
        return value;
      },
  );
  for (const name of ['vector', 'prefixed']) {
    wrap(
      name,
      (original) =>
        function (this: AnyReader, body: (r: Reader) => unknown) {
          const field = mine(this) ? readVarint(input, this.offset) : undefined;
          if (!field) return original.call(this, body);
          open.push(field);
          try {
            if (name === 'prefixed') return original.call(this, body);
            // Each item of a vector is a unit that can be repeated, dropped or swapped.
            return original.call(this, (r: Reader) => {
              const start = r.offset;
              const value = body(r);
              items.push({ start, end: r.offset, lengths: [...open].reverse() });
              return value;
            });
          } finally {
            open.pop();
          }
        },
    );
  }

  try {
    decode();
  } catch {
    // A refused input still maps the fields read before the refusal.
  } finally {
    for (const [name, original] of originals) proto[name] = original;
  }
  if (base === 0) return { lengths, ints, items };
  const shift = <T extends { at: number }>(f: T): T => ({ ...f, at: f.at + base });
  return {
    lengths: lengths.map(shift),
    ints: ints.map(shift),
    items: items.map((i) => ({
      start: i.start + base,
      end: i.end + base,
      lengths: i.lengths.map(shift),
    })),
  };
}
