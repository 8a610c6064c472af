/**
 * `portableCrypto`: the primitives in plain JavaScript on @noble/hashes, @noble/ciphers and
 * @noble/curves, for runtimes without node:crypto.
 *
 * It must accept and refuse exactly what `nodeCrypto` (OpenSSL) does, or two members of one group
 * could disagree about whether a message is valid. Hence the explicit length and encoding checks,
 * ECDSA verification that takes high-S signatures, and EdDSA verification written out to match
 * OpenSSL's equations (see `verifyEd25519` and `verifyEd448`).
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { gcm } from '@noble/ciphers/aes.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { ed448, x448 } from '@noble/curves/ed448.js';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { shake256 } from '@noble/hashes/sha3.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { MlsError } from '../errors.js';
import { bytesEqual, utf8 } from '../util/bytes.js';
import { assembleProvider } from './assemble.js';
import { DH_GROUP_PARAMETERS, type DhGroup } from './dhkem.js';
import { checkPrivateKeySize, nistPrivateScalar } from './keys.js';
import {
  AeadId,
  KdfId,
  KemId,
  SignatureScheme,
  type Aead,
  type CryptoProvider,
  type Hash,
  type Kdf,
  type Signature,
} from './provider.js';

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function littleEndianToBigInt(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

// ---------------------------------------------------------------------------------------------
// Hashes and HKDF

const HASH_FUNCTIONS = {
  [KdfId.HKDF_SHA256]: [sha256, 'SHA-256'],
  [KdfId.HKDF_SHA384]: [sha384, 'SHA-384'],
  [KdfId.HKDF_SHA512]: [sha512, 'SHA-512'],
} as const;

function makeHash(id: KdfId): Hash {
  const [fn, name] = HASH_FUNCTIONS[id];
  return {
    name,
    size: fn.outputLen,
    digest: (data) => fn(data),
    mac: (key, data) => hmac(fn, key, data),
  };
}

function makeKdf(id: KdfId): Kdf {
  const [fn] = HASH_FUNCTIONS[id];
  const size = fn.outputLen;
  return {
    id,
    size,
    // RFC 5869 §2.2: PRK = HMAC(salt, IKM). An empty salt is the same HMAC key as HashLen zeros.
    extract: (salt, ikm) => hmac(fn, salt, ikm),
    // RFC 5869 §2.3, written out rather than @noble/hashes' expand, which also refuses a PRK
    // shorter than HashLen where OpenSSL does not.
    expand(prk, info, length) {
      if (!Number.isInteger(length) || length < 0 || length > 255 * size) {
        throw new MlsError(
          'INVALID_LENGTH',
          `HKDF-Expand length ${length} is not an integer in [0, 255 * ${size}]`,
        );
      }
      const keyed = hmac.create(fn, prk);
      const counter = new Uint8Array(1);
      const out = new Uint8Array(length);
      let block = new Uint8Array(0);
      for (let i = 1, offset = 0; offset < length; i++, offset += size) {
        counter[0] = i;
        block = keyed.clone().update(block).update(info).update(counter).digest();
        out.set(length - offset < size ? block.subarray(0, length - offset) : block, offset);
      }
      keyed.destroy();
      block.fill(0);
      return out;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// AEADs

const AEAD_PARAMETERS = {
  [AeadId.AES128GCM]: ['AES-128-GCM', 16, gcm],
  [AeadId.AES256GCM]: ['AES-256-GCM', 32, gcm],
  [AeadId.CHACHA20POLY1305]: ['ChaCha20Poly1305', 32, chacha20poly1305],
} as const;

const NONCE_SIZE = 12;
const TAG_SIZE = 16;

function makeAead(id: AeadId): Aead {
  const [name, keySize, cipher] = AEAD_PARAMETERS[id];

  function checkSizes(key: Uint8Array, nonce: Uint8Array): void {
    // Checked here because gcm() would take any AES key size and the other lengths differently.
    if (key.length !== keySize || nonce.length !== NONCE_SIZE) {
      throw new MlsError(
        'INVALID_LENGTH',
        `${name} needs a ${keySize}-byte key and ${NONCE_SIZE}-byte nonce, got ${key.length} and ${nonce.length}`,
      );
    }
  }

  return {
    id,
    keySize,
    nonceSize: NONCE_SIZE,
    tagSize: TAG_SIZE,
    seal(key, nonce, aad, plaintext) {
      checkSizes(key, nonce);
      return cipher(key, nonce, aad).encrypt(plaintext);
    },
    open(key, nonce, aad, ciphertext) {
      checkSizes(key, nonce);
      if (ciphertext.length < TAG_SIZE) {
        throw new MlsError('AEAD_FAILURE', `${name} ciphertext is shorter than its tag`);
      }
      try {
        return cipher(key, nonce, aad).decrypt(ciphertext);
      } catch (e) {
        throw new MlsError('AEAD_FAILURE', `${name} authentication failed`, { cause: e });
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// KEMs

function montgomeryGroup(kemId: typeof KemId.DHKEM_X25519 | typeof KemId.DHKEM_X448): DhGroup {
  const curve = kemId === KemId.DHKEM_X25519 ? x25519 : x448;
  return {
    ...DH_GROUP_PARAMETERS[kemId],
    publicKey: (sk) => curve.getPublicKey(sk),
    // scalarMult throws on the all-zero output; dhkem turns that into KEM_FAILURE.
    dh: (sk, pk) => curve.scalarMult(sk, pk),
  };
}

const NIST_CURVES = { 'P-256': p256, 'P-384': p384, 'P-521': p521 } as const;

function nistGroup(
  kemId: typeof KemId.DHKEM_P256 | typeof KemId.DHKEM_P384 | typeof KemId.DHKEM_P521,
): DhGroup {
  const parameters = DH_GROUP_PARAMETERS[kemId];
  const name = parameters.name as keyof typeof NIST_CURVES;
  const curve = NIST_CURVES[name];
  return {
    ...parameters,
    publicKey: (sk) => curve.getPublicKey(sk, false),
    dh(sk, pk) {
      let point: Uint8Array;
      try {
        point = curve.getSharedSecret(sk, pk, true);
      } catch (e) {
        throw new MlsError('INVALID_KEY', `invalid ${name} public key: ${errorText(e)}`, {
          cause: e,
        });
      }
      return point.slice(1); // the x-coordinate of the compressed point
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Signatures

function invalidKey(scheme: string, e: unknown): MlsError {
  return new MlsError('INVALID_KEY', `${scheme}: ${errorText(e)}`, { cause: e });
}

const ED25519_ORDER = ed25519.Point.Fn.ORDER;

/**
 * Ed25519 verification as OpenSSL does it, which is not quite @noble/curves' `verify`: S must be
 * below L; A is decoded leniently (y may be unreduced, x = 0 may carry the sign bit) and may have
 * small order; then [S]B - [k]A is encoded and compared byte for byte with R, so R must be the
 * canonical encoding and torsion components are not ignored (the cofactorless equation).
 */
