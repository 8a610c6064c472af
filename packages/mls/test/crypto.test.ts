/**
 * The providers agree with each other on every operation, including the inputs they refuse, and
 * refuse bad input with the documented `MlsError` codes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ED25519_TORSION_SUBGROUP, ed25519 } from '@noble/curves/ed25519.js';
import { ED448_TORSION_SUBGROUP, ed448 } from '@noble/curves/ed448.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { shake256 } from '@noble/hashes/sha3.js';
import { expandWithLabel } from '../src/crypto/labels.js';
import { nodeCrypto } from '../src/crypto/node.js';
import { portableCrypto } from '../src/crypto/portable.js';
import {
  AeadId,
  KdfId,
  KemId,
  SignatureScheme,
  type CryptoProvider,
} from '../src/crypto/provider.js';
import { CIPHER_SUITES, cipherSuite } from '../src/crypto/suites.js';
import { MlsError, type MlsErrorCode } from '../src/errors.js';
import { openBase, sealBase, setupBaseR, setupBaseS } from '../src/hpke.js';
import { concat, fromHex, toHex, utf8 } from '../src/util/bytes.js';
import { PROVIDERS } from './providers.js';

function throwsCode(fn: () => unknown, code: MlsErrorCode, what?: string): void {
  assert.throws(
    fn,
    (e: unknown) => {
      assert.ok(e instanceof MlsError, `${what ?? ''}: expected MlsError, got ${String(e)}`);
      assert.equal(e.code, code, `${what ?? ''}: ${e.message}`);
      return true;
    },
    what,
  );
}

function flipBit(bytes: Uint8Array, index: number, bit = 0): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[index]! ^= 1 << bit;
  return out;
}

/** Every ordered pair of providers, including each with itself. */
const PAIRS: [CryptoProvider, CryptoProvider][] = PROVIDERS.flatMap((a) =>
  PROVIDERS.map((b) => [a, b] as [CryptoProvider, CryptoProvider]),
);

const message = utf8('the quick brown fox jumps over the lazy dog');

