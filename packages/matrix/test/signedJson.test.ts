/**
 * Signed JSON against the appendix: the "Cryptographic Test Vectors" (a fixed seed, server
 * "domain", key "ed25519:1", two signed objects) and the signed example of "Signing Details";
 * against libolm's Ed25519 (@matrix-org/olm, PkSigning and Utility.ed25519_verify, as
 * matrix-js-sdk shipped it); and every way a check must fail.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import Olm from '@matrix-org/olm';
import { decodeBase64, encodeUnpaddedBase64 } from '../src/base64.js';
import { canonicalJson } from '../src/canonicalJson.js';
import { ed25519KeyPairFromSeed, generateEd25519KeyPair } from '../src/ed25519.js';
import { signJson, signedBytes, verifyJsonSignature } from '../src/signedJson.js';
import { expectMatrixError } from './support.js';

const SEED_TEXT = 'YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1';
// The appendix's seed text is not canonical base64: its last character carries bits past the
// 32 bytes (RFC 4648 §3.5), which decodeBase64 refuses for received data; Node's lenient decoder
// reads the 32 bytes the vector means.
const SIGNING_KEY_SEED = new Uint8Array(Buffer.from(SEED_TEXT, 'base64'));
const SERVER_NAME = 'domain';
const KEY_ID = '1'; // "ed25519:1" is the signing key identifier
const key = ed25519KeyPairFromSeed(SIGNING_KEY_SEED);

const EMPTY_SIGNED = {
  signatures: {
    domain: {
      'ed25519:1':
        'K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ',
    },
  },
};
const ONE_TWO_SIGNED = {
  one: 1,
  signatures: {
    domain: {
      'ed25519:1':
        'KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw',
    },
  },
  two: 'Two',
};
/** The example of "Signing Details": example.org's key is in the object it signed. */
const SIGNING_DETAILS_EXAMPLE = {
  name: 'example.org',
  signing_keys: { 'ed25519:1': 'XSl0kuyvrXNj6A+7/tkrB9sxSbRi08Of5uRhxOqZtEQ' },
  unsigned: { age_ts: 922834800000 },
  signatures: {
    'example.org': {
      'ed25519:1':
        's76RUgajp8w172am0zQb/iPTHsRnb4SkrzGoeCOSFfcBY2V/1c8QfrmdXHpvnc2jK5BD1WiJIxiMW95fMjK7Bw',
    },
  },
};

describe('signed JSON: the appendix test vectors', () => {
  test('the seed is 32 bytes; the strict decoder refuses its text', () => {
    assert.equal(SIGNING_KEY_SEED.length, 32);
    expectMatrixError(() => decodeBase64(SEED_TEXT, 'seed'), 'INVALID_BASE64');
  });

  test('signing {} gives the expected signed data', () => {
    assert.deepEqual(signJson({}, SERVER_NAME, KEY_ID, key), EMPTY_SIGNED);
    verifyJsonSignature(EMPTY_SIGNED, SERVER_NAME, KEY_ID, key.publicKey);
  });

  test('signing {"one": 1, "two": "Two"} gives the expected signed JSON', () => {
    const signed = signJson({ one: 1, two: 'Two' }, SERVER_NAME, KEY_ID, key);
    assert.equal(canonicalJson(signed), canonicalJson(ONE_TWO_SIGNED));
    verifyJsonSignature(ONE_TWO_SIGNED, SERVER_NAME, KEY_ID, key.publicKey);
  });

  test('the "Signing Details" example is illustrative only: its signature does not verify', () => {
    // libolm's ed25519_verify refuses it too (see below): the spec's text made it up.
    const publicKey = decodeBase64(SIGNING_DETAILS_EXAMPLE.signing_keys['ed25519:1'], 'key');
    expectMatrixError(
      () => verifyJsonSignature(SIGNING_DETAILS_EXAMPLE, 'example.org', '1', publicKey),
      'BAD_SIGNATURE',
    );
  });

  test('signatures and unsigned are not covered; other signatures are kept', () => {
    const withExtras = {
      ...ONE_TWO_SIGNED,
      unsigned: { age_ts: 5 },
      signatures: { ...ONE_TWO_SIGNED.signatures, other: { 'ed25519:x': 'AAAA' } },
    };
    verifyJsonSignature(withExtras, SERVER_NAME, KEY_ID, key.publicKey);
    const resigned = signJson(withExtras, 'third', 'k', key);
    assert.deepEqual(resigned.signatures.other, { 'ed25519:x': 'AAAA' });
    assert.deepEqual(resigned.signatures.domain, ONE_TWO_SIGNED.signatures.domain);
    assert.deepEqual(resigned.unsigned, { age_ts: 5 });
    assert.equal(new TextDecoder().decode(signedBytes(withExtras)), '{"one":1,"two":"Two"}');
  });
});

