/**
 * The node provider's key caches: bounded for public keys, tied to the owning array for private
 * keys, and invisible in results: a cached key verifies and signs exactly as a fresh import does,
 * and bad keys are refused the same way every time.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PrivateKeyCache, PublicKeyCache } from '../src/crypto/keyCache.js';
import { nodeCrypto } from '../src/crypto/node.js';
import { portableCrypto } from '../src/crypto/portable.js';
import { SignatureScheme } from '../src/crypto/provider.js';
import { MlsError } from '../src/errors.js';
import { utf8 } from '../src/util/bytes.js';

/** A loader that records which byte strings it was asked for. */
function recordingLoader(fail?: (bytes: Uint8Array) => boolean) {
  const loads: string[] = [];
  const load = (bytes: Uint8Array) => {
    const hex = Buffer.from(bytes).toString('hex');
    loads.push(hex);
    if (fail?.(bytes)) throw new Error(`cannot load ${hex}`);
    return { hex };
  };
  return { loads, load };
}

const key = (...bytes: number[]) => new Uint8Array(bytes);

describe('PublicKeyCache', () => {
  test('loads each byte string once, whichever array carries it', () => {
    const { loads, load } = recordingLoader();
    const cache = new PublicKeyCache(8, load);
    const first = cache.get(key(1, 2, 3));
    const again = cache.get(key(1, 2, 3));
    const viaView = cache.get(new Uint8Array([9, 1, 2, 3, 9]).subarray(1, 4));
    assert.equal(again, first);
    assert.equal(viaView, first);
    assert.deepEqual(loads, ['010203']);
  });

  test('stays within its capacity and evicts the least recently used key', () => {
    const { loads, load } = recordingLoader();
    const cache = new PublicKeyCache(3, load);
    cache.get(key(1));
    cache.get(key(2));
    cache.get(key(3));
    cache.get(key(1)); // now 2 is the least recently used
    cache.get(key(4));
    assert.equal(cache.size, 3);
    cache.get(key(1));
    cache.get(key(3));
    cache.get(key(4));
    assert.deepEqual(loads, ['01', '02', '03', '04'], 'keys 1, 3 and 4 were kept');
    cache.get(key(2));
    assert.deepEqual(loads, ['01', '02', '03', '04', '02'], 'key 2 was evicted');
    for (let i = 0; i < 100; i++) cache.get(key(i, i));
    assert.equal(cache.size, 3);
  });

  test('a failed load is not cached: the next request tries again and fails again', () => {
    const { loads, load } = recordingLoader((bytes) => bytes[0] === 0xff);
    const cache = new PublicKeyCache(4, load);
    assert.throws(() => cache.get(key(0xff)), /cannot load ff/);
    assert.throws(() => cache.get(key(0xff)), /cannot load ff/);
    assert.equal(cache.size, 0);
    assert.deepEqual(loads, ['ff', 'ff']);
  });

  test('refuses a capacity that is not a positive integer', () => {
    assert.throws(() => new PublicKeyCache(0, (b) => b), RangeError);
    assert.throws(() => new PublicKeyCache(1.5, (b) => b), RangeError);
  });
});

describe('PrivateKeyCache', () => {
  test('an entry belongs to one array: an equal copy is imported on its own', () => {
    const { loads, load } = recordingLoader();
    const cache = new PrivateKeyCache(load);
    const owned = key(7, 7);
    const first = cache.get(owned);
    assert.equal(cache.get(owned), first);
    assert.notEqual(cache.get(owned.slice()), first);
    assert.deepEqual(loads, ['0707', '0707']);
  });

  test('an array overwritten in place is imported again, never served the old key', () => {
    const { loads, load } = recordingLoader((bytes) => bytes[0] === 0);
    const cache = new PrivateKeyCache(load);
    const owned = key(1, 2);
    assert.deepEqual(cache.get(owned), { hex: '0102' });
    owned.set([3, 4]);
    assert.deepEqual(cache.get(owned), { hex: '0304' });
    owned.fill(0); // wiped: the import fails, and the stale entry is gone with it
    assert.throws(() => cache.get(owned), /cannot load 0000/);
    owned.set([3, 4]);
    assert.deepEqual(cache.get(owned), { hex: '0304' });
    assert.deepEqual(loads, ['0102', '0304', '0000', '0304']);
  });
});

