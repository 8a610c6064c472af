/**
 * Short Authentication String verification, `m.sas.v1` (client-server API, "Short
 * Authentication String (SAS) verification"): the parts that are computation, for
 * `key_agreement_protocol` `curve25519-hkdf-sha256`, `hash` `sha256` and
 * `message_authentication_code` `hkdf-hmac-sha256.v2`. The to-device exchange and its state
 * machine belong to the client.
 *
 * - "SAS HKDF calculation": HKDF-SHA-256, no salt, the ECDH shared secret as input keying
 *   material, info `MATRIX_KEY_VERIFICATION_SAS|<start user>|<start device>|<start key>|
 *   <accept user>|<accept device>|<accept key>|<transaction id>`.
 * - "SAS method: decimal": 5 bytes, three 13-bit numbers plus 1000.
 * - "SAS method: emoji": 6 bytes, the first 42 bits as seven 6-bit indices into the table.
 * - `commitment` (m.key.verification.accept): unpadded base64 of SHA-256 of the accepting
 *   device's ephemeral public key (unpadded base64) concatenated with the canonical JSON of the
 *   m.key.verification.start content.
 * - "MAC calculation", `hkdf-hmac-sha256.v2`: HKDF-SHA-256, no salt, info
 *   `MATRIX_KEY_VERIFICATION_MAC` + sender user + sender device + receiver user + receiver
 *   device + transaction id + key id (or `KEY_IDS`), no separators; then HMAC-SHA-256 of the
 *   key (unpadded base64) or of the sorted, comma-separated key ids; unpadded base64.
 */
import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import { decodeBase64, encodeUnpaddedBase64 } from './base64.js';
import { canonicalJsonBytes, compareCodePoints } from './canonicalJson.js';
import { MatrixError, isJsonObject } from './errors.js';
import { SAS_EMOJI, type SasEmoji } from './sasEmoji.js';

export const SAS_METHOD = 'm.sas.v1';
export const KEY_AGREEMENT_PROTOCOL = 'curve25519-hkdf-sha256';
export const HASH_METHOD = 'sha256';
export const MAC_METHOD = 'hkdf-hmac-sha256.v2';

const SAS_INFO_PREFIX = 'MATRIX_KEY_VERIFICATION_SAS|';
const MAC_INFO_PREFIX = 'MATRIX_KEY_VERIFICATION_MAC';
/** The "key id" of the MAC over the list of key ids. */
export const KEY_IDS = 'KEY_IDS';

export const SAS_DECIMAL_BYTES = 5;
export const SAS_EMOJI_BYTES = 6;
const X25519_KEY_SIZE = 32;
const NO_SALT = new Uint8Array(0);
/** PKCS#8 wrapping of a raw X25519 private key (RFC 8410, OID 1.3.101.110). */
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

function invalid(message: string): MatrixError {
  return new MatrixError('SAS_INVALID_ARGUMENT', message);
}

function requireStrings(values: Record<string, unknown>): void {
  for (const [field, value] of Object.entries(values)) {
    if (typeof value !== 'string' || value.length === 0)
      throw invalid(`${field} is not a non-empty string`);
  }
}

// Key agreement

/** An ephemeral Curve25519 key pair for one verification; `publicKey` is unpadded base64. */
export interface SasKeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: string;
}

export function generateSasKeyPair(): SasKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const raw = publicKey.export({ format: 'jwk' }).x!;
  return { privateKey, publicKey: encodeUnpaddedBase64(Buffer.from(raw, 'base64url')) };
}

/**
 * ECDH of our ephemeral private key and the other device's public key from its
 * m.key.verification.key (unpadded base64). A key that is not 32 bytes, or one of small order
 * (the shared secret would be all zeros, which OpenSSL refuses), is `SAS_INVALID_ARGUMENT`.
 */
export function sasSharedSecret(ours: SasKeyPair, theirPublicKey: string): Uint8Array {
  const raw = decodeBase64(theirPublicKey, "the other device's ephemeral key");
  if (raw.length !== X25519_KEY_SIZE)
    throw invalid(`a Curve25519 key has ${X25519_KEY_SIZE} bytes`);
  try {
    const publicKey = createPublicKey({
      key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw).toString('base64url') },
      format: 'jwk',
    });
    return new Uint8Array(diffieHellman({ privateKey: ours.privateKey, publicKey }));
  } catch (e) {
    throw new MatrixError('SAS_INVALID_ARGUMENT', 'the ephemeral key agreement failed', {
      cause: e,
    });
  }
}

