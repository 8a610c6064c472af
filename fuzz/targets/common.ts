/** Small pieces the targets share. */
import { MlsError } from '../../packages/mls/src/index.js';
import { traceFields, type FieldMap } from '../trace.js';

/** MLS targets: an `MlsError` is a refusal with its code; anything else is a failure. */
export function classifyMls(error: unknown): string | undefined {
  return error instanceof MlsError ? error.code : undefined;
}

/** A field map from decoding `input` with `decode` (which must read `input` itself). */
export function fieldsBy(decode: (input: Uint8Array) => unknown): (input: Uint8Array) => FieldMap {
  return (input) => traceFields(input, () => decode(input));
}

/** The MLSMessage header (version, wire format) taken off: the structure inside. */
export const unwrap = (message: Uint8Array): Uint8Array => message.subarray(4);

export const distinct = (inputs: Uint8Array[]): Uint8Array[] => {
  const seen = new Set<string>();
  return inputs.filter((input) => {
    const key = Buffer.from(input).toString('hex');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
};