describe('signed JSON against libolm', () => {
  before(async () => {
    await Olm.init();
  });

  test("libolm's PkSigning from the same seed makes the same key and signatures", () => {
    const olm = new Olm.PkSigning();
    try {
      assert.equal(olm.init_with_seed(SIGNING_KEY_SEED), encodeUnpaddedBase64(key.publicKey));
      const object = { user_id: '@a:b', keys: { 'ed25519:X': 'y' }, n: 7, s: '日本' };
      const signed = signJson(object, '@a:b', 'X', key);
      assert.equal(olm.sign(canonicalJson(object)), signed.signatures['@a:b']!['ed25519:X']);
    } finally {
      olm.free();
    }
  });

  test('libolm refuses the illustrative "Signing Details" signature as well', () => {
    const utility = new Olm.Utility();
    try {
      const { signatures, unsigned: _unsigned, ...covered } = SIGNING_DETAILS_EXAMPLE;
      assert.throws(() =>
        utility.ed25519_verify(
          SIGNING_DETAILS_EXAMPLE.signing_keys['ed25519:1'],
          canonicalJson(covered),
          signatures['example.org']['ed25519:1'],
        ),
      );
    } finally {
      utility.free();
    }
  });

  test('libolm verifies signatures of fresh keys made here', () => {
    const utility = new Olm.Utility();
    try {
      for (let i = 0; i < 5; i++) {
        const fresh = generateEd25519KeyPair();
        const object = { i, text: 'x'.repeat(i * 50) };
        const signed = signJson(object, 'e', 'k', fresh);
        // ed25519_verify throws when the signature is bad.
        utility.ed25519_verify(
          encodeUnpaddedBase64(fresh.publicKey),
          canonicalJson(object),
          signed.signatures.e!['ed25519:k']!,
        );
      }
    } finally {
      utility.free();
    }
  });
});

describe('signed JSON: refusals', () => {
  test('a tampered field', () => {
    expectMatrixError(
      () =>
        verifyJsonSignature(
          { ...ONE_TWO_SIGNED, two: 'Three' },
          SERVER_NAME,
          KEY_ID,
          key.publicKey,
        ),
      'BAD_SIGNATURE',
    );
    expectMatrixError(
      () =>
        verifyJsonSignature({ ...ONE_TWO_SIGNED, three: 3 }, SERVER_NAME, KEY_ID, key.publicKey),
      'BAD_SIGNATURE',
    );
  });

  test('the wrong key', () => {
    expectMatrixError(
      () =>
        verifyJsonSignature(
          ONE_TWO_SIGNED,
          SERVER_NAME,
          KEY_ID,
          generateEd25519KeyPair().publicKey,
        ),
      'BAD_SIGNATURE',
    );
  });

  test('a missing signature: no entity, or no such key identifier', () => {
    expectMatrixError(
      () => verifyJsonSignature({ one: 1 }, SERVER_NAME, KEY_ID, key.publicKey),
      'SIGNATURE_MISSING',
    );
    expectMatrixError(
      () => verifyJsonSignature(ONE_TWO_SIGNED, 'other', KEY_ID, key.publicKey),
      'SIGNATURE_MISSING',
    );
    expectMatrixError(
      () => verifyJsonSignature(ONE_TWO_SIGNED, SERVER_NAME, '2', key.publicKey),
      'SIGNATURE_MISSING',
    );
  });

  test('malformed base64 and a signature of the wrong size', () => {
    const withSignature = (signature: string) => ({
      ...ONE_TWO_SIGNED,
      signatures: { domain: { 'ed25519:1': signature } },
    });
    const good = ONE_TWO_SIGNED.signatures.domain['ed25519:1'];
    expectMatrixError(
      () => verifyJsonSignature(withSignature(`${good}!`), SERVER_NAME, KEY_ID, key.publicKey),
      'SIGNATURE_MALFORMED',
    );
    expectMatrixError(
      () =>
        verifyJsonSignature(
          withSignature(`${good.slice(0, -1)}x`),
          SERVER_NAME,
          KEY_ID,
          key.publicKey,
        ),
      'SIGNATURE_MALFORMED',
    );
    expectMatrixError(
      () =>
        verifyJsonSignature(withSignature(good.slice(0, 40)), SERVER_NAME, KEY_ID, key.publicKey),
      'SIGNATURE_MALFORMED',
    );
    // Padded base64 is accepted, as the appendix asks.
    verifyJsonSignature(withSignature(`${good}==`), SERVER_NAME, KEY_ID, key.publicKey);
  });

  test('malformed signatures maps, non-objects and bad keys', () => {
    expectMatrixError(
      () => verifyJsonSignature({ signatures: [] }, SERVER_NAME, KEY_ID, key.publicKey),
      'MALFORMED_SIGNED_JSON',
    );
    expectMatrixError(
      () =>
        verifyJsonSignature({ signatures: { domain: 'x' } }, SERVER_NAME, KEY_ID, key.publicKey),
      'MALFORMED_SIGNED_JSON',
    );
    expectMatrixError(
      () =>
        verifyJsonSignature(
          { signatures: { domain: { 'ed25519:1': 5 } } },
          SERVER_NAME,
          KEY_ID,
          key.publicKey,
        ),
      'MALFORMED_SIGNED_JSON',
    );
    expectMatrixError(
      () => verifyJsonSignature('{}', SERVER_NAME, KEY_ID, key.publicKey),
      'MALFORMED_SIGNED_JSON',
    );
    expectMatrixError(
      () => verifyJsonSignature(ONE_TWO_SIGNED, SERVER_NAME, KEY_ID, new Uint8Array(31)),
      'INVALID_KEY',
    );
    expectMatrixError(
      () => verifyJsonSignature({ ...ONE_TWO_SIGNED, f: 0.5 }, SERVER_NAME, KEY_ID, key.publicKey),
      'JSON_NOT_INTEGER',
    );
    expectMatrixError(() => ed25519KeyPairFromSeed(new Uint8Array(16)), 'INVALID_KEY');
  });
});
