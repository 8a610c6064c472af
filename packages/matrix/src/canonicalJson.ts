/**
 * Matrix canonical JSON (appendix "Signing JSON", "Canonical JSON"): "the shortest UTF-8 JSON
 * encoding with dictionary keys lexicographically sorted by Unicode codepoint. Numbers in the
 * JSON must be integers in the range [-(2**53)+1, (2**53)-1], represented without exponents or
 * decimal places, and negative zero -0 MUST NOT appear." Float values are not permitted.
 *
 * The input is a JavaScript value as JSON.parse makes it. Whatever has no place in that grammar
 * is refused with a MatrixError rather than dropped or coerced the way JSON.stringify would
 * (it drops `undefined` members, turns NaN into null and calls toJSON), because a signature over
 * a silently altered object would not verify anywhere else. The one coercion is the one the
 * appendix's own example makes: -0 is written as 0.
 */
import { MatrixError, describeValue } from './errors.js';

/** The largest magnitude the appendix allows: 2**53 - 1. */
export const MAX_CANONICAL_INTEGER = Number.MAX_SAFE_INTEGER;

/**
 * How deeply arrays and objects may nest. The appendix sets no limit; this one keeps a hostile
 * or cyclic value from exhausting the stack (a RangeError is not a typed error).
 */
export const MAX_JSON_DEPTH = 512;

/** A lone surrogate: in a `u` regular expression a well-formed pair is one code point. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** Compares two strings by Unicode code point (UTF-16 order differs above U+FFFF). */
export function compareCodePoints(a: string, b: string): number {
  const left = a[Symbol.iterator]();
  const right = b[Symbol.iterator]();
  for (;;) {
    const x = left.next();
    const y = right.next();
    if (x.done || y.done) return x.done === y.done ? 0 : x.done ? -1 : 1;
    const diff = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (diff !== 0) return diff;
  }
}

function encodeString(text: string, path: string): string {
  if (LONE_SURROGATE.test(text)) {
    throw new MatrixError(
      'JSON_INVALID_STRING',
      `${path} has a lone surrogate, which UTF-8 cannot encode`,
    );
  }
  // JSON.stringify of a well-formed string writes exactly the grammar's escapes: \b \t \n \f \r
  // \" \\ and \u00XX (lower-case hex) for the other control characters, everything else as is.
  return JSON.stringify(text);
}

function encodeNumber(value: number, path: string): string {
  if (!Number.isInteger(value)) {
    throw new MatrixError('JSON_NOT_INTEGER', `${path} is ${value}, not an integer`);
  }
  if (Math.abs(value) > MAX_CANONICAL_INTEGER) {
    throw new MatrixError(
      'JSON_INTEGER_RANGE',
      `${path} is ${value}, outside [-(2**53)+1, (2**53)-1]`,
    );
  }
  // Integers in range print without exponent; String(-0) is "0".
  return String(value);
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function encode(value: unknown, path: string, depth: number): string {
  switch (typeof value) {
    case 'string':
      return encodeString(value, path);
    case 'number':
      return encodeNumber(value, path);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      throw new MatrixError('JSON_UNSUPPORTED_VALUE', `${path} is a ${typeof value}, not JSON`);
  }
  if (value === null) return 'null';
  if (depth >= MAX_JSON_DEPTH) {
    throw new MatrixError('JSON_TOO_DEEP', `${path} nests deeper than ${MAX_JSON_DEPTH} levels`);
  }
  if (Array.isArray(value)) {
    const items: string[] = [];
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) {
        throw new MatrixError('JSON_UNSUPPORTED_VALUE', `${path}[${i}] is a hole, not JSON`);
      }
      items.push(encode(value[i], `${path}[${i}]`, depth + 1));
    }
    return `[${items.join(',')}]`;
  }
  if (!isPlainObject(value)) {
    throw new MatrixError(
      'JSON_UNSUPPORTED_VALUE',
      `${path} is ${describeValue(value)} of a class, not a plain JSON object`,
    );
  }
  const keys = Object.keys(value).sort(compareCodePoints);
  const members = keys.map((key) => {
    const where = `${path}.${key}`;
    return `${encodeString(key, `the key ${where}`)}:${encode(value[key], where, depth + 1)}`;
  });
  return `{${members.join(',')}}`;
}

/** The canonical JSON text of `value`; throws a MatrixError (`JSON_*`) for what it cannot hold. */
export function canonicalJson(value: unknown): string {
  return encode(value, '$', 0);
}

const utf8 = new TextEncoder();

/** The canonical JSON of `value` as the UTF-8 bytes that are signed and hashed. */
export function canonicalJsonBytes(value: unknown): Uint8Array {
  return utf8.encode(canonicalJson(value));
}
