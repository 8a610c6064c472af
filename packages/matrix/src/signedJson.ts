/**
 * Signed JSON (appendix "Signing JSON", "Signing Details" and "Checking for a Signature"): an
 * object is signed over the canonical JSON of the object without its `signatures` and
 * `unsigned` members; the signature, unpadded base64, goes to
 * `signatures[<entity>]["ed25519:<key id>"]`, the "signing key identifier" being the signing
 * algorithm, a colon and the key identifier. `unsigned` and other signatures are not covered,
 * so intermediaries may add to them.
 */
import { decodeBase64, encodeUnpaddedBase64 } from './base64.js';
import { canonicalJsonBytes } from './canonicalJson.js';
import {
  ED25519_SIGNATURE_SIZE,
  ed25519Sign,
  ed25519Verify,
  type Ed25519KeyPair,
} from './ed25519.js';
import { MatrixError, describeValue, isJsonObject } from './errors.js';

/** The one signing algorithm the appendix defines. */
export const ED25519_ALGORITHM = 'ed25519';

export type JsonObject = Record<string, unknown>;

/** `signatures`: entity -> signing key identifier -> unpadded base64 signature. */
export type Signatures = Record<string, Record<string, string>>;

/** The signing key identifier of an Ed25519 key: "ed25519:" then the key identifier. */
export function ed25519KeyId(keyId: string): string {
  if (typeof keyId !== 'string' || keyId.length === 0) {
    throw new MatrixError('MALFORMED_SIGNED_JSON', 'a key identifier is a non-empty string');
  }
  return `${ED25519_ALGORITHM}:${keyId}`;
}

/** The bytes a signature covers: canonical JSON of `object` without `signatures` and `unsigned`. */
export function signedBytes(object: JsonObject): Uint8Array {
  const { signatures: _signatures, unsigned: _unsigned, ...covered } = object;
  return canonicalJsonBytes(covered);
}

/** Reads `signatures` of a received object; absent is empty, anything but string maps is refused. */
export function readSignatures(object: JsonObject): Signatures {
  const signatures = object.signatures;
  if (signatures === undefined) return {};
  if (!isJsonObject(signatures)) {
    throw new MatrixError(
      'MALFORMED_SIGNED_JSON',
      `signatures is ${describeValue(signatures)}, not an object`,
    );
  }
  const out: Signatures = {};
  for (const [entity, byKey] of Object.entries(signatures)) {
    if (!isJsonObject(byKey)) {
      throw new MatrixError(
        'MALFORMED_SIGNED_JSON',
        `signatures[${JSON.stringify(entity)}] is not an object`,
      );
    }
    const copy: Record<string, string> = {};
    for (const [keyId, signature] of Object.entries(byKey)) {
      if (typeof signature !== 'string') {
        throw new MatrixError(
          'MALFORMED_SIGNED_JSON',
          `signatures[${JSON.stringify(entity)}][${JSON.stringify(keyId)}] is not a string`,
        );
      }
      copy[keyId] = signature;
    }
    out[entity] = copy;
  }
  return out;
}

/**
 * A copy of `object` with `entity`'s signature under "ed25519:<keyId>" added; signatures already
 * there are kept (one under the same identifier is replaced). `object` itself is not changed.
 */
export function signJson<T extends object>(
  object: T,
  entity: string,
  keyId: string,
  keyPair: Ed25519KeyPair,
): T & { signatures: Signatures } {
  if (!isJsonObject(object)) {
    throw new MatrixError('MALFORMED_SIGNED_JSON', 'only a JSON object can be signed');
  }
  const id = ed25519KeyId(keyId);
  const signature = encodeUnpaddedBase64(ed25519Sign(keyPair.seed, signedBytes(object)));
  const signatures = readSignatures(object as JsonObject);
  signatures[entity] = { ...signatures[entity], [id]: signature };
  return { ...object, signatures };
}

/**
 * Checks that `entity` signed `object` with the Ed25519 key `publicKey` known as `keyId`, the
 * appendix's steps: no entry for the entity or no signature under "ed25519:<keyId>" is
 * `SIGNATURE_MISSING`; a signature that is not base64 of 64 bytes is `SIGNATURE_MALFORMED`;
 * one that does not verify over the canonical form is `BAD_SIGNATURE`.
 */
export function verifyJsonSignature(
  object: unknown,
  entity: string,
  keyId: string,
  publicKey: Uint8Array,
): void {
  if (!isJsonObject(object)) {
    throw new MatrixError(
      'MALFORMED_SIGNED_JSON',
      `a signed object is expected, not ${describeValue(object)}`,
    );
  }
  const id = ed25519KeyId(keyId);
  const fromEntity = readSignatures(object)[entity];
  if (fromEntity === undefined) {
    throw new MatrixError(
      'SIGNATURE_MISSING',
      `${JSON.stringify(entity)} has not signed the object`,
    );
  }
  const encoded = fromEntity[id];
  if (encoded === undefined) {
    throw new MatrixError(
      'SIGNATURE_MISSING',
      `${JSON.stringify(entity)} has no signature under ${JSON.stringify(id)}`,
    );
  }
  let signature: Uint8Array;
  try {
    signature = decodeBase64(encoded, `the signature of ${JSON.stringify(entity)}`);
  } catch (e) {
    throw new MatrixError('SIGNATURE_MALFORMED', (e as Error).message, { cause: e });
  }
  if (signature.length !== ED25519_SIGNATURE_SIZE) {
    throw new MatrixError(
      'SIGNATURE_MALFORMED',
      `an Ed25519 signature has ${ED25519_SIGNATURE_SIZE} bytes, not ${signature.length}`,
    );
  }
  if (!ed25519Verify(publicKey, signedBytes(object), signature)) {
    throw new MatrixError(
      'BAD_SIGNATURE',
      `the signature of ${JSON.stringify(entity)} under ${JSON.stringify(id)} does not verify`,
    );
  }
}
