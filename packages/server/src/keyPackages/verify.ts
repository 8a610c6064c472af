import type { Tx } from '../db/index.js';
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
 * present exactly on fallback keys, the key id is the KeyPackageRef, and no two KeyPackages share
 * an init_key.
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

/**
 * Verifies one uploaded KeyPackage `<algorithm>:<keyId>` → `value` (unpadded base64 of an
 * MLSMessage carrying a KeyPackage). Throws a 400 M_INVALID_PARAM naming the failed check.
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

  let keyPackage: KeyPackage;
  try {
    const message = decode(mlsMessageCodec, bytes);
    if (message.wireFormat !== WireFormat.mls_key_package) {
      throw refuse(name, 'wire_format', `wire format ${message.wireFormat} is not mls_key_package`);
    }
    keyPackage = message.keyPackage;
  } catch (err) {
    if (err instanceof MlsError) throw refuse(name, 'malformed', err.message);
    throw err;
  }

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

  // The MLSMessage is version (2 bytes), wire format (2 bytes), then the KeyPackage itself.
  const ref = toBase64(makeKeyPackageRef(suite, bytes.subarray(4)));
  if (ref !== keyId) throw refuse(name, 'key_id', `the key id must be the KeyPackageRef ${ref}`);

  return {
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
 * Takes `initKey` for this KeyPackage in the registry of every init_key the server holds or has
 * handed out (until it expires), or refuses the upload if another KeyPackage has it. The same
 * KeyPackage uploaded again (a retry) keeps its entry. Runs in the upload's transaction; the
 * registry's primary key settles concurrent uploads of one init_key.
 */
export async function reserveInitKey(
  trx: Tx,
  userId: string,
  deviceId: string,
  algorithm: string,
  keyId: string,
  keyPackage: VerifiedKeyPackage,
): Promise<void> {
  const name = `${algorithm}:${keyId}`;
  const existing = await trx
    .selectFrom('init_keys')
    .selectAll()
    .where('init_key', '=', keyPackage.initKey)
    .executeTakeFirst();
  if (existing) {
    const same =
      existing.user_id === userId &&
      existing.device_id === deviceId &&
      existing.algorithm === algorithm &&
      existing.key_id === keyId;
    if (same) return;
    throw refuse(name, 'duplicate_init_key', 'another KeyPackage has the same init_key');
  }
  const inserted = await trx
    .insertInto('init_keys')
    .values({
      init_key: keyPackage.initKey,
      user_id: userId,
      device_id: deviceId,
      algorithm,
      key_id: keyId,
      expires_ts: keyPackage.expiresTs,
    })
    .onConflict((oc) => oc.doNothing())
    .returning('init_key')
    .executeTakeFirst();
  if (!inserted)
    throw refuse(name, 'duplicate_init_key', 'another KeyPackage has the same init_key');
}
