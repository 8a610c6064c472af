import type { Tx } from '../db/index.js';
import { initKeyHash } from '../db/initKeyHash.js';
import { invalidParam, type MatrixError } from '../errors.js';
import {
  CredentialType,
  ExtensionType,
  IDENTITY_SEPARATOR,
  MlsError,
  WireFormat,
  cipherSuite,
  decode,
  findExtension,
  keyPackageCodec,
  makeKeyPackageRef,
  mlsMessageCodec,
  nodeCrypto,
  parseAlgorithm,
  validateKeyPackage,
  type KeyPackage,
} from '../mls.js';

/**
 * Every check the server makes on an uploaded KeyPackage, in one place. The MLS engine checks
 * what RFC 9420 §10.1 asks of any KeyPackage (signatures, leaf node source and signature,
 * lifetime, cipher suite, init_key ≠ encryption_key); this module adds the directory's own rules
 * (polyproto-mls §1.1, MSC2883): the credential names the uploading device, the suite is the one
 * the algorithm names, the lifetime is not longer than allowed, the last_resort extension is
 * present exactly on fallback keys, the key id is the KeyPackageRef, and no init_key is accepted
 * twice, ever.
 */

/** Why a KeyPackage was refused; sent as `io.trellis.key_package_check` in the error. */
export type KeyPackageCheck =
  | 'encoding'
  | 'malformed'
  | 'wire_format'
  | 'cipher_suite'
  | 'invalid'
  | 'signature'
  | 'leaf_node'
  | 'lifetime'
  | 'lifetime_too_long'
  | 'credential_identity'
  | 'last_resort_missing'
  | 'last_resort_unexpected'
  | 'key_id'
  | 'duplicate_init_key';

export interface VerifiedKeyPackage {
  /** The value stored and handed out: unpadded base64 of the MLSMessage, whichever form came. */
  value: string;
  /** Unpadded base64 of the HPKE init_key. */
  initKey: string;
  /** not_after, in milliseconds. */
  expiresTs: number;
}

export interface KeyPackageRules {
  userId: string;
  deviceId: string;
  now: number;
  maxLifetimeSeconds: number;
  clockSkewSeconds: number;
}

const UNPADDED_BASE64 = /^[A-Za-z0-9+/]*$/;

export const toBase64 = (bytes: Uint8Array) =>
  Buffer.from(bytes).toString('base64').replace(/=+$/, '');

function refuse(name: string, check: KeyPackageCheck, why: string): MatrixError {
  return invalidParam(`KeyPackage ${name}: ${why}`, { 'io.trellis.key_package_check': check });
}

/** Engine failure codes, as the server reports them. */
function checkOfEngineError(code: string): KeyPackageCheck {
  switch (code) {
    case 'BAD_SIGNATURE':
      return 'signature';
    case 'KEY_PACKAGE_EXPIRED':
      return 'lifetime';
    case 'UNSUPPORTED_CIPHER_SUITE':
      return 'cipher_suite';
    case 'INVALID_LEAF_NODE':
    case 'INVALID_CREDENTIAL':
    case 'UNSUPPORTED_CAPABILITY':
      return 'leaf_node';
    default:
      return 'invalid';
  }
}

/** True when the one-time-key algorithm is a KeyPackage algorithm (`m.dmls.v1.key_package.*`). */
export const isKeyPackageAlgorithm = (algorithm: string) =>
  parseAlgorithm(algorithm)?.kind === 'key_package';

/** The MLSMessage header of a KeyPackage: version mls10 (1), wire format mls_key_package. */
const MLS_MESSAGE_HEADER = new Uint8Array([0, 1, 0, WireFormat.mls_key_package]);

/**
 * The KeyPackage in `bytes`, which hold either an MLSMessage(mls_key_package) (what clients
 * should send) or the bare KeyPackage; and the KeyPackage's own encoding, which the
 * KeyPackageRef hashes. The forms differ from the third byte on: an MLSMessage has the wire
 * format 5 and then a KeyPackage's version 1, where a bare KeyPackage has its cipher suite and
 * then the init_key's length prefix, which is never 0x0001.
 */
function decodeEither(
  name: string,
  bytes: Uint8Array,
): { keyPackage: KeyPackage; keyPackageBytes: Uint8Array } {
  const wrapped =
    bytes.length >= 6 && MLS_MESSAGE_HEADER.every((b, i) => bytes[i] === b) && bytes[4] === 0;
  try {
    if (wrapped) {
      const message = decode(mlsMessageCodec, bytes);
      if (message.wireFormat !== WireFormat.mls_key_package) throw new Error('unreachable');
      return { keyPackage: message.keyPackage, keyPackageBytes: bytes.subarray(4) };
    }
    return { keyPackage: decode(keyPackageCodec, bytes), keyPackageBytes: bytes };
  } catch (err) {
    if (!(err instanceof MlsError)) throw err;
    // An MLSMessage of another kind (a Welcome, a commit) says so rather than "malformed".
    let wireFormat: number | undefined;
    try {
      wireFormat = decode(mlsMessageCodec, bytes).wireFormat;
    } catch {
      // not an MLSMessage either
    }
    if (wireFormat !== undefined && wireFormat !== WireFormat.mls_key_package) {
      throw refuse(name, 'wire_format', `wire format ${wireFormat} is not mls_key_package`);
    }
    throw refuse(name, 'malformed', err.message);
  }
}

/**
 * Verifies one uploaded KeyPackage `<algorithm>:<keyId>` → `value` (unpadded base64 of an
 * MLSMessage carrying a KeyPackage, or of the bare KeyPackage). Throws a 400 M_INVALID_PARAM
 * naming the failed check.
 */
