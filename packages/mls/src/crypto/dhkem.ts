/**
 * DHKEM (RFC 9180 §4.1) over any Diffie-Hellman group.
 *
 * Providers only supply the group arithmetic (`DhGroup`); everything the RFC specifies on top of it
 * (labelled HKDF, DeriveKeyPair, Encap/Decap and the §7.1.4 validation) lives here once, so every
 * provider accepts and refuses exactly the same inputs with the same error codes.
 */
import { MlsError } from '../errors.js';
import { EMPTY, utf8, wipe } from '../util/bytes.js';
import { checkPrivateKeySize, nistPrivateScalar } from './keys.js';
import { KdfId, KemId, type Kdf, type Kem, type KeyPair } from './provider.js';

/** The fixed parameters of a DHKEM group (RFC 9180 §7.1, Table 2, and §7.1.3). */
export interface DhGroupParameters {
  readonly kemId: KemId;
  readonly name: 'P-256' | 'P-384' | 'P-521' | 'X25519' | 'X448';
  /** Nsk */
  readonly privateKeySize: number;
  /** Npk, which is also Nenc */
  readonly publicKeySize: number;
  /** Ndh */
  readonly dhSize: number;
  /** Nsecret */
  readonly secretSize: number;
  /** The KEM's own KDF, independent of the HPKE suite's KDF (§7.1.3). */
  readonly kdf: KdfId;
  /** NIST curves only: the group order and the first-byte mask of DeriveKeyPair's rejection sampling. */
  readonly order?: bigint;
  readonly bitmask?: number;
}

/** What a provider implements per curve: the parameters plus the two group operations. */
export interface DhGroup extends DhGroupParameters {
  /**
   * pk(sk). Called only with keys of the right length, and for NIST curves only with scalars in
   * [1, order-1], so it need not re-check those.
   */
  publicKey(privateKey: Uint8Array): Uint8Array;
  /**
   * DH(sk, pk): the X25519/X448 output or the NIST x-coordinate, Ndh bytes. Called with lengths and
   * the SEC1 prefix already checked; must throw `MlsError('INVALID_KEY')` for a point not on the curve.
   */
  dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array;
  /**
   * Optional: DH(sk, pk) together with pk(sk). Encap and Decap need both, and some backends get the
   * public key for free when they load the private key, so this saves a scalar multiplication.
   */
  dhWithPublicKey?(
    privateKey: Uint8Array,
    publicKey: Uint8Array,
  ): { dh: Uint8Array; publicKey: Uint8Array };
}

export const DH_GROUP_PARAMETERS: Readonly<Record<KemId, DhGroupParameters>> = {
  [KemId.DHKEM_P256]: {
    kemId: KemId.DHKEM_P256,
    name: 'P-256',
    privateKeySize: 32,
    publicKeySize: 65,
    dhSize: 32,
    secretSize: 32,
    kdf: KdfId.HKDF_SHA256,
    order: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
    bitmask: 0xff,
  },
  [KemId.DHKEM_P384]: {
    kemId: KemId.DHKEM_P384,
    name: 'P-384',
    privateKeySize: 48,
    publicKeySize: 97,
    dhSize: 48,
    secretSize: 48,
    kdf: KdfId.HKDF_SHA384,
    order:
      0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    bitmask: 0xff,
  },
  [KemId.DHKEM_P521]: {
    kemId: KemId.DHKEM_P521,
    name: 'P-521',
    privateKeySize: 66,
    publicKeySize: 133,
    dhSize: 66,
    secretSize: 64,
    kdf: KdfId.HKDF_SHA512,
    order:
      0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
    bitmask: 0x01,
  },
  [KemId.DHKEM_X25519]: {
    kemId: KemId.DHKEM_X25519,
    name: 'X25519',
    privateKeySize: 32,
    publicKeySize: 32,
    dhSize: 32,
    secretSize: 32,
    kdf: KdfId.HKDF_SHA256,
  },
  [KemId.DHKEM_X448]: {
    kemId: KemId.DHKEM_X448,
    name: 'X448',
    privateKeySize: 56,
    publicKeySize: 56,
    dhSize: 56,
    secretSize: 64,
    kdf: KdfId.HKDF_SHA512,
  },
};

const HPKE_V1 = utf8('HPKE-v1');

/**
 * The "HPKE-v1" || suite_id prefix of every labelled input (§4). Computed once per KEM or HPKE
 * suite, so the hot path only concatenates.
 */
