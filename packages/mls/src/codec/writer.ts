import { MlsError } from '../errors.js';

/** Largest value a RFC 9420 §2.1.2 variable-length integer can carry (30 bits). */
export const MAX_VARINT = 0x3fffffff;

/** Number of bytes the minimal varint encoding of `n` takes. */
export function varintSize(n: number): 1 | 2 | 4 {
  if (n < 0x40) return 1;
  if (n < 0x4000) return 2;
  return 4;
}

/**
 * Appends TLS presentation-language values (RFC 8446 §3, RFC 9420 §2.1) to a growable buffer.
 * Vector lengths are variable-length integers; the writer back-patches them so callers never
 * need to know an encoded size in advance.
 */
export class Writer {
  private buf: Uint8Array;
  private pos = 0;

  constructor(initialCapacity = 256) {
    this.buf = new Uint8Array(initialCapacity);
  }

  get length(): number {
    return this.pos;
  }

  /** The bytes written so far (a copy, so the writer may be reused). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  /** The bytes written so far, not copied: valid only until the next write or `clear`. */
  written(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  /** Zeroes what was written and starts over (see `encodeTransient`). */
  clear(): void {
    this.buf.fill(0, 0, this.pos);
    this.pos = 0;
  }

  get capacity(): number {
    return this.buf.length;
  }

  private reserve(n: number): void {
    const needed = this.pos + n;
    if (needed <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < needed) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  u8(v: number): void {
    this.reserve(1);
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    this.reserve(2);
    const b = this.buf;
    b[this.pos++] = v >>> 8;
    b[this.pos++] = v;
  }

  u32(v: number): void {
    this.reserve(4);
    const b = this.buf;
    b[this.pos++] = v >>> 24;
    b[this.pos++] = v >>> 16;
    b[this.pos++] = v >>> 8;
    b[this.pos++] = v;
  }

  u64(v: bigint): void {
    this.u32(Number((v >> 32n) & 0xffffffffn));
    this.u32(Number(v & 0xffffffffn));
  }

  varint(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > MAX_VARINT) {
      throw new MlsError('OVERSIZE', `value ${n} does not fit a variable-length integer`);
    }
    const size = varintSize(n);
    if (size === 1) this.u8(n);
    else if (size === 2) this.u16(n | 0x4000);
    else this.u32((n | 0x80000000) >>> 0);
  }

  /** Raw bytes with no length prefix (fixed-size fields). */
  raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** `opaque field<V>`: varint length then the bytes. */
  opaque(bytes: Uint8Array): void {
    this.varint(bytes.length);
    this.raw(bytes);
  }

  /** `T field<V>`: varint byte length, then each item as `encodeItem` writes it. */
  vector<T>(items: readonly T[], encodeItem: (w: Writer, item: T) => void): void {
    this.reserve(1);
    const start = this.pos;
    this.pos += 1; // room for the common one-byte length; widened below if needed
    for (const item of items) encodeItem(this, item);
    this.patchLength(start);
  }

  /** Writes `body` under a varint byte-length prefix (a vector whose contents are arbitrary). */
  prefixed(body: (w: Writer) => void): void {
    this.reserve(1);
    const start = this.pos;
    this.pos += 1;
    body(this);
    this.patchLength(start);
  }

  /** `optional<T>`: presence byte, then the value when present. */
  optional<T>(value: T | undefined, encodeValue: (w: Writer, value: T) => void): void {
    if (value === undefined) {
      this.u8(0);
    } else {
      this.u8(1);
      encodeValue(this, value);
    }
  }

  private patchLength(start: number): void {
    const bodyLength = this.pos - start - 1;
    if (bodyLength > MAX_VARINT) {
      throw new MlsError('OVERSIZE', `vector of ${bodyLength} bytes exceeds the varint range`);
    }
    const size = varintSize(bodyLength);
    if (size > 1) {
      this.reserve(size - 1);
      this.buf.copyWithin(start + size, start + 1, this.pos);
      this.pos += size - 1;
    }
    const end = this.pos;
    this.pos = start;
    this.varint(bodyLength);
    this.pos = end;
  }
}

/** Writers lent out by `encodeTransient`, each cleared on return. */
const lendable: Writer[] = [];
const LENDABLE_MAX = 8;
/** A writer that grew past this is not kept: one huge message should not pin its buffer. */
const LENDABLE_CAPACITY = 1 << 16;

/**
 * Encodes with `write` into a reused buffer and passes the bytes to `use` without copying them:
 * for encodings that are consumed at once (hashed, MACed, signed or verified) and never kept.
 * `use` must not keep the array it is given; it may itself call `encodeTransient` (nested calls
 * get their own buffers). The bytes are zeroed as soon as `use` returns, so nothing written
 * outlives the call, even in a buffer kept for the next one.
 */
export function encodeTransient<T>(write: (w: Writer) => void, use: (bytes: Uint8Array) => T): T {
  const w = lendable.pop() ?? new Writer(1024);
  try {
    write(w);
    return use(w.written());
  } finally {
    w.clear();
    if (lendable.length < LENDABLE_MAX && w.capacity <= LENDABLE_CAPACITY) lendable.push(w);
  }
}