export function verifyKeyPackage(
  algorithm: string,
  keyId: string,
  value: unknown,
  fallback: boolean,
  rules: KeyPackageRules,
): VerifiedKeyPackage {
  const name = `${algorithm}:${keyId}`;
  const parsed = parseAlgorithm(algorithm);
  if (parsed?.kind !== 'key_package')
    throw refuse(name, 'cipher_suite', 'unknown KeyPackage algorithm');
  if (typeof value !== 'string' || !UNPADDED_BASE64.test(value) || value.length % 4 === 1) {
    throw refuse(name, 'encoding', 'the key must be unpadded base64');
  }
  const bytes = new Uint8Array(Buffer.from(value, 'base64'));
  if (toBase64(bytes) !== value) {
    throw refuse(name, 'encoding', 'the key is not canonical unpadded base64');
  }
  const { keyPackage, keyPackageBytes } = decodeEither(name, bytes);

  if (keyPackage.cipherSuite !== parsed.suite) {
    throw refuse(
      name,
      'cipher_suite',
      `cipher suite ${keyPackage.cipherSuite} is not the algorithm's ${parsed.suite}`,
    );
  }
  const suite = cipherSuite(parsed.suite, nodeCrypto);
  const nowSeconds = BigInt(Math.floor(rules.now / 1000));
  try {
    // The maximum lifetime is the directory's rule, checked below with its own reason.
    validateKeyPackage(suite, keyPackage, { now: nowSeconds });
  } catch (err) {
    if (err instanceof MlsError) throw refuse(name, checkOfEngineError(err.code), err.message);
    throw err;
  }

  const leaf = keyPackage.leafNode;
  const credential = leaf.credential;
  const identity = `${rules.userId}${IDENTITY_SEPARATOR}${rules.deviceId}`;
  if (
    credential.credentialType !== CredentialType.basic ||
    Buffer.from(credential.identity).toString('utf8') !== identity ||
    !Buffer.from(identity, 'utf8').equals(Buffer.from(credential.identity))
  ) {
    throw refuse(
      name,
      'credential_identity',
      `the credential must be a basic credential for "${identity}"`,
    );
  }

  if (!('lifetime' in leaf)) throw refuse(name, 'leaf_node', 'leaf node has no lifetime');
  const { notBefore, notAfter } = leaf.lifetime;
  const skew = BigInt(rules.clockSkewSeconds);
  if (notBefore > nowSeconds + skew || notAfter < nowSeconds) {
    throw refuse(name, 'lifetime', 'the KeyPackage is not valid now');
  }
  if (notAfter - notBefore > BigInt(rules.maxLifetimeSeconds)) {
    throw refuse(
      name,
      'lifetime_too_long',
      `lifetime is longer than ${rules.maxLifetimeSeconds} seconds`,
    );
  }

  const lastResort = findExtension(keyPackage.extensions, ExtensionType.last_resort) !== undefined;
  if (fallback && !lastResort) {
    throw refuse(
      name,
      'last_resort_missing',
      'a fallback KeyPackage needs the last_resort extension',
    );
  }
  if (!fallback && lastResort) {
    throw refuse(name, 'last_resort_unexpected', 'a one-time KeyPackage may not carry last_resort');
  }

  const ref = toBase64(makeKeyPackageRef(suite, keyPackageBytes));
  if (ref !== keyId) throw refuse(name, 'key_id', `the key id must be the KeyPackageRef ${ref}`);

  const message = new Uint8Array(MLS_MESSAGE_HEADER.length + keyPackageBytes.length);
  message.set(MLS_MESSAGE_HEADER);
  message.set(keyPackageBytes, MLS_MESSAGE_HEADER.length);
  return {
    value: toBase64(message),
    initKey: toBase64(keyPackage.initKey),
    expiresTs: Number(notAfter) * 1000,
  };
}

/** Refuses two KeyPackages with the same init_key within one upload. */
export function checkDistinctInitKeys(keys: { name: string; initKey: string }[]): void {
  const seen = new Set<string>();
  for (const { name, initKey } of keys) {
    if (seen.has(initKey))
      throw refuse(
        name,
        'duplicate_init_key',
        'another KeyPackage in this upload has the same init_key',
      );
    seen.add(initKey);
  }
}

/**
 * Records the init_keys of an upload's new KeyPackages in the registry of every init_key ever
 * accepted, or refuses the upload if any was accepted before — claimed, replaced or expired
 * since, it is never accepted again. One statement per 500 keys; runs in the upload's
 * transaction, and the registry's primary key settles concurrent uploads of one init_key.
 */
export async function reserveInitKeys(
  trx: Tx,
  keys: { name: string; initKey: string }[],
): Promise<void> {
  for (let i = 0; i < keys.length; i += INIT_KEY_BATCH) {
    const batch = keys
      .slice(i, i + INIT_KEY_BATCH)
      .map((k) => ({ ...k, hash: initKeyHash(k.initKey) }));
    const inserted = await trx
      .insertInto('init_key_hashes')
      .values(batch.map((k) => ({ hash: k.hash })))
      .onConflict((oc) => oc.doNothing())
      .returning('hash')
      .execute();
    if (inserted.length === batch.length) continue;
    const fresh = new Set(inserted.map((r) => r.hash));
    const reused = batch.find((k) => !fresh.has(k.hash))!;
    throw refuse(
      reused.name,
      'duplicate_init_key',
      'this init_key was accepted before (an init_key is used once, even after a claim)',
    );
  }
}

const INIT_KEY_BATCH = 500;
