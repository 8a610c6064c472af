/**
 * The labelled operations of RFC 9420 §5 and §8 over a bound cipher suite. Every label gets the
 * "MLS 1.0 " prefix here, except RefHash labels, which RFC 9420 §5.2 spells out in full.
 */
import { encodeTransient, Writer } from '../codec/writer.js';
import { MlsError } from '../errors.js';
import { openBase, PreparedInfo, sealBase } from '../hpke.js';
import type { HpkeCiphertext } from '../messages/updatePath.js';
import { EMPTY, utf8 } from '../util/bytes.js';
import type { CipherSuite } from './suites.js';

const MLS_PREFIX = 'MLS 1.0 ';

/** `struct { opaque a<V>; opaque b<V>; }`, the shape of SignContent, EncryptContext and RefHashInput. */
function twoOpaques(a: Uint8Array, b: Uint8Array): Uint8Array {
  const w = new Writer(a.length + b.length + 8);
  w.opaque(a);
  w.opaque(b);
  return w.finish();
}

/** Encoded labels, memoised: the engine uses a few dozen fixed labels on every message. */
const encodedLabels = new Map<string, Uint8Array>();

function mlsLabel(label: string): Uint8Array {
  let bytes = encodedLabels.get(label);
  if (bytes === undefined) {
    bytes = utf8(MLS_PREFIX + label);
    // Callers may pass arbitrary exporter labels; only keep a bounded number.
    if (encodedLabels.size < 256) encodedLabels.set(label, bytes);
  }
  return bytes;
}

