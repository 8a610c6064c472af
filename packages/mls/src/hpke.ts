/**
 * HPKE (RFC 9180) in base mode, the only mode MLS uses (RFC 9420 §5.1.3).
 *
 * A suite is any `{ kem, kdf, aead }`, so a bound `CipherSuite` works as it is. The AEAD may be
 * `EXPORT_ONLY` (id 0xFFFF, §7.3): such a context only exports secrets.
 */
import { labelPrefix, labeledExpand, labeledExtract } from './crypto/dhkem.js';
import type { Aead, Kdf, Kem } from './crypto/provider.js';
import { MlsError } from './errors.js';
import { EMPTY, utf8 } from './util/bytes.js';

/** The export-only AEAD of §7.3: no key, no nonce, and seal/open are refused. */
export const EXPORT_ONLY = { id: 0xffff, keySize: 0, nonceSize: 0, tagSize: 0 } as const;
export type ExportOnly = typeof EXPORT_ONLY;

export interface HpkeSuite {
  readonly kem: Kem;
  readonly kdf: Kdf;
  readonly aead: Aead | ExportOnly;
}

/** The secrets KeySchedule derives (§5.1), exposed for test vectors. */
export interface KeySchedule {
  readonly keyScheduleContext: Uint8Array;
  readonly secret: Uint8Array;
  readonly key: Uint8Array;
  readonly baseNonce: Uint8Array;
  readonly exporterSecret: Uint8Array;
}

/** An encryption context (§5.2/§5.3). Sender and recipient each keep their own sequence number. */
export interface HpkeContext {
  /** The sequence number the next seal/open uses. */
  readonly sequence: number;
  seal(aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  open(aad: Uint8Array, ciphertext: Uint8Array): Uint8Array;
  export(exporterContext: Uint8Array, length: number): Uint8Array;
}

const MODE_BASE = 0x00;
const LABEL_PSK_ID_HASH = utf8('psk_id_hash');
const LABEL_INFO_HASH = utf8('info_hash');
const LABEL_SECRET = utf8('secret');
const LABEL_KEY = utf8('key');
const LABEL_BASE_NONCE = utf8('base_nonce');
const LABEL_EXP = utf8('exp');
const LABEL_SEC = utf8('sec');

/** "HPKE-v1" || "HPKE" || I2OSP(kem_id, 2) || I2OSP(kdf_id, 2) || I2OSP(aead_id, 2), per id triple. */
const prefixes = new Map<number, Uint8Array>();
function prefixOf({ kem, kdf, aead }: HpkeSuite): Uint8Array {
  const ids = kem.id * 2 ** 32 + kdf.id * 2 ** 16 + aead.id;
  let prefix = prefixes.get(ids);
  if (!prefix) {
    const suiteId = Uint8Array.of(
      ...utf8('HPKE'),
      kem.id >>> 8,
      kem.id & 0xff,
      kdf.id >>> 8,
      kdf.id & 0xff,
      aead.id >>> 8,
      aead.id & 0xff,
    );
    prefixes.set(ids, (prefix = labelPrefix(suiteId)));
  }
  return prefix;
}

/**
 * An `info` already reduced to the key_schedule_context it yields in base mode (§5.1). Setting
 * up many contexts with one long info (a Welcome encrypts every joiner's secrets under the whole
 * encrypted GroupInfo) then hashes it once instead of once per recipient.
 */
export class PreparedInfo {
  private constructor(readonly keyScheduleContext: Uint8Array) {}