for (const { id, name } of CIPHER_SUITES.values()) {
  describe(`suite ${id} ${name}`, () => {
    const suites = PROVIDERS.map((p) => cipherSuite(id, p));

    test('signatures: round trip within and across providers', () => {
      for (const [a, b] of PAIRS) {
        const signer = cipherSuite(id, a).signature;
        const verifier = cipherSuite(id, b).signature;
        const { privateKey, publicKey } = signer.generateKeyPair();
        assert.equal(toHex(verifier.publicKey(privateKey)), toHex(publicKey), 'public key');
        const signature = signer.sign(privateKey, message);
        assert.ok(verifier.verify(publicKey, message, signature), `${a.name} → ${b.name}`);
        assert.ok(!verifier.verify(publicKey, utf8('another message'), signature));
      }
    });

    const scheme = CIPHER_SUITES.get(id)!.signature;
    if (scheme === SignatureScheme.ED25519 || scheme === SignatureScheme.ED448) {
      test('signatures: EdDSA is deterministic and identical across providers', () => {
        const { privateKey } = suites[0]!.signature.generateKeyPair();
        const signatures = suites.map((s) => toHex(s.signature.sign(privateKey, message)));
        assert.equal(new Set(signatures).size, 1);
      });
    }

    test('signatures: any flipped bit makes verify false', () => {
      const { privateKey, publicKey } = suites[0]!.signature.generateKeyPair();
      const signature = suites[0]!.signature.sign(privateKey, message);
      for (const s of suites) {
        for (let i = 0; i < signature.length; i += Math.max(1, signature.length >> 4)) {
          for (const bit of [0, 7]) {
            assert.equal(
              s.signature.verify(publicKey, message, flipBit(signature, i, bit)),
              false,
              `${s.provider.name} byte ${i} bit ${bit}`,
            );
          }
        }
      }
    });

    test('signatures: malformed keys and signatures give false, never throw', () => {
      const { privateKey, publicKey } = suites[0]!.signature.generateKeyPair();
      const signature = suites[0]!.signature.sign(privateKey, message);
      const badKeys = [
        new Uint8Array(0),
        publicKey.subarray(1),
        concat(publicKey, new Uint8Array(1)),
        new Uint8Array(publicKey.length),
        new Uint8Array(publicKey.length).fill(0xff),
        flipBit(publicKey, publicKey.length - 1),
        flipBit(publicKey, 0, 1), // ECDSA: 0x04 → 0x06 (hybrid form)
      ];
      const badSignatures = [
        new Uint8Array(0),
        signature.subarray(0, signature.length - 1),
        concat(signature, new Uint8Array(1)),
        new Uint8Array(signature.length),
        new Uint8Array(signature.length).fill(0xff),
      ];
      for (const s of suites) {
        for (const key of badKeys) {
          assert.equal(s.signature.verify(key, message, signature), false, toHex(key));
        }
        for (const sig of badSignatures) {
          assert.equal(s.signature.verify(publicKey, message, sig), false, toHex(sig));
        }
      }
    });

    test('signatures: bad private keys are INVALID_KEY', () => {
      const { privateKey } = suites[0]!.signature.generateKeyPair();
      const tooLong = concat(privateKey, new Uint8Array(1));
      for (const s of suites) {
        throwsCode(() => s.signature.sign(tooLong, message), 'INVALID_KEY');
        throwsCode(() => s.signature.publicKey(tooLong), 'INVALID_KEY');
        throwsCode(() => s.signature.publicKey(new Uint8Array(0)), 'INVALID_KEY');
        if (
          s.signature.scheme !== SignatureScheme.ED25519 &&
          s.signature.scheme !== SignatureScheme.ED448
        ) {
          // ECDSA scalars must be in [1, n-1].
          throwsCode(
            () => s.signature.sign(new Uint8Array(privateKey.length), message),
            'INVALID_KEY',
          );
          const tooBig = new Uint8Array(privateKey.length).fill(0xff);
          throwsCode(() => s.signature.sign(tooBig, message), 'INVALID_KEY');
        }
      }
    });

    test('AEAD: identical ciphertexts, round trip across providers', () => {
      const aead = suites[0]!.aead;
      const key = nodeCrypto.randomBytes(aead.keySize);
      const nonce = nodeCrypto.randomBytes(aead.nonceSize);
      const aad = utf8('header');
      for (const plaintext of [new Uint8Array(0), message, nodeCrypto.randomBytes(1500)]) {
        const sealed = suites.map((s) => toHex(s.aead.seal(key, nonce, aad, plaintext)));
        assert.equal(new Set(sealed).size, 1, 'ciphertexts differ');
        const ciphertext = fromHex(sealed[0]!);
        assert.equal(ciphertext.length, plaintext.length + aead.tagSize);
        for (const s of suites) {
          assert.equal(toHex(s.aead.open(key, nonce, aad, ciphertext)), toHex(plaintext));
        }
      }
    });

    test('AEAD: tampering is AEAD_FAILURE, bad sizes are INVALID_LENGTH', () => {
      const aead = suites[0]!.aead;
      const key = nodeCrypto.randomBytes(aead.keySize);
      const nonce = nodeCrypto.randomBytes(aead.nonceSize);
      const aad = utf8('header');
      const ciphertext = aead.seal(key, nonce, aad, message);
      for (const s of suites) {
        const open = (k: Uint8Array, n: Uint8Array, a: Uint8Array, c: Uint8Array) => () =>
          s.aead.open(k, n, a, c);
        throwsCode(
          open(key, nonce, aad, flipBit(ciphertext, ciphertext.length - 1)),
          'AEAD_FAILURE',
          'tag',
        );
        throwsCode(open(key, nonce, aad, flipBit(ciphertext, 0)), 'AEAD_FAILURE', 'body');
        throwsCode(open(key, nonce, utf8('Header'), ciphertext), 'AEAD_FAILURE', 'aad');
        throwsCode(open(key, flipBit(nonce, 3), aad, ciphertext), 'AEAD_FAILURE', 'nonce');
        throwsCode(open(flipBit(key, 5), nonce, aad, ciphertext), 'AEAD_FAILURE', 'key');
        throwsCode(open(key, nonce, aad, ciphertext.subarray(0, 15)), 'AEAD_FAILURE', 'short');
        throwsCode(open(key, nonce, aad, ciphertext.subarray(1)), 'AEAD_FAILURE', 'truncated');
        throwsCode(open(key.subarray(1), nonce, aad, ciphertext), 'INVALID_LENGTH', 'key size');
        throwsCode(open(key, nonce.subarray(1), aad, ciphertext), 'INVALID_LENGTH', 'nonce size');
        throwsCode(() => s.aead.seal(concat(key, key), nonce, aad, message), 'INVALID_LENGTH');
        throwsCode(() => s.aead.seal(key, concat(nonce, nonce), aad, message), 'INVALID_LENGTH');
        // AES-128 and AES-256 must not take each other's key sizes.
        throwsCode(() => s.aead.seal(new Uint8Array(24), nonce, aad, message), 'INVALID_LENGTH');
      }
    });

    test('KEM: encap on one provider, decap on the other', () => {
      for (const [a, b] of PAIRS) {
        const recipient = cipherSuite(id, b).kem.generateKeyPair();
        const { sharedSecret, enc } = cipherSuite(id, a).kem.encap(recipient.publicKey);
        const decapped = cipherSuite(id, b).kem.decap(enc, recipient.privateKey);
        assert.equal(toHex(decapped), toHex(sharedSecret), `${a.name} → ${b.name}`);
        assert.equal(
          toHex(cipherSuite(id, a).kem.publicKey(recipient.privateKey)),
          toHex(recipient.publicKey),
        );
      }
    });

    test('KEM: DeriveKeyPair and encap with a fixed ikmE agree across providers', () => {
      const ikm = utf8('input keying material of some length');
      const pairs = suites.map((s) => s.kem.deriveKeyPair(ikm));
      assert.equal(toHex(pairs[0]!.privateKey), toHex(pairs[1]!.privateKey));
      assert.equal(toHex(pairs[0]!.publicKey), toHex(pairs[1]!.publicKey));
      const encaps = suites.map((s) => s.kem.encap(pairs[0]!.publicKey, utf8('ephemeral ikm')));
      assert.equal(toHex(encaps[0]!.enc), toHex(encaps[1]!.enc));
      assert.equal(toHex(encaps[0]!.sharedSecret), toHex(encaps[1]!.sharedSecret));
    });

    test('KEM: malformed keys are INVALID_KEY', () => {
      const { privateKey, publicKey } = suites[0]!.kem.generateKeyPair();
      const { enc } = suites[0]!.kem.encap(publicKey);
      for (const s of suites) {
        throwsCode(() => s.kem.encap(publicKey.subarray(1)), 'INVALID_KEY', 'short pk');
        throwsCode(() => s.kem.decap(concat(enc, new Uint8Array(1)), privateKey), 'INVALID_KEY');
        const tooLong = concat(privateKey, new Uint8Array(1));
        throwsCode(() => s.kem.decap(enc, tooLong), 'INVALID_KEY', 'long sk');
        throwsCode(() => s.kem.publicKey(tooLong), 'INVALID_KEY', 'long sk');
        throwsCode(() => s.kem.publicKey(new Uint8Array(0)), 'INVALID_KEY', 'empty sk');
      }
    });

    test('HPKE: seal on one provider, open on the other', () => {
      const info = utf8('info');
      const aad = utf8('aad');
      for (const [a, b] of PAIRS) {
        const sender = cipherSuite(id, a);
        const receiver = cipherSuite(id, b);
        const { privateKey, publicKey } = receiver.kem.generateKeyPair();
        const { enc, ciphertext } = sealBase(sender, publicKey, info, aad, message);
        assert.equal(
          toHex(openBase(receiver, enc, privateKey, info, aad, ciphertext)),
          toHex(message),
        );
        throwsCode(
          () => openBase(receiver, enc, privateKey, utf8('other info'), aad, ciphertext),
          'AEAD_FAILURE',
        );
      }
    });
  });
}