const SCHEMES = [
  SignatureScheme.ED25519,
  SignatureScheme.ED448,
  SignatureScheme.ECDSA_SECP256R1_SHA256,
  SignatureScheme.ECDSA_SECP384R1_SHA384,
  SignatureScheme.ECDSA_SECP521R1_SHA512,
];

describe('node provider signatures through its caches', () => {
  for (const scheme of SCHEMES) {
    const name = `scheme 0x${scheme.toString(16)}`;
    const cached = nodeCrypto.signature(scheme);
    const fresh = portableCrypto.signature(scheme); // imports nothing: a fresh key every call

    test(`${name}: a cached public key verifies exactly as a fresh one`, () => {
      const { privateKey, publicKey } = cached.generateKeyPair();
      const other = cached.generateKeyPair();
      for (let i = 0; i < 4; i++) {
        const message = utf8(`message ${i}`);
        const signature = cached.sign(privateKey, message);
        const tampered = Uint8Array.from(signature);
        tampered[tampered.length >> 1]! ^= 1;
        for (const [pk, sig, expected] of [
          [publicKey, signature, true],
          [publicKey, tampered, false],
          [other.publicKey, signature, false],
          [Uint8Array.from(publicKey), signature, true],
        ] as const) {
          assert.equal(cached.verify(pk, message, sig), expected, `${name} round ${i}`);
          assert.equal(fresh.verify(pk, message, sig), expected, `${name} round ${i}, portable`);
        }
      }
    });

    test(`${name}: a malformed public key is refused on every attempt`, () => {
      const { privateKey, publicKey } = cached.generateKeyPair();
      const message = utf8('m');
      const signature = cached.sign(privateKey, message);
      const bad = Uint8Array.from(publicKey);
      bad[bad.length - 1]! ^= 0x55; // off the curve for ECDSA; another point or none for EdDSA
      for (let i = 0; i < 3; i++) {
        assert.equal(cached.verify(bad, message, signature), false);
        assert.equal(cached.verify(publicKey.subarray(1), message, signature), false);
      }
      assert.equal(cached.verify(publicKey, message, signature), true);
    });

    test(`${name}: a private key array rewritten in place signs with its new key`, () => {
      const a = cached.generateKeyPair();
      const b = cached.generateKeyPair();
      const owned = Uint8Array.from(a.privateKey);
      const message = utf8('m');
      assert.ok(cached.verify(a.publicKey, message, cached.sign(owned, message)));
      owned.set(b.privateKey);
      const signature = cached.sign(owned, message);
      assert.ok(cached.verify(b.publicKey, message, signature));
      assert.equal(cached.verify(a.publicKey, message, signature), false);
      assert.deepEqual(cached.publicKey(owned), b.publicKey);
    });

    test(`${name}: a bad private key is INVALID_KEY every time, also where a good one was`, () => {
      const owned = Uint8Array.from(cached.generateKeyPair().privateKey);
      cached.sign(owned, utf8('m'));
      // Zero is no valid ECDSA scalar; EdDSA takes any seed, so its bad key has a wrong size.
      const isEcdsa = scheme !== SignatureScheme.ED25519 && scheme !== SignatureScheme.ED448;
      const bad = isEcdsa ? owned.fill(0) : owned.subarray(1);
      for (let i = 0; i < 2; i++) {
        assert.throws(
          () => cached.sign(bad, utf8('m')),
          (e: unknown) => e instanceof MlsError && e.code === 'INVALID_KEY',
        );
      }
    });
  }
});