/** For tests and vectors: a key pair from a fixed 32-byte private key. */
export function sasKeyPairFromPrivateKey(privateKey: Uint8Array): SasKeyPair {
  if (!(privateKey instanceof Uint8Array) || privateKey.length !== X25519_KEY_SIZE) {
    throw invalid(`a Curve25519 private key has ${X25519_KEY_SIZE} bytes`);
  }
  const key = createPrivateKey({
    key: Buffer.concat([X25519_PKCS8_PREFIX, privateKey]),
    format: 'der',
    type: 'pkcs8',
  });
  const x = createPublicKey(key).export({ format: 'jwk' }).x!;
  return { privateKey: key, publicKey: encodeUnpaddedBase64(Buffer.from(x, 'base64url')) };
}

// The SAS

/** Who started and who accepted, with the keys of their m.key.verification.key messages. */
export interface SasParties {
  readonly startUserId: string;
  readonly startDeviceId: string;
  /** The start device's ephemeral public key, unpadded base64. */
  readonly startPublicKey: string;
  readonly acceptUserId: string;
  readonly acceptDeviceId: string;
  readonly acceptPublicKey: string;
  readonly transactionId: string;
}

/** The HKDF info of the SAS bytes for `curve25519-hkdf-sha256`. */
export function sasInfo(parties: SasParties): string {
  const {
    startUserId,
    startDeviceId,
    startPublicKey,
    acceptUserId,
    acceptDeviceId,
    acceptPublicKey,
    transactionId,
  } = parties;
  requireStrings({
    startUserId,
    startDeviceId,
    startPublicKey,
    acceptUserId,
    acceptDeviceId,
    acceptPublicKey,
    transactionId,
  });
  return (
    `${SAS_INFO_PREFIX}${startUserId}|${startDeviceId}|${startPublicKey}|` +
    `${acceptUserId}|${acceptDeviceId}|${acceptPublicKey}|${transactionId}`
  );
}

/** `length` bytes of HKDF-SHA-256 of the shared secret, no salt, `info`. */
export function sasBytes(sharedSecret: Uint8Array, info: string, length: number): Uint8Array {
  if (!(sharedSecret instanceof Uint8Array) || sharedSecret.length === 0)
    throw invalid('no shared secret');
  return new Uint8Array(
    hkdfSync('sha256', sharedSecret, NO_SALT, Buffer.from(info, 'utf8'), length),
  );
}

function requireBytes(bytes: Uint8Array, length: number, method: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.length < length) {
    throw invalid(`the ${method} SAS needs ${length} bytes`);
  }
}

/** The three numbers of the `decimal` method, each 1000 to 9191. */
export function sasDecimals(bytes: Uint8Array): [number, number, number] {
  requireBytes(bytes, SAS_DECIMAL_BYTES, 'decimal');
  const [b0, b1, b2, b3, b4] = bytes as unknown as [number, number, number, number, number];
  return [
    ((b0 << 5) | (b1 >> 3)) + 1000,
    (((b1 & 0x7) << 10) | (b2 << 2) | (b3 >> 6)) + 1000,
    (((b3 & 0x3f) << 7) | (b4 >> 1)) + 1000,
  ];
}

/** The seven 6-bit numbers of the `emoji` method: bits 0-41 of the bytes, most significant first. */
export function sasEmojiIndices(bytes: Uint8Array): number[] {
  requireBytes(bytes, SAS_EMOJI_BYTES, 'emoji');
  // The first 48 bits as a number (exact in a double), of which the top 42 are used.
  let bits = 0;
  for (let i = 0; i < SAS_EMOJI_BYTES; i++) bits = bits * 256 + bytes[i]!;
  const indices: number[] = [];
  for (let i = 0; i < 7; i++) indices.push(Math.floor(bits / 2 ** (42 - 6 * i)) % 64);
  return indices;
}

/** The seven emoji (with their table descriptions) of the `emoji` method. */
export function sasEmoji(bytes: Uint8Array): SasEmoji[] {
  return sasEmojiIndices(bytes).map((index) => SAS_EMOJI[index]!);
}

// The commitment

/**
 * The `commitment` of m.key.verification.accept: SHA-256 over the accepting device's ephemeral
 * public key (unpadded base64) followed by the canonical JSON of the start content.
 */
export function sasCommitment(acceptPublicKey: string, startContent: unknown): string {
  requireStrings({ acceptPublicKey });
  if (!isJsonObject(startContent))
    throw invalid('the m.key.verification.start content is not an object');
  const hash = createHash('sha256')
    .update(acceptPublicKey, 'utf8')
    .update(canonicalJsonBytes(startContent));
  return encodeUnpaddedBase64(hash.digest());
}