describe('KEM input validation (RFC 9180 §7.1.4)', () => {
  for (const provider of PROVIDERS) {
    test(`${provider.name}: X25519/X448 low-order public keys are refused`, () => {
      for (const kemId of [KemId.DHKEM_X25519, KemId.DHKEM_X448]) {
        const kem = provider.kem(kemId);
        const { privateKey } = kem.generateKeyPair();
        const zero = new Uint8Array(kem.publicKeySize);
        const one = flipBit(zero, 0); // u = 1, of small order on both curves
        for (const bad of [zero, one]) {
          throwsCode(() => kem.encap(bad), 'KEM_FAILURE', `encap ${kemId} ${toHex(bad)}`);
          throwsCode(() => kem.decap(bad, privateKey), 'KEM_FAILURE', `decap ${kemId}`);
        }
      }
    });

    test(`${provider.name}: invalid NIST points are refused`, () => {
      for (const kemId of [KemId.DHKEM_P256, KemId.DHKEM_P384, KemId.DHKEM_P521]) {
        const kem = provider.kem(kemId);
        const { privateKey, publicKey } = kem.generateKeyPair();
        const offCurve = flipBit(publicKey, publicKey.length - 1);
        const hybrid = Uint8Array.from(publicKey);
        hybrid[0] = 0x06 | (publicKey[publicKey.length - 1]! & 1);
        const compressedLength = Uint8Array.of(
          0x02 | (publicKey[publicKey.length - 1]! & 1),
          ...publicKey.subarray(1, 1 + kem.privateKeySize),
        );
        const bad = [offCurve, hybrid, compressedLength, new Uint8Array(kem.publicKeySize)];
        for (const pk of bad) {
          throwsCode(() => kem.encap(pk), 'INVALID_KEY', `encap ${kemId} ${toHex(pk)}`);
          throwsCode(() => kem.decap(pk, privateKey), 'INVALID_KEY', `decap ${kemId}`);
        }
        // Private keys are scalars in [1, n-1].
        const { enc } = kem.encap(publicKey);
        throwsCode(() => kem.decap(enc, new Uint8Array(kem.privateKeySize)), 'INVALID_KEY');
        throwsCode(
          () => kem.decap(enc, new Uint8Array(kem.privateKeySize).fill(0xff)),
          'INVALID_KEY',
        );
        throwsCode(() => kem.publicKey(new Uint8Array(kem.privateKeySize)), 'INVALID_KEY');
      }
    });
  }
});

