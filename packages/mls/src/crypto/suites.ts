import { MlsError } from '../errors.js';
import {
  AeadId,
  KdfId,
  KemId,
  SignatureScheme,
  type Aead,
  type CryptoProvider,
  type Hash,
  type Kdf,
  type Kem,
  type Signature,
} from './provider.js';

/** RFC 9420 §17.1: the registered cipher suites and their primitives. */
export const CipherSuiteId = {
  MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519: 0x0001,
  MLS_128_DHKEMP256_AES128GCM_SHA256_P256: 0x0002,
  MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519: 0x0003,
  MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448: 0x0004,
  MLS_256_DHKEMP521_AES256GCM_SHA512_P521: 0x0005,
  MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448: 0x0006,
  MLS_256_DHKEMP384_AES256GCM_SHA384_P384: 0x0007,
} as const;
export type CipherSuiteId = (typeof CipherSuiteId)[keyof typeof CipherSuiteId];

export interface CipherSuiteParameters {
  readonly id: CipherSuiteId;
  readonly name: string;
  readonly kem: KemId;
  readonly kdf: KdfId;
  readonly aead: AeadId;
  readonly signature: SignatureScheme;
}

const TABLE: readonly CipherSuiteParameters[] = [
  [0x0001, KemId.DHKEM_X25519, KdfId.HKDF_SHA256, AeadId.AES128GCM, SignatureScheme.ED25519],
  [
    0x0002,
    KemId.DHKEM_P256,
    KdfId.HKDF_SHA256,
    AeadId.AES128GCM,
    SignatureScheme.ECDSA_SECP256R1_SHA256,
  ],
  [0x0003, KemId.DHKEM_X25519, KdfId.HKDF_SHA256, AeadId.CHACHA20POLY1305, SignatureScheme.ED25519],
  [0x0004, KemId.DHKEM_X448, KdfId.HKDF_SHA512, AeadId.AES256GCM, SignatureScheme.ED448],
  [
    0x0005,
    KemId.DHKEM_P521,
    KdfId.HKDF_SHA512,
    AeadId.AES256GCM,
    SignatureScheme.ECDSA_SECP521R1_SHA512,
  ],
  [0x0006, KemId.DHKEM_X448, KdfId.HKDF_SHA512, AeadId.CHACHA20POLY1305, SignatureScheme.ED448],
  [
    0x0007,
    KemId.DHKEM_P384,
    KdfId.HKDF_SHA384,
    AeadId.AES256GCM,
    SignatureScheme.ECDSA_SECP384R1_SHA384,
  ],
].map(([id, kem, kdf, aead, signature]) => ({
  id: id as CipherSuiteId,
  name: Object.keys(CipherSuiteId).find(
    (k) => CipherSuiteId[k as keyof typeof CipherSuiteId] === id,
  )!,
  kem: kem as KemId,
  kdf: kdf as KdfId,
  aead: aead as AeadId,
  signature: signature as SignatureScheme,
}));

export const CIPHER_SUITES: ReadonlyMap<number, CipherSuiteParameters> = new Map(
  TABLE.map((s) => [s.id, s]),
);

export function isCipherSuiteId(id: number): id is CipherSuiteId {
  return CIPHER_SUITES.has(id);
}

/** A cipher suite with its primitives bound to one provider: what the engine computes with. */
export interface CipherSuite {
  readonly id: CipherSuiteId;
  readonly name: string;
  readonly provider: CryptoProvider;
  /** The suite's hash, also used for HMAC (the MAC of RFC 9420 §5.1). */
  readonly hash: Hash;
  readonly kdf: Kdf;
  readonly aead: Aead;
  readonly kem: Kem;
  readonly signature: Signature;
}

const bound = new WeakMap<CryptoProvider, Map<number, CipherSuite>>();

/** The suite `id` on `provider`; throws `UNSUPPORTED_CIPHER_SUITE` for an unknown id. */
export function cipherSuite(id: number, provider: CryptoProvider): CipherSuite {
  let cache = bound.get(provider);
  if (!cache) bound.set(provider, (cache = new Map()));
  const hit = cache.get(id);
  if (hit) return hit;
  const p = CIPHER_SUITES.get(id);
  if (!p) {
    throw new MlsError('UNSUPPORTED_CIPHER_SUITE', `unsupported cipher suite 0x${id.toString(16)}`);
  }
  const suite: CipherSuite = {
    id: p.id,
    name: p.name,
    provider,
    hash: provider.hash(p.kdf),
    kdf: provider.kdf(p.kdf),
    aead: provider.aead(p.aead),
    kem: provider.kem(p.kem),
    signature: provider.signature(p.signature),
  };
  cache.set(id, suite);
  return suite;
}