/** ExpandWithLabel(Secret, Label, Context, Length) = KDF.Expand(Secret, KDFLabel, Length) (§8). */
export function expandWithLabel(
  suite: CipherSuite,
  secret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Uint8Array {
  // KDFLabel.length is a uint16, and DataView would silently wrap anything larger.
  if (!Number.isInteger(length) || length < 0 || length > 0xffff) {
    throw new MlsError('INVALID_LENGTH', `ExpandWithLabel length ${length} is not a uint16`);
  }
  // A small writer of the exact size: cheaper than a lent one (`encodeTransient`) at this size.
  const w = new Writer(context.length + label.length + 16);
  w.u16(length);
  w.opaque(mlsLabel(label));
  w.opaque(context);
  return suite.kdf.expand(secret, w.finish(), length);
}

/** DeriveSecret(Secret, Label) = ExpandWithLabel(Secret, Label, "", KDF.Nh) (§8). */
export function deriveSecret(suite: CipherSuite, secret: Uint8Array, label: string): Uint8Array {
  return expandWithLabel(suite, secret, label, EMPTY, suite.kdf.size);
}

/** DeriveTreeSecret(Secret, Label, Generation, Length), the generation as a big-endian uint32 (§9.1). */
export function deriveTreeSecret(
  suite: CipherSuite,
  secret: Uint8Array,
  label: string,
  generation: number,
  length: number,
): Uint8Array {
  if (!Number.isInteger(generation) || generation < 0 || generation > 0xffffffff) {
    throw new MlsError('INVALID_VALUE', `generation ${generation} is not a uint32`);
  }
  const context = new Uint8Array(4);
  new DataView(context.buffer).setUint32(0, generation);
  return expandWithLabel(suite, secret, label, context, length);
}

/** RefHash(label, value) = Hash(RefHashInput) (§5.2); the label is used exactly as given. */
export function refHash(suite: CipherSuite, label: string, value: Uint8Array): Uint8Array {
  return encodeTransient((w) => {
    w.opaque(utf8(label));
    w.opaque(value);
  }, suite.hash.digest);
}

/** KeyPackageRef of an encoded KeyPackage (the whole MLSMessage-free `KeyPackage` struct). */
export function makeKeyPackageRef(suite: CipherSuite, keyPackage: Uint8Array): Uint8Array {
  return refHash(suite, 'MLS 1.0 KeyPackage Reference', keyPackage);
}

/** ProposalRef of an encoded AuthenticatedContent carrying a proposal. */
export function makeProposalRef(suite: CipherSuite, authenticatedContent: Uint8Array): Uint8Array {
  return refHash(suite, 'MLS 1.0 Proposal Reference', authenticatedContent);
}

/** SignContent (§5.1.2): the label, then the content that `write` encodes, as one opaque. */
function writeSignContent(w: Writer, label: string, write: (w: Writer) => void): void {
  w.opaque(mlsLabel(label));
  w.prefixed(write);
}

/** SignWithLabel(SignatureKey, Label, Content) = Signature.Sign(SignatureKey, SignContent) (§5.1.2). */
export function signWithLabel(
  suite: CipherSuite,
  privateKey: Uint8Array,
  label: string,
  content: Uint8Array,
): Uint8Array {
  return signEncodedWithLabel(suite, privateKey, label, (w) => w.raw(content));
}

/** SignWithLabel of a content that `write` encodes, written straight into SignContent. */
export function signEncodedWithLabel(
  suite: CipherSuite,
  privateKey: Uint8Array,
  label: string,
  write: (w: Writer) => void,
): Uint8Array {
  return encodeTransient(
    (w) => writeSignContent(w, label, write),
    (signContent) => suite.signature.sign(privateKey, signContent),
  );
}

/** VerifyWithLabel: false for any bad key or signature, never throws on them. */
export function verifyWithLabel(
  suite: CipherSuite,
  publicKey: Uint8Array,
  label: string,
  content: Uint8Array,
  signature: Uint8Array,
): boolean {
  return verifyEncodedWithLabel(suite, publicKey, label, (w) => w.raw(content), signature);
}

/** VerifyWithLabel of a content that `write` encodes, written straight into SignContent. */
export function verifyEncodedWithLabel(
  suite: CipherSuite,
  publicKey: Uint8Array,
  label: string,
  write: (w: Writer) => void,
  signature: Uint8Array,
): boolean {
  return encodeTransient(
    (w) => writeSignContent(w, label, write),
    (signContent) => suite.signature.verify(publicKey, signContent, signature),
  );
}

/**
 * VerifyWithLabel of many signatures under one label, each result as `verifyWithLabel` gives it;
 * in one batch, so a provider may spread them over threads (`Signature.verifyMany`). Each
 * content is what its `write` encodes.
 */
export function verifyManyWithLabel(
  suite: CipherSuite,
  label: string,
  items: readonly { publicKey: Uint8Array; write: (w: Writer) => void; signature: Uint8Array }[],
): boolean[] {
  const checks = items.map(({ publicKey, write, signature }) => {
    const w = new Writer();
    writeSignContent(w, label, write);
    return { publicKey, message: w.finish(), signature };
  });
  const { signature } = suite;
  return signature.verifyMany
    ? signature.verifyMany(checks)
    : checks.map((c) => signature.verify(c.publicKey, c.message, c.signature));
}

/** EncryptWithLabel = SealBase(PublicKey, EncryptContext, "", Plaintext) (§5.1.3). */
export function encryptWithLabel(
  suite: CipherSuite,
  publicKey: Uint8Array,
  label: string,
  context: Uint8Array,
  plaintext: Uint8Array,
): HpkeCiphertext {
  const info = twoOpaques(mlsLabel(label), context);
  const { enc, ciphertext } = sealBase(suite, publicKey, info, EMPTY, plaintext);
  return { kemOutput: enc, ciphertext };
}

/**
 * EncryptWithLabel of one plaintext per recipient, all under the same label and context: the
 * context is hashed into the HPKE key schedule once rather than once per recipient (a Welcome's
 * context is the whole encrypted GroupInfo).
 */
export function encryptWithLabelEach(
  suite: CipherSuite,
  label: string,
  context: Uint8Array,
  recipients: readonly { publicKey: Uint8Array; plaintext: Uint8Array }[],
): HpkeCiphertext[] {
  if (recipients.length === 0) return [];
  const info = PreparedInfo.of(suite, twoOpaques(mlsLabel(label), context));
  return recipients.map(({ publicKey, plaintext }) => {
    const { enc, ciphertext } = sealBase(suite, publicKey, info, EMPTY, plaintext);
    return { kemOutput: enc, ciphertext };
  });
}

/** DecryptWithLabel = OpenBase(KEMOutput, PrivateKey, EncryptContext, "", Ciphertext) (§5.1.3). */
export function decryptWithLabel(
  suite: CipherSuite,
  privateKey: Uint8Array,
  label: string,
  context: Uint8Array,
  kemOutput: Uint8Array,
  ciphertext: Uint8Array,
): Uint8Array {
  const info = twoOpaques(mlsLabel(label), context);
  return openBase(suite, kemOutput, privateKey, info, EMPTY, ciphertext);
}

/**
 * MLS-Exporter(Label, Context, Length) =
 *   ExpandWithLabel(DeriveSecret(exporter_secret, Label), "exported", Hash(Context), Length) (§8.5).
 */
export function mlsExporter(
  suite: CipherSuite,
  exporterSecret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Uint8Array {
  const derived = deriveSecret(suite, exporterSecret, label);
  return expandWithLabel(suite, derived, 'exported', suite.hash.digest(context), length);
}