function verifyEd25519(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  const r = signature.subarray(0, 32);
  const s = littleEndianToBigInt(signature.subarray(32));
  if (s >= ED25519_ORDER) return false;
  let a;
  try {
    a = ed25519.Point.fromBytes(publicKey, true);
  } catch {
    return false;
  }
  const hashInput = new Uint8Array(64 + message.length);
  hashInput.set(r);
  hashInput.set(publicKey, 32);
  hashInput.set(message, 64);
  const k = littleEndianToBigInt(sha512(hashInput)) % ED25519_ORDER;
  const expectedR = ed25519.Point.BASE.multiplyUnsafe(s).subtract(a.multiplyUnsafe(k));
  return bytesEqual(expectedR.toBytes(), r);
}

const ED448_ORDER = ed448.Point.Fn.ORDER;
/** dom4(0, "") of RFC 8032 §5.2: pure Ed448 with an empty context. */
const ED448_DOM4 = Uint8Array.of(...utf8('SigEd448'), 0, 0);

/**
 * Ed448 verification as OpenSSL does it: S below L, A and R canonical encodings (RFC 8032 strict),
 * neither of them one of the two points with x = 0, which OpenSSL's decoder refuses, and the
 * cofactored equation [4]R = [4]([S]B - [k]A). Unlike @noble/curves it accepts A of order 4.
 */