/** Throws `SAS_MISMATCHED_COMMITMENT` unless `commitment` is the one of that key and start. */
export function verifySasCommitment(
  commitment: unknown,
  acceptPublicKey: string,
  startContent: unknown,
): void {
  const expected = Buffer.from(sasCommitment(acceptPublicKey, startContent));
  if (typeof commitment !== 'string' || !safeEqual(expected, Buffer.from(commitment))) {
    throw new MatrixError(
      'SAS_MISMATCHED_COMMITMENT',
      'the hash commitment does not match the key and start message',
    );
  }
}

function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

// MACs

/** The two ends of one m.key.verification.mac: the device that sends it and the one receiving it. */
export interface MacParties {
  /** The user whose keys are MAC-ed, who sends the MAC. */
  readonly senderUserId: string;
  readonly senderDeviceId: string;
  readonly receiverUserId: string;
  readonly receiverDeviceId: string;
  readonly transactionId: string;
}

/** The HKDF info of the MAC of `keyId` (or of the key list, `KEY_IDS`). */
export function macInfo(parties: MacParties, keyId: string): string {
  const { senderUserId, senderDeviceId, receiverUserId, receiverDeviceId, transactionId } = parties;
  requireStrings({
    senderUserId,
    senderDeviceId,
    receiverUserId,
    receiverDeviceId,
    transactionId,
    keyId,
  });
  return `${MAC_INFO_PREFIX}${senderUserId}${senderDeviceId}${receiverUserId}${receiverDeviceId}${transactionId}${keyId}`;
}

/** `hkdf-hmac-sha256.v2`: HMAC-SHA-256 of `input` under 32 HKDF bytes for `info`, unpadded base64. */
export function calculateMac(sharedSecret: Uint8Array, input: string, info: string): string {
  const macKey = sasBytes(sharedSecret, info, 32);
  return encodeUnpaddedBase64(createHmac('sha256', macKey).update(input, 'utf8').digest());
}

/** The MAC input of a key list: the key ids sorted and joined by commas. */
export function keyIdsMacInput(keyIds: readonly string[]): string {
  return [...keyIds].sort(compareCodePoints).join(',');
}

/** The `mac` and `keys` of an m.key.verification.mac for our keys (key id -> unpadded base64 key). */
export function sasMacContent(
  sharedSecret: Uint8Array,
  parties: MacParties,
  keys: Readonly<Record<string, string>>,
): { mac: Record<string, string>; keys: string } {
  const mac: Record<string, string> = {};
  for (const [keyId, publicKey] of Object.entries(keys)) {
    mac[keyId] = calculateMac(sharedSecret, publicKey, macInfo(parties, keyId));
  }
  if (Object.keys(mac).length === 0)
    throw invalid('an m.key.verification.mac needs at least one key');
  return {
    mac,
    keys: calculateMac(sharedSecret, keyIdsMacInput(Object.keys(mac)), macInfo(parties, KEY_IDS)),
  };
}

/**
 * Checks a received m.key.verification.mac against our copies of the sender's keys
 * (`knownKeys`: key id -> unpadded base64 key, fixed when the verification began). The `keys`
 * MAC must cover exactly the key ids of `mac`, and the MAC of every key we hold a copy of must
 * match; keys we hold no copy of are not verified. Returns the key ids verified, at least one;
 * anything else is `SAS_MISMATCHED_MAC`.
 */
export function verifySasMac(
  sharedSecret: Uint8Array,
  parties: MacParties,
  content: unknown,
  knownKeys: Readonly<Record<string, string>>,
): string[] {
  const mismatch = (message: string) => new MatrixError('SAS_MISMATCHED_MAC', message);
  if (!isJsonObject(content) || !isJsonObject(content.mac) || typeof content.keys !== 'string') {
    throw mismatch('the MAC message has no mac map or keys string');
  }
  const received = content.mac;
  const keyIdsMac = calculateMac(
    sharedSecret,
    keyIdsMacInput(Object.keys(received)),
    macInfo(parties, KEY_IDS),
  );
  if (!safeEqual(Buffer.from(keyIdsMac), Buffer.from(content.keys))) {
    throw mismatch('the MAC of the key list does not match: keys were added or removed');
  }
  const verified: string[] = [];
  for (const [keyId, mac] of Object.entries(received)) {
    const publicKey = Object.hasOwn(knownKeys, keyId) ? knownKeys[keyId] : undefined;
    if (publicKey === undefined) continue;
    const expected = calculateMac(sharedSecret, publicKey, macInfo(parties, keyId));
    if (typeof mac !== 'string' || !safeEqual(Buffer.from(expected), Buffer.from(mac))) {
      throw mismatch(`the MAC of ${JSON.stringify(keyId)} does not match`);
    }
    verified.push(keyId);
  }
  if (verified.length === 0) throw mismatch('the MAC message covers none of the keys we know');
  return verified;
}