export function labelPrefix(suiteId: Uint8Array): Uint8Array {
  const out = new Uint8Array(HPKE_V1.length + suiteId.length);
  out.set(HPKE_V1);
  out.set(suiteId, HPKE_V1.length);
  return out;
}

/** LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" || suite_id || label || ikm). */
export function labeledExtract(
  kdf: Kdf,
  prefix: Uint8Array,
  salt: Uint8Array,
  label: Uint8Array,
  ikm: Uint8Array,
): Uint8Array {
  const input = new Uint8Array(prefix.length + label.length + ikm.length);
  input.set(prefix);
  input.set(label, prefix.length);
  input.set(ikm, prefix.length + label.length);
  return kdf.extract(salt, input);
}

/** LabeledExpand(prk, label, info, L) = Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info, L). */
export function labeledExpand(
  kdf: Kdf,
  prefix: Uint8Array,
  prk: Uint8Array,
  label: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > 0xffff) {
    throw new MlsError(
      'INVALID_LENGTH',
      `LabeledExpand length ${length} does not fit in two bytes`,
    );
  }
  const input = new Uint8Array(2 + prefix.length + label.length + info.length);
  input[0] = length >>> 8;
  input[1] = length & 0xff;
  input.set(prefix, 2);
  input.set(label, 2 + prefix.length);
  input.set(info, 2 + prefix.length + label.length);
  return kdf.expand(prk, input, length);
}

const LABEL_DKP_PRK = utf8('dkp_prk');
const LABEL_SK = utf8('sk');
const LABEL_CANDIDATE = utf8('candidate');
const LABEL_EAE_PRK = utf8('eae_prk');
const LABEL_SHARED_SECRET = utf8('shared_secret');

function bigIntFromBytes(bytes: Uint8Array): bigint {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (const b of bytes) acc |= b;
  return acc === 0;
}

