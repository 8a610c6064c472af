/**
 * PrivateMessage protection (RFC 9420 §6.3): content encrypted under a key from the sender's
 * ratchet in the secret tree, sender data encrypted under a key derived from the
 * sender_data_secret and a sample of that ciphertext.
 *
 * Per message: one ratchet step (a few HKDF expands), two for the sender-data key and nonce, two
 * AEAD operations, and one signature (made by the caller, or verified here).
 */
import { encodeTransient, Reader, Writer, type Codec } from '../codec/index.js';
import { expandWithLabel } from '../crypto/labels.js';
import type { CryptoProvider } from '../crypto/provider.js';
import type { CipherSuite } from '../crypto/suites.js';
import { MlsError } from '../errors.js';
import type { GroupContext } from '../messages/groupContext.js';
import { ratchetTypeOf, takeKey, takeNextKey, type SecretTree } from '../secretTree.js';
import { verifyContentSignature } from './authentication.js';
import {
  ContentType,
  SenderType,
  WireFormat,
  decodeAuthData,
  decodeContentBody,
  encodeAuthData,
  encodeContentBody,
  type AuthenticatedContent,
  type ContentBody,
  type FramedContent,
  type FramedContentAuthData,
} from './content.js';
import type { PrivateMessage } from './messages.js';

/** `SenderData` (§6.3.2): which key of which sender, and the nonce's reuse guard. */
export interface SenderData {
  leafIndex: number;
  generation: number;
  /** Four random bytes XORed into the content nonce. */
  reuseGuard: Uint8Array;
}

const REUSE_GUARD_SIZE = 4;

export const senderDataCodec: Codec<SenderData> = {
  encode(w, d) {
    if (d.reuseGuard.length !== REUSE_GUARD_SIZE) throw new TypeError('reuse guard is 4 bytes');
    w.u32(d.leafIndex);
    w.u32(d.generation);
    w.raw(d.reuseGuard);
  },
  decode: (r) => ({
    leafIndex: r.u32(),
    generation: r.u32(),
    reuseGuard: r.raw(REUSE_GUARD_SIZE),
  }),
};

/**
 * How much zero padding goes after the content (§6.3.1, §15.1): a number pads the encrypted
 * content to a multiple of that many bytes (0 or 1: no padding); a function gets the unpadded
 * length and returns the number of padding bytes.
 */
export type PaddingPolicy = number | ((unpaddedLength: number) => number);

/** Hides the exact length of short messages at a cost of at most 31 bytes. */
export const DEFAULT_PADDING: PaddingPolicy = 32;

function paddingLength(policy: PaddingPolicy, unpaddedLength: number): number {
  const n =
    typeof policy === 'number'
      ? policy <= 1
        ? 0
        : (policy - (unpaddedLength % policy)) % policy
      : policy(unpaddedLength);
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`invalid padding length ${n}`);
  return n;
}

/** The key material of an epoch that PrivateMessages need. */
export interface PrivateMessageKeys {
  readonly senderDataSecret: Uint8Array;
  readonly secretTree: SecretTree;
}

export interface EncryptOptions {
  readonly padding?: PaddingPolicy;
  /** Fixes the reuse guard, for tests only; otherwise it is fresh random bytes as §6.3.1 requires. */
  readonly reuseGuard?: Uint8Array;
}

/** `SenderDataAAD`: the first three fields of the PrivateMessage. */
function senderDataAad(groupId: Uint8Array, epoch: bigint, contentType: ContentType): Uint8Array {
  const w = new Writer(groupId.length + 16);
  w.opaque(groupId);
  w.u64(epoch);
  w.u8(contentType);
  return w.finish();
}

/** `PrivateContentAAD`: group_id, epoch, content_type, authenticated_data. */
function privateContentAad(
  groupId: Uint8Array,
  epoch: bigint,
  contentType: ContentType,
  authenticatedData: Uint8Array,
): Uint8Array {
  const w = new Writer(groupId.length + authenticatedData.length + 24);
  w.opaque(groupId);
  w.u64(epoch);
  w.u8(contentType);
  w.opaque(authenticatedData);
  return w.finish();
}

