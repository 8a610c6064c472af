/**
 * The primitives MLS needs, behind one synchronous interface (RFC 9420 §5.1).
 *
 * Algorithms are named by their registry numbers: KEM, KDF and AEAD ids from RFC 9180 §7,
 * signature schemes from the TLS SignatureScheme registry (RFC 8446 §4.2.3), exactly as the
 * RFC 9420 §17.1 cipher-suite table lists them. A provider hands out one object per algorithm
 * with its sizes and operations bound, so hot paths do no lookups.
 *
 * Keys are raw byte strings in the encodings MLS puts on the wire: X25519/X448 and Ed25519/Ed448
 * keys as RFC 7748/8032 octets, NIST-curve private keys as big-endian scalars of the field size and
 * public keys as uncompressed SEC1 points, ECDSA signatures DER-encoded (RFC 9420 §5.1.2).
 */

/** RFC 9180 §7.2 KDF ids (HKDF over the named hash). */
export const KdfId = { HKDF_SHA256: 0x0001, HKDF_SHA384: 0x0002, HKDF_SHA512: 0x0003 } as const;
export type KdfId = (typeof KdfId)[keyof typeof KdfId];

/** RFC 9180 §7.3 AEAD ids. */
export const AeadId = { AES128GCM: 0x0001, AES256GCM: 0x0002, CHACHA20POLY1305: 0x0003 } as const;
export type AeadId = (typeof AeadId)[keyof typeof AeadId];

/** RFC 9180 §7.1 KEM ids (all DHKEMs). */
export const KemId = {
  DHKEM_P256: 0x0010,
  DHKEM_P384: 0x0011,
  DHKEM_P521: 0x0012,
  DHKEM_X25519: 0x0020,
  DHKEM_X448: 0x0021,
} as const;
export type KemId = (typeof KemId)[keyof typeof KemId];

/** TLS SignatureScheme values used by the MLS cipher suites. */
export const SignatureScheme = {
  ECDSA_SECP256R1_SHA256: 0x0403,
  ECDSA_SECP384R1_SHA384: 0x0503,
  ECDSA_SECP521R1_SHA512: 0x0603,
  ED25519: 0x0807,
  ED448: 0x0808,
} as const;
export type SignatureScheme = (typeof SignatureScheme)[keyof typeof SignatureScheme];

export interface KeyPair {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

/** A hash function and HMAC over it. */
export interface Hash {
  readonly name: 'SHA-256' | 'SHA-384' | 'SHA-512';
  /** Output length in bytes. */
  readonly size: number;
  digest(data: Uint8Array): Uint8Array;
  mac(key: Uint8Array, data: Uint8Array): Uint8Array;
}

/** HKDF (RFC 5869) over a hash. */
export interface Kdf {
  readonly id: KdfId;
  /** Nh: the extract output length in bytes. */
  readonly size: number;
  extract(salt: Uint8Array, ikm: Uint8Array): Uint8Array;
  expand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array;
}

/** An AEAD whose ciphertext carries its tag at the end (RFC 5116). */
export interface Aead {
  readonly id: AeadId;
  /** Nk */
  readonly keySize: number;
  /** Nn */
  readonly nonceSize: number;
  /** Nt */
  readonly tagSize: number;
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** Throws `MlsError('AEAD_FAILURE')` when the tag does not verify. */
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array;
}

/** A KEM as RFC 9180 §4 defines it. */
export interface Kem {
  readonly id: KemId;
  /** Nsecret */
  readonly secretSize: number;
  /** Nenc */
  readonly encSize: number;
  /** Npk */
  readonly publicKeySize: number;
  /** Nsk */
  readonly privateKeySize: number;
  generateKeyPair(): KeyPair;
  /** RFC 9180 §7.1.3 DeriveKeyPair. */
  deriveKeyPair(ikm: Uint8Array): KeyPair;
  /** The public key of a private key; throws `MlsError('INVALID_KEY')` for an invalid one. */
  publicKey(privateKey: Uint8Array): Uint8Array;
  /** Encap; `ikmE` fixes the ephemeral key (for test vectors), otherwise it is random. */
  encap(publicKey: Uint8Array, ikmE?: Uint8Array): { sharedSecret: Uint8Array; enc: Uint8Array };
  decap(enc: Uint8Array, privateKey: Uint8Array): Uint8Array;
}

/** One signature to check. */
export interface SignatureCheck {
  publicKey: Uint8Array;
  message: Uint8Array;
  signature: Uint8Array;
}

/** A signature scheme. `verify` returns false for any invalid signature or key, never throws. */
export interface Signature {
  readonly scheme: SignatureScheme;
  generateKeyPair(): KeyPair;
  publicKey(privateKey: Uint8Array): Uint8Array;
  sign(privateKey: Uint8Array, message: Uint8Array): Uint8Array;
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  /**
   * `verify` of every item, in order, for providers that can do many at once faster (the node
   * provider spreads large batches over threads). Without it, callers loop over `verify`.
   */
  verifyMany?(items: readonly SignatureCheck[]): boolean[];
}

/**
 * A source of primitives. Implementations: `nodeCrypto` (node:crypto) and `portableCrypto`
 * (@noble/*, runs anywhere). Each accessor returns the same object for the same id.
 */
export interface CryptoProvider {
  readonly name: string;
  randomBytes(length: number): Uint8Array;
  hash(kdf: KdfId): Hash;
  kdf(kdf: KdfId): Kdf;
  aead(aead: AeadId): Aead;
  kem(kem: KemId): Kem;
  signature(scheme: SignatureScheme): Signature;
}
