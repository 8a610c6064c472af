import { MlsError } from '../errors.js';

/**
 * Reads TLS presentation-language values from a byte string, refusing anything RFC 9420 §2.1
 * does not allow: truncation, non-minimal or invalid varints, bad optional markers, and vector
 * bodies that do not decode exactly. Every failure is an `MlsError`.
 *
 * Lengths are compared with the bytes actually present before anything is read or allocated,
 * so a hostile length field costs nothing.
 */
export class Reader {
  private pos: number;
  /** Exclusive end of the region being read; narrowed while inside a vector. */
  private end: number;

  constructor(private readonly bytes: Uint8Array) {
    this.pos = 0;
    this.end = bytes.length;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): void {
    if (n > this.end - this.pos) {
      throw new MlsError(
        'TRUNCATED',
        `${what}: needs ${n} bytes at offset ${this.pos}, ${this.end - this.pos} left`,
      );
    }
  }

  u8(): number {
    this.need(1, 'uint8');
    return this.bytes[this.pos++]!;
  }

  u16(): number {
    this.need(2, 'uint16');
    const b = this.bytes;
    const v = (b[this.pos]! << 8) | b[this.pos + 1]!;
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4, 'uint32');
    const b = this.bytes;
    const p = this.pos;
    const v = ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
    this.pos += 4;
    return v;
  }

  u64(): bigint {
    this.need(8, 'uint64');
    const high = this.u32();
    const low = this.u32();
    return (BigInt(high) << 32n) | BigInt(low);
  }

  /** RFC 9420 §2.1.2 variable-length integer; the minimal encoding is required. */
  varint(): number {
    this.need(1, 'varint');
    const first = this.bytes[this.pos]!;
    const prefix = first >> 6;
    if (prefix === 3) throw new MlsError('INVALID_VARINT', `invalid varint prefix at ${this.pos}`);
    const size = 1 << prefix;
    this.need(size, 'varint');
    let v = first & 0x3f;
    for (let i = 1; i < size; i++) v = v * 256 + this.bytes[this.pos + i]!;
    if (prefix >= 1 && v < 1 << (8 * (size / 2) - 2)) {
      throw new MlsError('NON_MINIMAL_VARINT', `varint at ${this.pos} is not minimally encoded`);
    }
    this.pos += size;
    return v;
  }

  /** Fixed-size field: exactly `n` bytes, copied so the result owns its memory. */
  raw(n: number): Uint8Array {
    this.need(n, 'fixed-size field');
    const out = this.bytes.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** `opaque field<V>`, refusing bodies longer than `maxLength` when given. */
  opaque(maxLength?: number): Uint8Array {
    const n = this.varint();
    if (maxLength !== undefined && n > maxLength) {
      throw new MlsError(
        'OVERSIZE',
        `opaque field of ${n} bytes exceeds the limit of ${maxLength}`,
      );
    }
    this.need(n, 'opaque field');
    const out = this.bytes.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** `T field<V>`: decodes items until the announced byte length is used up exactly. */
  vector<T>(decodeItem: (r: Reader) => T): T[] {
    const items: T[] = [];
    this.within(this.varint(), () => {
      while (this.pos < this.end) items.push(decodeItem(this));
    });
    return items;
  }

  /** A varint-prefixed region whose content `body` must consume exactly. */
  prefixed<T>(body: (r: Reader) => T): T {
    return this.within(this.varint(), () => body(this));
  }

  /** `optional<T>`: presence byte 0 or 1, anything else is refused. */
  optional<T>(decodeValue: (r: Reader) => T): T | undefined {
    const present = this.u8();
    if (present === 0) return undefined;
    if (present === 1) return decodeValue(this);
    throw new MlsError('INVALID_OPTIONAL', `optional presence byte is ${present}, not 0 or 1`);
  }

  /** Throws unless every byte has been read. */
  done(): void {
    if (this.pos !== this.end) {
      throw new MlsError('TRAILING_BYTES', `${this.end - this.pos} unexpected trailing bytes`);
    }
  }

  private within<T>(length: number, body: () => T): T {
    this.need(length, 'vector body');
    const outerEnd = this.end;
    this.end = this.pos + length;
    const value = body();
    if (this.pos !== this.end) {
      throw new MlsError('TRAILING_BYTES', `vector body has ${this.end - this.pos} unread bytes`);
    }
    this.end = outerEnd;
    return value;
  }
}