/** sender_data_key and sender_data_nonce from the first Nh bytes of the content ciphertext. */
export function senderDataKeyAndNonce(
  suite: CipherSuite,
  senderDataSecret: Uint8Array,
  ciphertext: Uint8Array,
): { key: Uint8Array; nonce: Uint8Array } {
  const sample = ciphertext.subarray(0, suite.kdf.size);
  return {
    key: expandWithLabel(suite, senderDataSecret, 'key', sample, suite.aead.keySize),
    nonce: expandWithLabel(suite, senderDataSecret, 'nonce', sample, suite.aead.nonceSize),
  };
}

/**
 * Reuse guards are drawn from a pool of random bytes refilled from the provider: one RNG call per
 * 256 messages instead of one per message. Each guard is still fresh and used once.
 */
const REUSE_GUARD_POOL_SIZE = 1024;
const reuseGuardPools = new WeakMap<CryptoProvider, { bytes: Uint8Array; offset: number }>();

function freshReuseGuard(provider: CryptoProvider): Uint8Array {
  let pool = reuseGuardPools.get(provider);
  if (!pool || pool.offset + REUSE_GUARD_SIZE > pool.bytes.length) {
    pool = { bytes: provider.randomBytes(REUSE_GUARD_POOL_SIZE), offset: 0 };
    reuseGuardPools.set(provider, pool);
  }
  const guard = pool.bytes.slice(pool.offset, pool.offset + REUSE_GUARD_SIZE);
  pool.offset += REUSE_GUARD_SIZE;
  return guard;
}

/** The ratchet nonce with the reuse guard XORed into its first four bytes. */
function guardedNonce(nonce: Uint8Array, reuseGuard: Uint8Array): Uint8Array {
  const out = Uint8Array.from(nonce);
  for (let i = 0; i < REUSE_GUARD_SIZE; i++) out[i]! ^= reuseGuard[i]!;
  return out;
}

/**
 * Encrypts signed content (signed for `mls_private_message`, sender a member) with the next key
 * of the sender's ratchet: the application ratchet for application data, the handshake ratchet
 * otherwise. Returns the message and the secret tree without that key.
 */
export function encryptPrivateMessage(
  suite: CipherSuite,
  authenticated: AuthenticatedContent,
  keys: PrivateMessageKeys,
  options: EncryptOptions = {},
): { message: PrivateMessage; secretTree: SecretTree; generation: number } {
  const { wireFormat, content, auth } = authenticated;
  if (wireFormat !== WireFormat.mls_private_message) {
    throw new MlsError('WRONG_WIRE_FORMAT', 'content was signed for another wire format');
  }
  if (content.sender.senderType !== SenderType.member) {
    throw new MlsError('INVALID_SENDER', 'only members send PrivateMessages');
  }
  const isCommit = content.contentType === ContentType.commit;
  if (isCommit !== (auth.confirmationTag !== undefined)) {
    throw new MlsError('INVALID_VALUE', 'a confirmation tag goes with commits and only commits');
  }
  const leafIndex = content.sender.leafIndex;
  const { groupId, epoch, contentType, authenticatedData } = content;

  const taken = takeNextKey(keys.secretTree, leafIndex, ratchetTypeOf(contentType));
  const reuseGuard = options.reuseGuard ?? freshReuseGuard(suite.provider);
  const padding = options.padding ?? DEFAULT_PADDING;
  // PrivateMessageContent: body || auth || zero padding; encoded, sealed and wiped.
  const writePlaintext = (w: Writer) => {
    encodeContentBody(w, content);
    encodeAuthData(w, auth, contentType);
    w.raw(new Uint8Array(paddingLength(padding, w.length)));
  };
  const nonce = guardedNonce(taken.nonce, reuseGuard);
  const aad = privateContentAad(groupId, epoch, contentType, authenticatedData);
  const ciphertext = encodeTransient(writePlaintext, (plaintext) =>
    suite.aead.seal(taken.key, nonce, aad, plaintext),
  );

  const senderData = new Writer(12);
  senderDataCodec.encode(senderData, { leafIndex, generation: taken.generation, reuseGuard });
  const sd = senderDataKeyAndNonce(suite, keys.senderDataSecret, ciphertext);
  const encryptedSenderData = suite.aead.seal(
    sd.key,
    sd.nonce,
    senderDataAad(groupId, epoch, contentType),
    senderData.finish(),
  );

  return {
    message: { groupId, epoch, contentType, authenticatedData, encryptedSenderData, ciphertext },
    secretTree: taken.tree,
    generation: taken.generation,
  };
}

