/**
 * Base64 as Matrix uses it (appendix "Unpadded Base64"): standard alphabet, unpadded on output;
 * on input padded or unpadded ("implementations SHOULD accept input with or without padding"),
 * otherwise strict. Node's decoder skips characters it does not know, so each string is checked
 * against the alphabet and for a canonical last quantum before it is decoded: one byte string,
 * one accepted text (apart from the optional padding).
 */
import { MatrixError } from './errors.js';

const BASE64_BODY = /^[A-Za-z0-9+/]*$/;

export function encodeUnpaddedBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    .toString('base64')
    .replace(/=+$/, '');
}

/** Decodes standard base64, padded or not; `what` names the field in the `INVALID_BASE64` error. */
export function decodeBase64(text: unknown, what: string): Uint8Array {
  if (typeof text !== 'string') {
    throw new MatrixError('INVALID_BASE64', `${what} is not a string`);
  }
  const body = text.replace(/={1,2}$/, '');
  const padded = body.length !== text.length;
  if (!BASE64_BODY.test(body) || body.length % 4 === 1 || (padded && text.length % 4 !== 0)) {
    throw new MatrixError('INVALID_BASE64', `${what} is not valid base64`);
  }
  const bytes = new Uint8Array(Buffer.from(body, 'base64'));
  if (encodeUnpaddedBase64(bytes) !== body) {
    throw new MatrixError('INVALID_BASE64', `${what} is not canonical base64`);
  }
  return bytes;
}
