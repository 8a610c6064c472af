/**
 * Base64 as Matrix uses it (appendix "Unpadded Base64"): standard alphabet, unpadded on output;
 * on input padded or unpadded ("implementations SHOULD accept input with or without padding"),
 * otherwise strict, one accepted text per byte string. @trellis/backup has the codec (its key
 * backup is Matrix's base64 too); this gives its refusals this package's error.
 */
import { decodeBase64 as decodeBackupBase64, encodeBase64 } from '@trellis/backup';
import { MatrixError } from './errors.js';
import { fromBackup } from './fromBackup.js';

export const encodeUnpaddedBase64: (bytes: Uint8Array) => string = encodeBase64;

/** Decodes standard base64, padded or not; `what` names the field in the `INVALID_BASE64` error. */
export function decodeBase64(text: unknown, what: string): Uint8Array {
  if (typeof text !== 'string') {
    throw new MatrixError('INVALID_BASE64', `${what} is not a string`);
  }
  return fromBackup(() => decodeBackupBase64(text, what));
}