export interface DecryptParams extends PrivateMessageKeys {
  /** The group context of the epoch, which members' signatures cover. */
  readonly context: GroupContext;
  /**
   * The signature key of the member at `leafIndex`, or undefined when that leaf is blank: then the
   * message is refused with `REMOVED_SENDER` before any content key is derived.
   */
  readonly senderSignatureKey: (leafIndex: number) => Uint8Array | undefined;
}

export interface DecryptedPrivateMessage {
  /** The content, authenticated: signature verified, padding checked. */
  readonly authenticated: AuthenticatedContent;
  /** The secret tree without the key this message used: keep it in place of the old one. */
  readonly secretTree: SecretTree;
  readonly senderData: SenderData;
}

/**
 * Decrypts and verifies a PrivateMessage. Each failure is an `MlsError`: `AEAD_FAILURE` for
 * either ciphertext, `INVALID_SENDER` for a leaf out of range, `REMOVED_SENDER` for a blank one, the
 * `GENERATION_*` codes for a key that is gone or too far ahead, `INVALID_PADDING` for non-zero
 * padding, `BAD_SIGNATURE`, or a decoding error for malformed content. The given secret tree is
 * never changed; only a fully verified message yields the advanced one.
 *
 * That the message is for this group and epoch is for the caller to check first
 * (`checkGroupAndEpoch` in authentication.ts).
 */
export function decryptPrivateMessage(
  suite: CipherSuite,
  message: PrivateMessage,
  params: DecryptParams,
): DecryptedPrivateMessage {
  const { groupId, epoch, contentType, authenticatedData } = message;

  const sd = senderDataKeyAndNonce(suite, params.senderDataSecret, message.ciphertext);
  const senderDataBytes = suite.aead.open(
    sd.key,
    sd.nonce,
    senderDataAad(groupId, epoch, contentType),
    message.encryptedSenderData,
  );
  const r = new Reader(senderDataBytes);
  const senderData = senderDataCodec.decode(r);
  r.done();

  const { leafIndex, generation, reuseGuard } = senderData;
  if (leafIndex >= params.secretTree.leafCount) {
    throw new MlsError('INVALID_SENDER', `sender leaf ${leafIndex} is outside the tree`);
  }
  const signatureKey = params.senderSignatureKey(leafIndex);
  if (signatureKey === undefined) {
    throw new MlsError('REMOVED_SENDER', `sender leaf ${leafIndex} is not a member`);
  }

  const taken = takeKey(params.secretTree, leafIndex, ratchetTypeOf(contentType), generation);
  const plaintext = suite.aead.open(
    taken.key,
    guardedNonce(taken.nonce, reuseGuard),
    privateContentAad(groupId, epoch, contentType, authenticatedData),
    message.ciphertext,
  );

  const { body, auth } = parseContent(plaintext, contentType);
  const content: FramedContent = {
    groupId,
    epoch,
    sender: { senderType: SenderType.member, leafIndex },
    authenticatedData,
    ...body,
  };
  const authenticated: AuthenticatedContent = {
    wireFormat: WireFormat.mls_private_message,
    content,
    auth,
  };
  verifyContentSignature(suite, signatureKey, authenticated, params.context);
  return { authenticated, secretTree: taken.tree, senderData };
}

/** PrivateMessageContent: body and auth from the front, then only zero bytes (§6.3.1). */
function parseContent(
  plaintext: Uint8Array,
  contentType: ContentType,
): { body: ContentBody; auth: FramedContentAuthData } {
  const r = new Reader(plaintext);
  const body = decodeContentBody(r, contentType);
  const auth = decodeAuthData(r, contentType);
  for (let i = r.offset; i < plaintext.length; i++) {
    if (plaintext[i] !== 0) throw new MlsError('INVALID_PADDING', `non-zero padding byte at ${i}`);
  }
  return { body, auth };
}
