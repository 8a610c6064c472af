/**
 * Base64 as the Matrix specification uses it: unpadded on output; on input padded or unpadded
 * (the spec asks clients to accept both), and otherwise strict. Node's own decoder skips
 * characters it does not know, which would let altered input through, so every string is
 * checked against the alphabet and for a canonical final quantum first.
 */
import { BackupError } from './errors.js';

const BASE64 = /^[A-Za-z0-9+/]*$/;

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    .toString('base64')
    .replace(/=+$/, '');
}

/** Decodes standard base64, padded or not; `what` names the field in the error. */
export function decodeBase64(text: string, what: string): Uint8Array {
  const body = text.endsWith('==')
    ? text.slice(0, -2)
    : text.endsWith('=')
      ? text.slice(0, -1)
      : text;
  const padded = body.length !== text.length;
  if (!BASE64.test(body) || body.length % 4 === 1 || (padded && text.length % 4 !== 0)) {
    throw new BackupError('INVALID_BASE64', `${what} is not valid base64`);
  }
  const bytes = new Uint8Array(Buffer.from(body, 'base64'));
  // A last character with bits set beyond the data would decode to the same bytes: refuse it,
  // so that each byte string has one encoding.
  if (encodeBase64(bytes) !== body) {
    throw new BackupError('INVALID_BASE64', `${what} is not canonical base64`);
  }
  return bytes;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/** Strict UTF-8 decoding: undefined for byte strings that are not UTF-8. */
export function fromUtf8(bytes: Uint8Array): string | undefined {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    return undefined;
  }
}