describe('NIST private keys written without leading zero bytes', () => {
  // Such keys appear in the official interop vectors (65-byte P-521 scalars).
  for (const provider of PROVIDERS) {
    test(`${provider.name}: a stripped scalar is the same key`, () => {
      const suite = cipherSuite(0x0005, provider);
      const padded = new Uint8Array(66);
      padded.set(suite.provider.randomBytes(65), 1);
      const stripped = padded.subarray(1);
      assert.equal(toHex(suite.kem.publicKey(stripped)), toHex(suite.kem.publicKey(padded)));
      const signer = suite.signature;
      assert.equal(toHex(signer.publicKey(stripped)), toHex(signer.publicKey(padded)));
      const sig = signer.sign(stripped, utf8('m'));
      assert.ok(signer.verify(signer.publicKey(padded), utf8('m'), sig));
    });
  }
});

describe('hashes and HKDF', () => {
  const ids = [KdfId.HKDF_SHA256, KdfId.HKDF_SHA384, KdfId.HKDF_SHA512];

  test('hash, HMAC, extract and expand agree across providers', () => {
    for (const id of ids) {
      const data = nodeCrypto.randomBytes(300);
      const key = nodeCrypto.randomBytes(20);
      const outputs = PROVIDERS.map((p) => {
        const h = p.hash(id);
        const k = p.kdf(id);
        const prk = k.extract(key, data);
        return [
          h.digest(data),
          h.mac(key, data),
          h.mac(new Uint8Array(200), data), // key longer than the block size
          prk,
          k.extract(new Uint8Array(0), data),
          k.expand(prk, data, 0),
          k.expand(prk, data, k.size),
          k.expand(prk, data, 3 * k.size + 5),
          k.expand(prk, new Uint8Array(0), 255 * k.size),
          k.expand(prk.subarray(0, 5), data, 40), // a PRK shorter than HashLen
        ].map(toHex);
      });
      assert.deepEqual(outputs[0], outputs[1]);
    }
  });

  test('known answer: RFC 5869 test case 1 (HKDF-SHA256)', () => {
    for (const p of PROVIDERS) {
      const kdf = p.kdf(KdfId.HKDF_SHA256);
      const prk = kdf.extract(fromHex('000102030405060708090a0b0c'), new Uint8Array(22).fill(0x0b));
      assert.equal(toHex(prk), '077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5');
      assert.equal(
        toHex(kdf.expand(prk, fromHex('f0f1f2f3f4f5f6f7f8f9'), 42)),
        '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
      );
    }
  });

  test('expand beyond 255 * Nh, or with a bad length, is INVALID_LENGTH', () => {
    for (const p of PROVIDERS) {
      for (const id of ids) {
        const kdf = p.kdf(id);
        const prk = new Uint8Array(kdf.size);
        throwsCode(() => kdf.expand(prk, new Uint8Array(0), 255 * kdf.size + 1), 'INVALID_LENGTH');
        throwsCode(() => kdf.expand(prk, new Uint8Array(0), -1), 'INVALID_LENGTH');
        throwsCode(() => kdf.expand(prk, new Uint8Array(0), 1.5), 'INVALID_LENGTH');
      }
      const suite = cipherSuite(1, p);
      throwsCode(
        () => expandWithLabel(suite, new Uint8Array(32), 'x', new Uint8Array(0), 0x10000),
        'INVALID_LENGTH',
      );
    }
  });
});

