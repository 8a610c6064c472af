/**
 * SAS (m.sas.v1) against libolm's SAS (@matrix-org/olm, the C implementation matrix-js-sdk used
 * before its Rust crypto): the HKDF bytes for the spec's info string, the hkdf-hmac-sha256.v2
 * MAC, and the commitment (libolm's SHA-256 over the key and another-json's canonical JSON).
 * matrix-js-sdk 37 computes emoji and decimals only inside its Rust/WASM OlmMachine (see
 * lib/rust-crypto/verification.js: `this.inner.emoji()`), reachable only through a whole
 * to-device verification between two machines; so the bit slicing is checked against an
 * independent BigInt reading of the spec's words, fixed values, and the emoji table's own
 * code points.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, test } from 'node:test';
import Olm from '@matrix-org/olm';
import { stringify as anotherJson } from 'another-json';
import { encodeUnpaddedBase64 } from '../src/base64.js';
import {
  KEY_IDS,
  calculateMac,
  generateSasKeyPair,
  keyIdsMacInput,
  macInfo,
  sasBytes,
  sasCommitment,
  sasDecimals,
  sasEmoji,
  sasEmojiIndices,
  sasInfo,
  sasKeyPairFromPrivateKey,
  sasMacContent,
  sasSharedSecret,
  verifySasCommitment,
  verifySasMac,
  type MacParties,
  type SasParties,
} from '../src/sas.js';
import { SAS_EMOJI } from '../src/sasEmoji.js';
import { expectMatrixError, prng } from './support.js';

const PARTIES: SasParties = {
  startUserId: '@alice:example.org',
  startDeviceId: 'ALICEDEVICE',
  startPublicKey: 'alicekey',
  acceptUserId: '@bob:example.org',
  acceptDeviceId: 'BOBDEVICE',
  acceptPublicKey: 'bobkey',
  transactionId: 'txn1',
};

describe('SAS: info string and derivations', () => {
  test('the HKDF info is the spec concatenation with "|" after each part', () => {
    assert.equal(
      sasInfo(PARTIES),
      'MATRIX_KEY_VERIFICATION_SAS|@alice:example.org|ALICEDEVICE|alicekey|@bob:example.org|BOBDEVICE|bobkey|txn1',
    );
    expectMatrixError(() => sasInfo({ ...PARTIES, transactionId: '' }), 'SAS_INVALID_ARGUMENT');
  });

  test('the MAC info is the spec concatenation without separators', () => {
    const parties: MacParties = {
      senderUserId: '@alice:example.org',
      senderDeviceId: 'ALICEDEVICE',
      receiverUserId: '@bob:example.org',
      receiverDeviceId: 'BOBDEVICE',
      transactionId: 'txn1',
    };
    assert.equal(
      macInfo(parties, 'ed25519:ALICEDEVICE'),
      'MATRIX_KEY_VERIFICATION_MAC@alice:example.orgALICEDEVICE@bob:example.orgBOBDEVICEtxn1ed25519:ALICEDEVICE',
    );
    assert.equal(macInfo(parties, KEY_IDS).endsWith('txn1KEY_IDS'), true);
    assert.equal(
      keyIdsMacInput(['ed25519:DEVICEID', 'ed25519:Cross+Signing+Key']),
      'ed25519:Cross+Signing+Key,ed25519:DEVICEID',
    );
  });

  test('decimals and emoji of fixed bytes', () => {
    assert.deepEqual(sasDecimals(new Uint8Array(5)), [1000, 1000, 1000]);
    assert.deepEqual(sasDecimals(new Uint8Array(5).fill(0xff)), [9191, 9191, 9191]);
    assert.deepEqual(sasEmojiIndices(new Uint8Array(6)), [0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(sasEmojiIndices(new Uint8Array(6).fill(0xff)), [63, 63, 63, 63, 63, 63, 63]);
    // 0b000001_000010_000011_000100_000101_000110_000111_xxxxxx
    assert.deepEqual(
      sasEmojiIndices(Uint8Array.of(0x04, 0x20, 0xc4, 0x14, 0x61, 0xc0)),
      [1, 2, 3, 4, 5, 6, 7],
    );
    assert.deepEqual(
      sasEmoji(Uint8Array.of(0x04, 0x20, 0xc4, 0x14, 0x61, 0xc0)).map((e) => e.description),
      ['Cat', 'Lion', 'Horse', 'Unicorn', 'Pig', 'Elephant', 'Rabbit'],
    );
    expectMatrixError(() => sasDecimals(new Uint8Array(4)), 'SAS_INVALID_ARGUMENT');
    expectMatrixError(() => sasEmojiIndices(new Uint8Array(5)), 'SAS_INVALID_ARGUMENT');
  });

  test('decimals and emoji agree with a BigInt reading of the spec on 1000 random byte strings', () => {
    const next = prng(3);
    for (let n = 0; n < 1000; n++) {
      const bytes = Uint8Array.from({ length: 6 }, () => Math.floor(next() * 256));
      const bits = BigInt(`0x${Buffer.from(bytes).toString('hex')}`); // 48 bits
      /** Group `index` of `width` bits, counted from the top of a `total`-bit number. */
      const group = (value: bigint, total: number, width: number, index: number) =>
        Number((value >> BigInt(total - width * (index + 1))) & ((1n << BigInt(width)) - 1n));
      assert.deepEqual(
        sasEmojiIndices(bytes),
        [0, 1, 2, 3, 4, 5, 6].map((i) => group(bits, 48, 6, i)),
      );
      // The decimal method reads 5 bytes (40 bits): three 13-bit groups, the last bit unused.
      assert.deepEqual(
        sasDecimals(bytes.subarray(0, 5)),
        [0, 1, 2].map((i) => group(bits >> 8n, 40, 13, i) + 1000),
      );
    }
  });

  test('the emoji table: 64 entries in order, each emoji the code points of its unicode field', () => {
    assert.equal(SAS_EMOJI.length, 64);
    SAS_EMOJI.forEach((entry, i) => {
      assert.equal(entry.number, i);
      const codePoints = entry.unicode
        .split('U+')
        .slice(1)
        .map((hex) => Number.parseInt(hex, 16));
      assert.equal(entry.emoji, String.fromCodePoint(...codePoints), entry.description);
    });
    assert.equal(new Set(SAS_EMOJI.map((e) => e.emoji)).size, 64);
    assert.deepEqual(
      [SAS_EMOJI[0]!.description, SAS_EMOJI[21]!.description, SAS_EMOJI[63]!.description],
      ['Dog', 'Cloud', 'Pin'],
    );
  });
});

