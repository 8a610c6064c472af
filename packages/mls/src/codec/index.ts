import { MlsError } from '../errors.js';
import { Reader } from './reader.js';
import { encodeTransient, type Writer } from './writer.js';

export { Reader } from './reader.js';
export { encodeTransient, MAX_VARINT, Writer, varintSize } from './writer.js';

/** How one wire structure is written and read. Structures are plain data; codecs are values. */
export interface Codec<T> {
  encode(w: Writer, value: T): void;
  decode(r: Reader): T;
}

/**
 * Serialises `value` to a fresh byte string. Written into a lent writer that has already grown
 * to the sizes in use, then copied once: a fresh writer would grow (and copy) several times for
 * a message of a few KB.
 */
export function encode<T>(codec: Codec<T>, value: T): Uint8Array {
  return encodeTransient(
    (w) => codec.encode(w, value),
    (bytes) => bytes.slice(),
  );
}

/** Parses a complete encoding: trailing bytes are an error. */
export function decode<T>(codec: Codec<T>, bytes: Uint8Array): T {
  const r = new Reader(bytes);
  const value = codec.decode(r);
  r.done();
  return value;
}

/** Refuses a value outside an enum's defined set, naming the enum in the error. */
export function checkEnum<T extends number>(
  value: number,
  known: ReadonlySet<number>,
  enumName: string,
): T {
  if (!known.has(value)) throw new MlsError('UNKNOWN_ENUM', `unknown ${enumName} ${value}`);
  return value as T;
}

/** `opaque value<V>` on its own. */
export const opaqueCodec: Codec<Uint8Array> = {
  encode: (w, bytes) => w.opaque(bytes),
  decode: (r) => r.opaque(),
};