describe('unsupported algorithms', () => {
  for (const p of PROVIDERS) {
    test(`${p.name}: unknown ids are UNSUPPORTED_CIPHER_SUITE`, () => {
      throwsCode(() => p.kdf(0x0004 as KdfId), 'UNSUPPORTED_CIPHER_SUITE');
      throwsCode(() => p.hash(0 as KdfId), 'UNSUPPORTED_CIPHER_SUITE');
      throwsCode(() => p.aead(0xffff as AeadId), 'UNSUPPORTED_CIPHER_SUITE');
      throwsCode(() => p.kem(0x0030 as KemId), 'UNSUPPORTED_CIPHER_SUITE');
      throwsCode(() => p.signature(0x0804 as SignatureScheme), 'UNSUPPORTED_CIPHER_SUITE');
    });
  }
});

describe('HPKE contexts', () => {
  test('a failed open does not advance the sequence number', () => {
    const suite = cipherSuite(1, nodeCrypto);
    const { privateKey, publicKey } = suite.kem.generateKeyPair();
    const { enc, context: sender } = setupBaseS(suite, publicKey, utf8('info'));
    const receiver = setupBaseR(cipherSuite(1, portableCrypto), enc, privateKey, utf8('info'));
    const first = sender.seal(utf8('a'), utf8('one'));
    const second = sender.seal(utf8('a'), utf8('two'));
    throwsCode(() => receiver.open(utf8('a'), second), 'AEAD_FAILURE');
    assert.equal(receiver.sequence, 0);
    assert.equal(toHex(receiver.open(utf8('a'), first)), toHex(utf8('one')));
    assert.equal(toHex(receiver.open(utf8('a'), second)), toHex(utf8('two')));
    assert.equal(toHex(sender.export(utf8('x'), 17)), toHex(receiver.export(utf8('x'), 17)));
  });
});

// -------------------------------------------------------------------------------------------------
// Adversarial signatures: the cases where libraries commonly differ. Both providers must give the
// same verdict on each (which, for `nodeCrypto`, is OpenSSL's).