  static of(suite: HpkeSuite, info: Uint8Array): PreparedInfo {
    const { kdf } = suite;
    const prefix = prefixOf(suite);
    const pskIdHash = labeledExtract(kdf, prefix, EMPTY, LABEL_PSK_ID_HASH, EMPTY);
    const infoHash = labeledExtract(kdf, prefix, EMPTY, LABEL_INFO_HASH, info);
    const context = new Uint8Array(1 + pskIdHash.length + infoHash.length);
    context[0] = MODE_BASE;
    context.set(pskIdHash, 1);
    context.set(infoHash, 1 + pskIdHash.length);
    return new PreparedInfo(context);
  }
}

/** §5.1 KeySchedule for mode_base: no PSK, so psk and psk_id are empty. */
export function keyScheduleBase(
  suite: HpkeSuite,
  sharedSecret: Uint8Array,
  info: Uint8Array | PreparedInfo,
): KeySchedule {
  const { kdf, aead } = suite;
  const prefix = prefixOf(suite);
  const { keyScheduleContext } = info instanceof PreparedInfo ? info : PreparedInfo.of(suite, info);
  const secret = labeledExtract(kdf, prefix, sharedSecret, LABEL_SECRET, EMPTY);
  // The export-only AEAD has Nk = Nn = 0: no key or nonce to derive.
  const exportOnly = aead.id === EXPORT_ONLY.id;
  const key = exportOnly
    ? EMPTY
    : labeledExpand(kdf, prefix, secret, LABEL_KEY, keyScheduleContext, aead.keySize);
  const baseNonce = exportOnly
    ? EMPTY
    : labeledExpand(kdf, prefix, secret, LABEL_BASE_NONCE, keyScheduleContext, aead.nonceSize);
  const exporterSecret = labeledExpand(
    kdf,
    prefix,
    secret,
    LABEL_EXP,
    keyScheduleContext,
    kdf.size,
  );
  return { keyScheduleContext, secret, key, baseNonce, exporterSecret };
}

/** §5.2 ComputeNonce: base_nonce XOR I2OSP(seq, Nn). */
export function computeNonce(baseNonce: Uint8Array, sequence: number): Uint8Array {
  const nonce = Uint8Array.from(baseNonce);
  // seq < 2^53 (checked by the context), so it fits the low 7 bytes; peel it off byte by byte.
  let seq = sequence;
  for (let i = nonce.length - 1; i >= 0 && seq > 0; i--) {
    nonce[i]! ^= seq % 256;
    seq = Math.floor(seq / 256);
  }
  return nonce;
}

/** A context over the secrets of `schedule`. */
export function createContext(suite: HpkeSuite, schedule: KeySchedule): HpkeContext {
  const { kdf, aead } = suite;
  const prefix = prefixOf(suite);
  const { key, baseNonce, exporterSecret } = schedule;
  let sequence = 0;

  function cipher(): Aead {
    if (aead.id === EXPORT_ONLY.id) {
      throw new MlsError('INVALID_STATE', 'an export-only HPKE context cannot seal or open');
    }
    // §5.2 requires stopping before the nonce repeats; 2^53 messages is far below 2^(8*Nn).
    if (sequence >= Number.MAX_SAFE_INTEGER) {
      throw new MlsError('INVALID_STATE', 'HPKE message limit reached');
    }
    return aead as Aead;
  }

  return {
    get sequence() {
      return sequence;
    },
    seal(aad, plaintext) {
      const ct = cipher().seal(key, computeNonce(baseNonce, sequence), aad, plaintext);
      sequence++;
      return ct;
    },
    open(aad, ciphertext) {
      // Only a successful open advances the sequence, as §5.2's pseudocode does.
      const pt = cipher().open(key, computeNonce(baseNonce, sequence), aad, ciphertext);
      sequence++;
      return pt;
    },
    export(exporterContext, length) {
      // §5.3: L is at most 255 * Nh; the KDF enforces that bound.
      return labeledExpand(kdf, prefix, exporterSecret, LABEL_SEC, exporterContext, length);
    },
  };
}

/** §5.1.1 SetupBaseS. `ikmE` fixes the ephemeral key, for test vectors only. */
export function setupBaseS(
  suite: HpkeSuite,
  pkR: Uint8Array,
  info: Uint8Array | PreparedInfo,
  ikmE?: Uint8Array,
): { enc: Uint8Array; context: HpkeContext } {
  const { sharedSecret, enc } = suite.kem.encap(pkR, ikmE);
  return { enc, context: createContext(suite, keyScheduleBase(suite, sharedSecret, info)) };
}

/** §5.1.1 SetupBaseR. */
export function setupBaseR(
  suite: HpkeSuite,
  enc: Uint8Array,
  skR: Uint8Array,
  info: Uint8Array,
): HpkeContext {
  const sharedSecret = suite.kem.decap(enc, skR);
  return createContext(suite, keyScheduleBase(suite, sharedSecret, info));
}

/** §6.1 single-shot SealBase. */
export function sealBase(
  suite: HpkeSuite,
  pkR: Uint8Array,
  info: Uint8Array | PreparedInfo,
  aad: Uint8Array,
  plaintext: Uint8Array,
): { enc: Uint8Array; ciphertext: Uint8Array } {
  const { enc, context } = setupBaseS(suite, pkR, info);
  return { enc, ciphertext: context.seal(aad, plaintext) };
}

/** §6.1 single-shot OpenBase. */
export function openBase(
  suite: HpkeSuite,
  enc: Uint8Array,
  skR: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
): Uint8Array {
  return setupBaseR(suite, enc, skR, info).open(aad, ciphertext);
}
