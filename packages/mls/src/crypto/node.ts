/**
 * `nodeCrypto`: the primitives on node:crypto (OpenSSL), synchronous APIs only.
 *
 * Asymmetric keys are imported as JWK: on Node 20, OpenSSL's DER decoders cost ~300 µs per key
 * (SPKI with a fixed prefix included), JWK import of a raw key ~40 µs (plus the scalar
 * multiplication a private key needs for its public half). Imported keys are cached (keyCache.ts):
 * public keys in bounded caches keyed by their bytes, signature private keys on the very array
 * that holds them. KEM private keys are never cached: each is used once or twice per epoch.
 *
 * `verifyMany` spreads large batches of signature checks (a joined tree's leaves) over worker
 * threads, synchronously for the caller (parallelVerify.ts).
 */
import * as crypto from 'node:crypto';
import {
  createCipheriv,
  createDecipheriv,
  createECDH,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  randomFillSync,
  sign as opensslSign,
  verify as opensslVerify,
  type KeyObject,
} from 'node:crypto';
import { MlsError } from '../errors.js';
import { assembleProvider } from './assemble.js';
import { DH_GROUP_PARAMETERS, type DhGroup } from './dhkem.js';
import { PrivateKeyCache, PublicKeyCache } from './keyCache.js';
import { checkPrivateKeySize, nistPrivateScalar } from './keys.js';
import { ParallelVerifier, type VerifyRecipe } from './parallelVerify.js';
import {
  AeadId,
  KdfId,
  KemId,
  SignatureScheme,
  type Aead,
  type CryptoProvider,
  type Hash,
  type Kdf,
  type KeyPair,
  type Signature,
  type SignatureCheck,
} from './provider.js';

/**
 * A Buffer as a plain Uint8Array. Node's outputs usually own their whole ArrayBuffer, so a view
 * costs nothing; a Buffer carved from Node's shared pool is copied so no caller ever holds (or
 * exposes through `.buffer`) memory shared with unrelated data.
 */