function verifyEd448(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 57 || signature.length !== 114) return false;
  const rBytes = signature.subarray(0, 57);
  const s = littleEndianToBigInt(signature.subarray(57));
  if (s >= ED448_ORDER) return false;
  let a, r;
  try {
    a = ed448.Point.fromBytes(publicKey, false);
    r = ed448.Point.fromBytes(rBytes, false);
  } catch {
    return false;
  }
  if (a.x === 0n || r.x === 0n) return false;
  const hashInput = new Uint8Array(ED448_DOM4.length + 114 + message.length);
  hashInput.set(ED448_DOM4);
  hashInput.set(rBytes, ED448_DOM4.length);
  hashInput.set(publicKey, ED448_DOM4.length + 57);
  hashInput.set(message, ED448_DOM4.length + 114);
  const k = littleEndianToBigInt(shake256(hashInput, { dkLen: 114 })) % ED448_ORDER;
  return r
    .add(a.multiplyUnsafe(k))
    .subtract(ed448.Point.BASE.multiplyUnsafe(s))
    .clearCofactor()
    .is0();
}

function edwardsSignature(
  scheme: typeof SignatureScheme.ED25519 | typeof SignatureScheme.ED448,
): Signature {
  const [name, curve, keySize, verify] =
    scheme === SignatureScheme.ED25519
      ? (['Ed25519', ed25519, 32, verifyEd25519] as const)
      : (['Ed448', ed448, 57, verifyEd448] as const);
  const publicKey = (sk: Uint8Array) => {
    checkPrivateKeySize(name, sk, keySize);
    return curve.getPublicKey(sk);
  };
  return {
    scheme,
    generateKeyPair() {
      const privateKey = randomBytes(keySize);
      return { privateKey, publicKey: publicKey(privateKey) };
    },
    publicKey,
    sign(sk, message) {
      checkPrivateKeySize(name, sk, keySize);
      try {
        return curve.sign(message, sk);
      } catch (e) {
        throw invalidKey(name, e);
      }
    },
    verify,
  };
}

const ECDSA_CURVES = {
  [SignatureScheme.ECDSA_SECP256R1_SHA256]: ['P-256', p256, 32],
  [SignatureScheme.ECDSA_SECP384R1_SHA384]: ['P-384', p384, 48],
  [SignatureScheme.ECDSA_SECP521R1_SHA512]: ['P-521', p521, 66],
} as const;

function ecdsaSignature(
  scheme:
    | typeof SignatureScheme.ECDSA_SECP256R1_SHA256
    | typeof SignatureScheme.ECDSA_SECP384R1_SHA384
    | typeof SignatureScheme.ECDSA_SECP521R1_SHA512,
): Signature {
  // Each curve object hashes with its scheme's hash (SHA-256/384/512) when prehash is set.
  const [name, curve, scalarSize] = ECDSA_CURVES[scheme];
  const pointSize = 1 + 2 * scalarSize;
  const publicKey = (sk: Uint8Array) => {
    sk = nistPrivateScalar(name, sk, scalarSize);
    try {
      return curve.getPublicKey(sk, false);
    } catch (e) {
      throw invalidKey(name, e);
    }
  };
  return {
    scheme,
    generateKeyPair() {
      const privateKey = curve.utils.randomSecretKey();
      return { privateKey, publicKey: curve.getPublicKey(privateKey, false) };
    },
    publicKey,
    sign(sk, message) {
      sk = nistPrivateScalar(name, sk, scalarSize);
      try {
        // Deterministic (RFC 6979) and low-S, which every verifier accepts.
        return curve.sign(message, sk, { prehash: true, format: 'der' });
      } catch (e) {
        throw invalidKey(name, e);
      }
    },
    verify(pk, message, signature) {
      // Uncompressed points only, as on the wire; high-S allowed, as OpenSSL allows it.
      if (pk.length !== pointSize || pk[0] !== 0x04) return false;
      try {
        return curve.verify(signature, message, pk, { prehash: true, lowS: false, format: 'der' });
      } catch {
        return false;
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The provider

export const portableCrypto: CryptoProvider = assembleProvider('portable', {
  randomBytes,
  makeHash,
  makeKdf,
  makeAead,
  nistGroup,
  montgomeryGroup,
  edwardsSignature,
  ecdsaSignature,
});