/** Runs a group operation, turning anything but an `MlsError` into one with `code`. */
function guarded<T>(code: 'INVALID_KEY' | 'KEM_FAILURE', what: string, op: () => T): T {
  try {
    return op();
  } catch (e) {
    if (e instanceof MlsError) throw e;
    throw new MlsError(code, `${what}: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  }
}

/**
 * DHKEM(group, kdf). `kdf` must be the group's own KDF (`DH_GROUP_PARAMETERS[id].kdf`) from the
 * same provider; `randomBytes` seeds GenerateKeyPair.
 */
export function dhKem(group: DhGroup, kdf: Kdf, randomBytes: (length: number) => Uint8Array): Kem {
  if (kdf.id !== group.kdf) {
    throw new MlsError('UNSUPPORTED_CIPHER_SUITE', `${group.name} DHKEM needs KDF ${group.kdf}`);
  }
  const { privateKeySize, publicKeySize, dhSize, secretSize, order, bitmask } = group;
  const prefix = labelPrefix(
    Uint8Array.of(0x4b, 0x45, 0x4d, group.kemId >>> 8, group.kemId & 0xff),
  ); // "KEM" || I2OSP(kem_id, 2)
  const isNist = order !== undefined;

  /** The private key in its fixed-size form, refused unless valid. */
  function checkedPrivateKey(sk: Uint8Array): Uint8Array {
    if (!isNist) {
      checkPrivateKeySize(group.name, sk, privateKeySize);
      return sk; // X25519/X448 accept any string of the right length (it is clamped)
    }
    // §7.1.2: a NIST private key is a scalar in [1, order-1].
    sk = nistPrivateScalar(group.name, sk, privateKeySize);
    const n = bigIntFromBytes(sk);
    if (n === 0n || n >= order) {
      throw new MlsError('INVALID_KEY', `${group.name} private key is not in [1, order-1]`);
    }
    return sk;
  }

  function checkPublicKey(pk: Uint8Array, what: string): void {
    if (pk.length !== publicKeySize) {
      throw new MlsError(
        'INVALID_KEY',
        `${group.name} ${what} must be ${publicKeySize} bytes, got ${pk.length}`,
      );
    }
    // §7.1.1: only the uncompressed SEC1 form. Checked here because some backends also take the
    // hybrid (0x06/0x07) form of the same length; the group's dh checks the point itself.
    if (isNist && pk[0] !== 0x04) {
      throw new MlsError('INVALID_KEY', `${group.name} ${what} is not an uncompressed SEC1 point`);
    }
  }

  function publicKey(sk: Uint8Array): Uint8Array {
    const key = checkedPrivateKey(sk);
    return guarded('INVALID_KEY', `${group.name} public key`, () => group.publicKey(key));
  }

  /** DH(sk, pk) and pk(sk), with the §7.1.4 output check. */
  function exchange(sk: Uint8Array, pk: Uint8Array): { dh: Uint8Array; publicKey: Uint8Array } {
    const result = guarded('KEM_FAILURE', `${group.name} DH`, () =>
      group.dhWithPublicKey
        ? group.dhWithPublicKey(sk, pk)
        : { dh: group.dh(sk, pk), publicKey: group.publicKey(sk) },
    );
    if (result.dh.length !== dhSize) {
      throw new MlsError('KEM_FAILURE', `${group.name} DH output is not ${dhSize} bytes`);
    }
    // X25519/X448 with a small-order peer key give all zeros (RFC 7748 §6). For NIST curves the
    // point at infinity cannot come from a valid point and a scalar in range; the check is cheap.
    if (isAllZero(result.dh)) {
      throw new MlsError('KEM_FAILURE', `${group.name} DH output is the all-zero value`);
    }
    return result;
  }

  function extractAndExpand(dh: Uint8Array, kemContext: Uint8Array): Uint8Array {
    const eaePrk = labeledExtract(kdf, prefix, EMPTY, LABEL_EAE_PRK, dh);
    const secret = labeledExpand(kdf, prefix, eaePrk, LABEL_SHARED_SECRET, kemContext, secretSize);
    wipe(eaePrk);
    return secret;
  }

  /** The private half of §7.1.3 DeriveKeyPair. */
  function derivePrivateKey(ikm: Uint8Array): Uint8Array {
    const dkpPrk = labeledExtract(kdf, prefix, EMPTY, LABEL_DKP_PRK, ikm);
    try {
      if (!isNist) return labeledExpand(kdf, prefix, dkpPrk, LABEL_SK, EMPTY, privateKeySize);
      // Rejection sampling: the first candidate is almost always in range.
      for (let counter = 0; counter <= 255; counter++) {
        const candidate = labeledExpand(
          kdf,
          prefix,
          dkpPrk,
          LABEL_CANDIDATE,
          Uint8Array.of(counter),
          privateKeySize,
        );
        candidate[0]! &= bitmask!;
        const n = bigIntFromBytes(candidate);
        if (n !== 0n && n < order) return candidate;
      }
      throw new MlsError('KEM_FAILURE', `${group.name} DeriveKeyPair found no valid scalar`);
    } finally {
      wipe(dkpPrk);
    }
  }

  function deriveKeyPair(ikm: Uint8Array): KeyPair {
    const privateKey = derivePrivateKey(ikm);
    return { privateKey, publicKey: publicKey(privateKey) };
  }

  /** ExtractAndExpand(dh, enc || pkRm), wiping the DH output. */
  function sharedSecretOf(dh: Uint8Array, enc: Uint8Array, pkR: Uint8Array): Uint8Array {
    const kemContext = new Uint8Array(enc.length + pkR.length);
    kemContext.set(enc);
    kemContext.set(pkR, enc.length);
    const secret = extractAndExpand(dh, kemContext);
    wipe(dh);
    return secret;
  }

  return {
    id: group.kemId,
    secretSize,
    encSize: publicKeySize,
    publicKeySize,
    privateKeySize,
    // §4: GenerateKeyPair may be DeriveKeyPair(random(Nsk)); this keeps one code path for all groups.
    generateKeyPair: () => deriveKeyPair(randomBytes(privateKeySize)),
    deriveKeyPair,
    publicKey,
    encap(pkR, ikmE) {
      checkPublicKey(pkR, 'recipient public key');
      const skE = derivePrivateKey(ikmE ?? randomBytes(privateKeySize));
      try {
        const { dh, publicKey: enc } = exchange(skE, pkR);
        return { sharedSecret: sharedSecretOf(dh, enc, pkR), enc };
      } finally {
        wipe(skE);
      }
    },
    decap(enc, skR) {
      checkPublicKey(enc, 'encapsulated key');
      const { dh, publicKey: pkR } = exchange(checkedPrivateKey(skR), enc);
      return sharedSecretOf(dh, enc, pkR);
    },
  };
}