describe('SAS against libolm', () => {
  before(async () => {
    await Olm.init();
  });

  test("the SAS bytes and v2 MACs are libolm's for the same key exchange", () => {
    for (let round = 0; round < 5; round++) {
      const olm = new Olm.SAS();
      try {
        const ours = generateSasKeyPair();
        olm.set_their_key(ours.publicKey);
        const shared = sasSharedSecret(ours, olm.get_pubkey());
        const info = sasInfo({
          ...PARTIES,
          startPublicKey: ours.publicKey,
          acceptPublicKey: olm.get_pubkey(),
        });
        assert.deepEqual(sasBytes(shared, info, 6), olm.generate_bytes(info, 6));
        assert.deepEqual(sasBytes(shared, info, 5), olm.generate_bytes(info, 5));
        const macParties: MacParties = {
          senderUserId: PARTIES.startUserId,
          senderDeviceId: PARTIES.startDeviceId,
          receiverUserId: PARTIES.acceptUserId,
          receiverDeviceId: PARTIES.acceptDeviceId,
          transactionId: `txn${round}`,
        };
        const key = encodeUnpaddedBase64(randomBytes(32));
        const keyInfo = macInfo(macParties, 'ed25519:ALICEDEVICE');
        assert.equal(
          calculateMac(shared, key, keyInfo),
          olm.calculate_mac_fixed_base64(key, keyInfo),
        );
        const list = keyIdsMacInput(['ed25519:ALICEDEVICE', `ed25519:${key}`]);
        const listInfo = macInfo(macParties, KEY_IDS);
        assert.equal(
          calculateMac(shared, list, listInfo),
          olm.calculate_mac_fixed_base64(list, listInfo),
        );
      } finally {
        olm.free();
      }
    }
  });

  test("the commitment is libolm's SHA-256 of the key and another-json's canonical start", () => {
    const utility = new Olm.Utility();
    try {
      const start = {
        from_device: 'ALICEDEVICE',
        method: 'm.sas.v1',
        key_agreement_protocols: ['curve25519-hkdf-sha256'],
        hashes: ['sha256'],
        message_authentication_codes: ['hkdf-hmac-sha256.v2'],
        short_authentication_string: ['decimal', 'emoji'],
        transaction_id: 'txn1',
      };
      const key = generateSasKeyPair().publicKey;
      assert.equal(sasCommitment(key, start), utility.sha256(key + anotherJson(start)));
    } finally {
      utility.free();
    }
  });
});