function plain(buf: Buffer): Uint8Array {
  return buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength
    ? new Uint8Array(buf.buffer, 0, buf.byteLength)
    : new Uint8Array(buf);
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function base64url(bytes: Uint8Array): string {
  return asBuffer(bytes).toString('base64url');
}

function fromBase64url(text: string | undefined): Uint8Array {
  return new Uint8Array(Buffer.from(text ?? '', 'base64url'));
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Signature keys: every member's, so a 10,000-member group's fit with room to spare (~700 bytes
 * of memory per key). HPKE public keys change with every path update, so a cache of many of them
 * pays off less; fewer are kept.
 */
const SIGNATURE_KEY_CACHE_SIZE = 16_384;
const KEM_KEY_CACHE_SIZE = 1024;

/** Large batches of signature checks (a joined group's leaves) go to worker threads. */
const parallel = new ParallelVerifier();

// ---------------------------------------------------------------------------------------------
// Hashes and HKDF

const HASH_NAMES = {
  [KdfId.HKDF_SHA256]: ['sha256', 'SHA-256', 32],
  [KdfId.HKDF_SHA384]: ['sha384', 'SHA-384', 48],
  [KdfId.HKDF_SHA512]: ['sha512', 'SHA-512', 64],
} as const;

/** Node ≥ 20.12's one-shot hash skips creating a Hash object (a fifth faster on small inputs). */
const oneShotHash: typeof crypto.hash | undefined = crypto.hash;

function makeHash(id: KdfId): Hash {
  const [algorithm, name, size] = HASH_NAMES[id];
  return {
    name,
    size,
    digest: oneShotHash
      ? (data) => plain(oneShotHash(algorithm, data, 'buffer'))
      : (data) => plain(createHash(algorithm).update(data).digest()),
    mac: (key, data) => plain(createHmac(algorithm, key).update(data).digest()),
  };
}

function makeKdf(id: KdfId): Kdf {
  const [algorithm, , size] = HASH_NAMES[id];
  const counter = new Uint8Array(1);
  return {
    id,
    size,
    // RFC 5869 §2.2: PRK = HMAC(salt, IKM). An empty salt is the same HMAC key as HashLen zeros.
    extract: (salt, ikm) => plain(createHmac(algorithm, salt).update(ikm).digest()),
    // RFC 5869 §2.3: T(i) = HMAC(PRK, T(i-1) || info || i), output the first L bytes.
    expand(prk, info, length) {
      if (!Number.isInteger(length) || length < 0 || length > 255 * size) {
        throw new MlsError(
          'INVALID_LENGTH',
          `HKDF-Expand length ${length} is not an integer in [0, 255 * ${size}]`,
        );
      }
      if (length === size) {
        counter[0] = 1;
        return plain(createHmac(algorithm, prk).update(info).update(counter).digest());
      }
      const out = new Uint8Array(length);
      let block: Uint8Array = new Uint8Array(0);
      for (let i = 1, offset = 0; offset < length; i++, offset += size) {
        counter[0] = i;
        block = createHmac(algorithm, prk).update(block).update(info).update(counter).digest();
        out.set(length - offset < size ? block.subarray(0, length - offset) : block, offset);
      }
      block.fill(0);
      return out;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// AEADs

const AEAD_PARAMETERS = {
  [AeadId.AES128GCM]: ['aes-128-gcm', 16],
  [AeadId.AES256GCM]: ['aes-256-gcm', 32],
  [AeadId.CHACHA20POLY1305]: ['chacha20-poly1305', 32],
} as const;

const NONCE_SIZE = 12;
const TAG_SIZE = 16;

type AeadAlgorithm = (typeof AEAD_PARAMETERS)[AeadId][0];

// Node's typings pick the cipher type from the literal algorithm name, hence the branches.
function encryptor(algorithm: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array) {
  const options = { authTagLength: TAG_SIZE };
  return algorithm === 'chacha20-poly1305'
    ? createCipheriv(algorithm, key, nonce, options)
    : createCipheriv(algorithm, key, nonce, options);
}

function decryptor(algorithm: AeadAlgorithm, key: Uint8Array, nonce: Uint8Array) {
  const options = { authTagLength: TAG_SIZE };
  return algorithm === 'chacha20-poly1305'
    ? createDecipheriv(algorithm, key, nonce, options)
    : createDecipheriv(algorithm, key, nonce, options);
}

function makeAead(id: AeadId): Aead {
  const [algorithm, keySize] = AEAD_PARAMETERS[id];

  function checkSizes(key: Uint8Array, nonce: Uint8Array): void {
    if (key.length !== keySize || nonce.length !== NONCE_SIZE) {
      throw new MlsError(
        'INVALID_LENGTH',
        `${algorithm} needs a ${keySize}-byte key and ${NONCE_SIZE}-byte nonce, got ${key.length} and ${nonce.length}`,
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
      const cipher = encryptor(algorithm, key, nonce);
      cipher.setAAD(aad, { plaintextLength: plaintext.length });
      const out = new Uint8Array(plaintext.length + TAG_SIZE);
      out.set(cipher.update(plaintext));
      cipher.final(); // a stream mode: final() emits nothing, but it computes the tag
      out.set(cipher.getAuthTag(), plaintext.length);
      return out;
    },
    open(key, nonce, aad, ciphertext) {
      checkSizes(key, nonce);
      if (ciphertext.length < TAG_SIZE) {
        throw new MlsError('AEAD_FAILURE', `${algorithm} ciphertext is shorter than its tag`);
      }
      const bodyLength = ciphertext.length - TAG_SIZE;
      const decipher = decryptor(algorithm, key, nonce);
      decipher.setAuthTag(ciphertext.subarray(bodyLength));
      decipher.setAAD(aad, { plaintextLength: bodyLength });
      const plaintext = decipher.update(ciphertext.subarray(0, bodyLength));
      try {
        decipher.final();
      } catch (e) {
        plaintext.fill(0); // never let unauthenticated plaintext escape
        throw new MlsError('AEAD_FAILURE', `${algorithm} authentication failed`, { cause: e });
      }
      return plain(plaintext);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Key import

type OkpCurve = 'X25519' | 'X448' | 'Ed25519' | 'Ed448';

/** An OKP private key. Node reads only `d` and derives the public half, but wants `x` to be a string. */
function importOkpPrivate(crv: OkpCurve, privateKey: Uint8Array): KeyObject {
  return createPrivateKey({
    key: { kty: 'OKP', crv, d: base64url(privateKey), x: '' },
    format: 'jwk',
  });
}

function importOkpPublic(crv: OkpCurve, publicKey: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv, x: base64url(publicKey) }, format: 'jwk' });
}

/** The raw public key of an imported OKP private key (JWK export is far cheaper than DER). */
function okpPublicKeyOf(privateKey: KeyObject): Uint8Array {
  return fromBase64url(privateKey.export({ format: 'jwk' }).x);
}

type NistCurve = 'P-256' | 'P-384' | 'P-521';
const OPENSSL_CURVE_NAMES = {
  'P-256': 'prime256v1',
  'P-384': 'secp384r1',
  'P-521': 'secp521r1',
} as const;

/** Pads a big-endian integer from OpenSSL (which may drop leading zeros) to `size` bytes. */
function padStart(bytes: Uint8Array, size: number): Uint8Array {
  if (bytes.length === size) return bytes;
  const out = new Uint8Array(size);
  out.set(bytes, size - bytes.length);
  return out;
}

/** A NIST private scalar loaded into an ECDH object, which validates it and derives its point. */
function loadNistPrivate(crv: NistCurve, privateKey: Uint8Array) {
  const ecdh = createECDH(OPENSSL_CURVE_NAMES[crv]);
  try {
    ecdh.setPrivateKey(privateKey);
  } catch (e) {
    throw new MlsError('INVALID_KEY', `invalid ${crv} private key: ${errorText(e)}`, { cause: e });
  }
  return ecdh;
}

/** An uncompressed SEC1 point as JWK coordinates. */
function nistCoordinates(publicKey: Uint8Array): { x: string; y: string } {
  const half = (publicKey.length - 1) / 2;
  return {
    x: base64url(publicKey.subarray(1, 1 + half)),
    y: base64url(publicKey.subarray(1 + half)),
  };
}

// ---------------------------------------------------------------------------------------------
// KEMs

function montgomeryGroup(kemId: typeof KemId.DHKEM_X25519 | typeof KemId.DHKEM_X448): DhGroup {
  const crv = kemId === KemId.DHKEM_X25519 ? 'X25519' : 'X448';
  const publicKeys = new PublicKeyCache(KEM_KEY_CACHE_SIZE, (pk) => importOkpPublic(crv, pk));
  const exchange = (privateKey: KeyObject, pk: Uint8Array) =>
    plain(diffieHellman({ privateKey, publicKey: publicKeys.get(pk) }));
  return {
    ...DH_GROUP_PARAMETERS[kemId],
    publicKey: (sk) => okpPublicKeyOf(importOkpPrivate(crv, sk)),
    dh: (sk, pk) => exchange(importOkpPrivate(crv, sk), pk),
    dhWithPublicKey(sk, pk) {
      const privateKey = importOkpPrivate(crv, sk);
      return { dh: exchange(privateKey, pk), publicKey: okpPublicKeyOf(privateKey) };
    },
  };
}

function nistGroup(
  kemId: typeof KemId.DHKEM_P256 | typeof KemId.DHKEM_P384 | typeof KemId.DHKEM_P521,
): DhGroup {
  const parameters = DH_GROUP_PARAMETERS[kemId];
  const crv = parameters.name as NistCurve;
  const exchange = (ecdh: ReturnType<typeof createECDH>, pk: Uint8Array) => {
    try {
      // computeSecret checks that the point is on the curve and returns the x-coordinate, padded.
      return plain(ecdh.computeSecret(pk));
    } catch (e) {
      throw new MlsError('INVALID_KEY', `invalid ${crv} public key: ${errorText(e)}`, { cause: e });
    }
  };
  return {
    ...parameters,
    publicKey: (sk) => plain(loadNistPrivate(crv, sk).getPublicKey()),
    dh: (sk, pk) => exchange(loadNistPrivate(crv, sk), pk),
    dhWithPublicKey(sk, pk) {
      const ecdh = loadNistPrivate(crv, sk);
      return { dh: exchange(ecdh, pk), publicKey: plain(ecdh.getPublicKey()) };
    },
  };
}

function randomBytes(length: number): Uint8Array {
  return randomFillSync(new Uint8Array(length));
}

// ---------------------------------------------------------------------------------------------
// Signatures

function signFailure(scheme: string, e: unknown): MlsError {
  return e instanceof MlsError
    ? e
    : new MlsError('INVALID_KEY', `${scheme} signing failed: ${errorText(e)}`, { cause: e });
}

function edwardsSignature(
  scheme: typeof SignatureScheme.ED25519 | typeof SignatureScheme.ED448,
): Signature {
  const crv = scheme === SignatureScheme.ED25519 ? 'Ed25519' : 'Ed448';
  const keySize = scheme === SignatureScheme.ED25519 ? 32 : 57;
  const privateKeys = new PrivateKeyCache((sk) => importOkpPrivate(crv, sk));
  const publicKeys = new PublicKeyCache(SIGNATURE_KEY_CACHE_SIZE, (pk) => importOkpPublic(crv, pk));

  function loadPrivate(sk: Uint8Array): KeyObject {
    checkPrivateKeySize(crv, sk, keySize);
    try {
      return privateKeys.get(sk);
    } catch (e) {
      throw signFailure(crv, e);
    }
  }

  const publicKey = (sk: Uint8Array) => okpPublicKeyOf(loadPrivate(sk));
  const precheck = (c: SignatureCheck) =>
    c.publicKey.length === keySize && c.signature.length === 2 * keySize;
  const verify = (c: SignatureCheck) => {
    if (!precheck(c)) return false;
    try {
      return opensslVerify(null, c.message, publicKeys.get(c.publicKey), c.signature);
    } catch {
      return false;
    }
  };
  return {
    scheme,
    generateKeyPair(): KeyPair {
      const privateKey = randomBytes(keySize);
      return { privateKey, publicKey: publicKey(privateKey) };
    },
    publicKey,
    sign(sk, message) {
      const key = loadPrivate(sk);
      try {
        return plain(opensslSign(null, message, key));
      } catch (e) {
        throw signFailure(crv, e);
      }
    },
    verify: (publicKey, message, signature) => verify({ publicKey, message, signature }),
    verifyMany: (items) => parallel.verifyAll({ kind: 'eddsa', crv }, items, precheck, verify),
  };
}

const ECDSA_PARAMETERS = {
  [SignatureScheme.ECDSA_SECP256R1_SHA256]: ['P-256', 'sha256', 32],
  [SignatureScheme.ECDSA_SECP384R1_SHA384]: ['P-384', 'sha384', 48],
  [SignatureScheme.ECDSA_SECP521R1_SHA512]: ['P-521', 'sha512', 66],
} as const;

function ecdsaSignature(
  scheme:
    | typeof SignatureScheme.ECDSA_SECP256R1_SHA256
    | typeof SignatureScheme.ECDSA_SECP384R1_SHA384
    | typeof SignatureScheme.ECDSA_SECP521R1_SHA512,
): Signature {
  const [crv, digest, scalarSize] = ECDSA_PARAMETERS[scheme];
  const pointSize = 1 + 2 * scalarSize;
  // The JWK of a private key needs its point too; createECDH derives it cheaply. Keyed on the
  // caller's array, so a scalar written without its leading zeros is padded on import only.
  const privateKeys = new PrivateKeyCache((stripped) => {
    const sk = nistPrivateScalar(crv, stripped, scalarSize);
    const point = loadNistPrivate(crv, sk).getPublicKey();
    return createPrivateKey({
      key: { kty: 'EC', crv, d: base64url(sk), ...nistCoordinates(point) },
      format: 'jwk',
    });
  });
  const publicKeys = new PublicKeyCache(SIGNATURE_KEY_CACHE_SIZE, (pk) =>
    createPublicKey({ key: { kty: 'EC', crv, ...nistCoordinates(pk) }, format: 'jwk' }),
  );

  function loadPrivate(sk: Uint8Array): KeyObject {
    try {
      return privateKeys.get(sk);
    } catch (e) {
      throw signFailure(crv, e);
    }
  }

  const publicKey = (sk: Uint8Array) => {
    sk = nistPrivateScalar(crv, sk, scalarSize);
    return plain(loadNistPrivate(crv, sk).getPublicKey());
  };
  // Only uncompressed points: OpenSSL would also take the hybrid form, other providers do not.
  const precheck = (c: SignatureCheck) => c.publicKey.length === pointSize && c.publicKey[0] === 4;
  const verify = (c: SignatureCheck) => {
    if (!precheck(c)) return false;
    try {
      const key = publicKeys.get(c.publicKey);
      return opensslVerify(digest, c.message, { key, dsaEncoding: 'der' }, c.signature);
    } catch {
      return false;
    }
  };
  const recipe: VerifyRecipe = { kind: 'ecdsa', crv, digest };
  return {
    scheme,
    generateKeyPair(): KeyPair {
      const ecdh = createECDH(OPENSSL_CURVE_NAMES[crv]);
      const point = plain(ecdh.generateKeys());
      return { privateKey: padStart(plain(ecdh.getPrivateKey()), scalarSize), publicKey: point };
    },
    publicKey,
    sign(sk, message) {
      const key = loadPrivate(sk);
      try {
        return plain(opensslSign(digest, message, { key, dsaEncoding: 'der' }));
      } catch (e) {
        throw signFailure(crv, e);
      }
    },
    verify: (publicKey, message, signature) => verify({ publicKey, message, signature }),
    verifyMany: (items) => parallel.verifyAll(recipe, items, precheck, verify),
  };
}

// ---------------------------------------------------------------------------------------------
// The provider

export const nodeCrypto: CryptoProvider = assembleProvider('node', {
  randomBytes,
  makeHash,
  makeKdf,
  makeAead,
  nistGroup,
  montgomeryGroup,
  edwardsSignature,
  ecdsaSignature,
});