function littleEndian(n: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++, n >>= 8n) out[i] = Number(n & 0xffn);
  return out;
}
function fromLittleEndian(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

interface EdCase {
  name: string;
  publicKey: Uint8Array;
  signature: Uint8Array;
}

/** Signatures with torsion in R or A, small-order keys and non-canonical encodings. */
function edwardsCases(
  curve: typeof ed25519 | typeof ed448,
  torsion: readonly string[],
  challenge: (r: Uint8Array, a: Uint8Array) => bigint,
  size: number,
): EdCase[] {
  const { Point } = curve;
  const L = Point.Fn.ORDER;
  const B = Point.BASE;
  const a = 0x1234567890abcdefn;
  const nonce = 0xfedcba0987654321n;
  const honestA = B.multiply(a);
  const cases: EdCase[] = [];
  const sign = (name: string, R: typeof honestA, A: Uint8Array, secret: bigint) => {
    const r = R.toBytes();
    const s = (nonce + challenge(r, A) * secret) % L;
    cases.push({ name, publicKey: A, signature: concat(r, littleEndian(s, size)) });
  };
  sign('honest', B.multiply(nonce), honestA.toBytes(), a);
  for (const [i, t] of torsion.entries()) {
    const T = Point.fromHex(t);
    sign(`R with torsion ${i}`, B.multiply(nonce).add(T), honestA.toBytes(), a);
    sign(`A with torsion ${i}`, B.multiply(nonce), honestA.add(T).toBytes(), a);
    // A of small order: [S]B = R whatever the message.
    const five = B.multiply(5n).toBytes();
    cases.push({
      name: `small-order A ${i}`,
      publicKey: T.toBytes(),
      signature: concat(five, littleEndian(5n, size)),
    });
    // R of small order with S = k·a.
    const tr = T.toBytes();
    const k = challenge(tr, honestA.toBytes());
    cases.push({
      name: `small-order R ${i}`,
      publicKey: honestA.toBytes(),
      signature: concat(tr, littleEndian((k * a) % L, size)),
    });
  }
  // S + L: the same signature with an unreduced scalar.
  const honest = cases[0]!;
  const s = fromLittleEndian(honest.signature.subarray(size));
  cases.push({
    name: 'S + L',
    publicKey: honest.publicKey,
    signature: concat(honest.signature.subarray(0, size), littleEndian(s + L, size)),
  });
  // Non-canonical encodings of the identity (y = p + 1) and of "-0" (x = 0 with the sign bit).
  const p = Point.Fp.ORDER;
  const five = concat(B.multiply(5n).toBytes(), littleEndian(5n, size));
  const minusZero = littleEndian(1n, size);
  minusZero[size - 1]! |= 0x80;
  cases.push({
    name: 'A = identity, y unreduced',
    publicKey: littleEndian(p + 1n, size),
    signature: five,
  });
  cases.push({ name: 'A = -0', publicKey: minusZero, signature: five });
  const zeroS = concat(littleEndian(p + 1n, size), littleEndian(0n, size));
  cases.push({
    name: 'R = identity, y unreduced',
    publicKey: littleEndian(1n, size),
    signature: zeroS,
  });
  return cases;
}

describe('adversarial EdDSA signatures: providers agree', () => {
  const m = utf8('hello');
  const ed25519Cases = edwardsCases(
    ed25519,
    ED25519_TORSION_SUBGROUP,
    (r, a) => fromLittleEndian(sha512(concat(r, a, m))) % ed25519.Point.Fn.ORDER,
    32,
  );
  const dom4 = concat(utf8('SigEd448'), Uint8Array.of(0, 0));
  const ed448Cases = edwardsCases(
    ed448,
    ED448_TORSION_SUBGROUP,
    (r, a) =>
      fromLittleEndian(shake256(concat(dom4, r, a, m), { dkLen: 114 })) % ed448.Point.Fn.ORDER,
    57,
  );
  for (const [scheme, cases] of [
    [SignatureScheme.ED25519, ed25519Cases],
    [SignatureScheme.ED448, ed448Cases],
  ] as const) {
    test(`${scheme === SignatureScheme.ED25519 ? 'Ed25519' : 'Ed448'}: ${cases.length} cases`, () => {
      const verdicts = cases.map((c) =>
        PROVIDERS.map((p) => p.signature(scheme).verify(c.publicKey, m, c.signature)),
      );
      for (const [i, c] of cases.entries()) {
        assert.equal(verdicts[i]![1], verdicts[i]![0], `${c.name}: node says ${verdicts[i]![0]}`);
      }
      assert.ok(verdicts[0]![0], 'the honest signature verifies');
      // The set includes both outcomes, so agreement is not vacuous.
      assert.ok(verdicts.some((v) => !v[0]));
      assert.ok(verdicts.filter((v) => v[0]).length > 1);
    });
  }
});

describe('adversarial ECDSA signatures: providers agree', () => {
  function derInteger(n: bigint, options: { pad?: boolean; extraZero?: boolean } = {}): Uint8Array {
    let hex = n.toString(16);
    if (hex.length % 2) hex = '0' + hex;
    let body = fromHex(hex);
    if (options.pad !== false && body[0]! & 0x80) body = concat(Uint8Array.of(0), body);
    if (options.extraZero) body = concat(Uint8Array.of(0), body);
    return concat(Uint8Array.of(0x02, body.length), body);
  }
  function derSequence(body: Uint8Array, longForm = false): Uint8Array {
    return longForm || body.length > 127
      ? concat(Uint8Array.of(0x30, 0x81, body.length), body)
      : concat(Uint8Array.of(0x30, body.length), body);
  }
  function parse(der: Uint8Array): [bigint, bigint] {
    let offset = der[1] === 0x81 ? 3 : 2;
    const read = () => {
      const length = der[offset + 1]!;
      const value = BigInt('0x' + toHex(der.subarray(offset + 2, offset + 2 + length)));
      offset += 2 + length;
      return value;
    };
    return [read(), read()];
  }

  const orders = {
    [SignatureScheme.ECDSA_SECP256R1_SHA256]:
      0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
    [SignatureScheme.ECDSA_SECP384R1_SHA384]:
      0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    [SignatureScheme.ECDSA_SECP521R1_SHA512]:
      0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
  };
  for (const [schemeText, n] of Object.entries(orders)) {
    const scheme = Number(schemeText) as SignatureScheme;
    test(`scheme 0x${scheme.toString(16)}`, () => {
      for (const signer of PROVIDERS) {
        const sig = signer.signature(scheme);
        const { privateKey, publicKey } = sig.generateKeyPair();
        const [r, s] = parse(sig.sign(privateKey, message));
        // r with the top bit of its full-width encoding set and no 0x00 pad: a negative INTEGER.
        const negativeR = r | (1n << BigInt(8 * Math.ceil(n.toString(16).length / 2) - 1));
        const cases: [string, Uint8Array, boolean | undefined][] = [
          ['as signed', derSequence(concat(derInteger(r), derInteger(s))), true],
          ['high S', derSequence(concat(derInteger(r), derInteger(n - s))), true],
          [
            'r with a needless zero',
            derSequence(concat(derInteger(r, { extraZero: true }), derInteger(s))),
            false,
          ],
          ['long-form length', derSequence(concat(derInteger(r), derInteger(s)), true), undefined],
          [
            'trailing byte',
            concat(derSequence(concat(derInteger(r), derInteger(s))), Uint8Array.of(0)),
            false,
          ],
          ['r + n', derSequence(concat(derInteger(r + n), derInteger(s))), false],
          ['r = 0', derSequence(concat(derInteger(0n), derInteger(s))), false],
          ['s = 0', derSequence(concat(derInteger(r), derInteger(0n))), false],
          [
            'r negative',
            derSequence(concat(derInteger(negativeR, { pad: false }), derInteger(s))),
            false,
          ],
        ];
        for (const [name, der, expected] of cases) {
          const verdicts = PROVIDERS.map((p) =>
            p.signature(scheme).verify(publicKey, message, der),
          );
          assert.equal(
            verdicts[1],
            verdicts[0],
            `${signer.name} ${name}: node says ${verdicts[0]}`,
          );
          if (expected !== undefined) assert.equal(verdicts[0], expected, `${signer.name} ${name}`);
        }
      }
    });
  }
});