describe('SAS: two devices of this package', () => {
  test('same SAS both sides; MACs verify; tampering is refused', () => {
    const alice = generateSasKeyPair();
    const bob = generateSasKeyPair();
    const parties = { ...PARTIES, startPublicKey: alice.publicKey, acceptPublicKey: bob.publicKey };
    const start = { method: 'm.sas.v1', transaction_id: 'txn1', from_device: 'ALICEDEVICE' };
    const commitment = sasCommitment(bob.publicKey, start);
    verifySasCommitment(commitment, bob.publicKey, start);
    expectMatrixError(
      () => verifySasCommitment(commitment, alice.publicKey, start),
      'SAS_MISMATCHED_COMMITMENT',
    );
    expectMatrixError(
      () => verifySasCommitment(commitment, bob.publicKey, { ...start, from_device: 'X' }),
      'SAS_MISMATCHED_COMMITMENT',
    );

    const aliceShared = sasSharedSecret(alice, bob.publicKey);
    const bobShared = sasSharedSecret(bob, alice.publicKey);
    assert.deepEqual(aliceShared, bobShared);
    const info = sasInfo(parties);
    assert.deepEqual(
      sasEmoji(sasBytes(aliceShared, info, 6)),
      sasEmoji(sasBytes(bobShared, info, 6)),
    );
    assert.notDeepEqual(
      sasBytes(aliceShared, info, 6),
      sasBytes(aliceShared, sasInfo({ ...parties, transactionId: 'txn2' }), 6),
    );

    const fromAlice: MacParties = {
      senderUserId: PARTIES.startUserId,
      senderDeviceId: PARTIES.startDeviceId,
      receiverUserId: PARTIES.acceptUserId,
      receiverDeviceId: PARTIES.acceptDeviceId,
      transactionId: 'txn1',
    };
    const aliceKeys = { 'ed25519:ALICEDEVICE': 'devicekey', 'ed25519:masterkey': 'masterkey' };
    const content = sasMacContent(aliceShared, fromAlice, aliceKeys);
    assert.deepEqual(
      verifySasMac(bobShared, fromAlice, content, aliceKeys).sort(),
      Object.keys(aliceKeys).sort(),
    );

    expectMatrixError(
      () =>
        verifySasMac(bobShared, fromAlice, content, {
          ...aliceKeys,
          'ed25519:ALICEDEVICE': 'otherkey',
        }),
      'SAS_MISMATCHED_MAC',
    );
    expectMatrixError(
      () =>
        verifySasMac(
          bobShared,
          fromAlice,
          { ...content, mac: { ...content.mac, 'ed25519:extra': 'x' } },
          aliceKeys,
        ),
      'SAS_MISMATCHED_MAC',
    );
    const reversed: MacParties = {
      ...fromAlice,
      senderUserId: PARTIES.acceptUserId,
      receiverUserId: PARTIES.startUserId,
    };
    expectMatrixError(
      () => verifySasMac(bobShared, reversed, content, aliceKeys),
      'SAS_MISMATCHED_MAC',
    );
    expectMatrixError(
      () => verifySasMac(bobShared, fromAlice, content, { 'ed25519:other': 'k' }),
      'SAS_MISMATCHED_MAC',
    );
    expectMatrixError(
      () => verifySasMac(bobShared, fromAlice, { mac: content.mac }, aliceKeys),
      'SAS_MISMATCHED_MAC',
    );
  });

  test('fixed private keys give fixed public keys (RFC 7748 §6.1)', () => {
    const alice = sasKeyPairFromPrivateKey(
      Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex'),
    );
    assert.equal(
      Buffer.from(alice.publicKey, 'base64').toString('hex'),
      '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
    );
    const bob = sasKeyPairFromPrivateKey(
      Buffer.from('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb', 'hex'),
    );
    assert.equal(
      Buffer.from(sasSharedSecret(alice, bob.publicKey)).toString('hex'),
      '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742',
    );
  });

  test('a small-order or malformed ephemeral key is refused', () => {
    const ours = generateSasKeyPair();
    expectMatrixError(
      () => sasSharedSecret(ours, encodeUnpaddedBase64(new Uint8Array(32))),
      'SAS_INVALID_ARGUMENT',
    );
    expectMatrixError(
      () => sasSharedSecret(ours, encodeUnpaddedBase64(new Uint8Array(31))),
      'SAS_INVALID_ARGUMENT',
    );
    expectMatrixError(() => sasSharedSecret(ours, '!!'), 'INVALID_BASE64');
  });
});
