/**
 * The key schedule (RFC 9420 §8), PSKs (§8.4) and transcript hashes (§8.2): properties the
 * interop vectors do not exercise, and the refusals with their MlsError codes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encode } from '../src/codec/index.js';
import { mlsExporter } from '../src/crypto/labels.js';
import { nodeCrypto } from '../src/crypto/node.js';
import { CIPHER_SUITES, cipherSuite, type CipherSuite } from '../src/crypto/suites.js';
import { MlsError, type MlsErrorCode } from '../src/errors.js';
import { ContentType, SenderType, WireFormat, type FramedContent } from '../src/framing/content.js';
import {
  confirmationTag,
  deriveJoinerSecret,
  epochFromJoinerSecret,
  externalInitReceive,
  externalInitSend,
  externalKeyPair,
  freshInitSecret,
  nextEpoch,
  verifyConfirmationTag,
  welcomeKeyAndNonce,
  zeroSecret,
  type EpochSecrets,
} from '../src/keySchedule.js';
import { groupContextCodec, type GroupContext } from '../src/messages/groupContext.js';
import { PskType, ResumptionPskUsage } from '../src/messages/preSharedKeyId.js';
import { pskSecret, type PskInput } from '../src/psk.js';
import {
  confirmedTranscriptHash,
  interimTranscriptHash,
  transcriptHashesAfter,
} from '../src/transcript.js';
import { bytesEqual, toHex, utf8 } from '../src/util/bytes.js';
import { PROVIDERS } from './providers.js';

function expectMlsError(code: MlsErrorCode, f: () => unknown): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof MlsError, `expected MlsError ${code}, got ${String(e)}`);
    assert.equal(e.code, code);
    return true;
  });
}

function context(cs: CipherSuite, epoch: bigint, treeHashByte = 1): GroupContext {
  return {
    version: 1,
    cipherSuite: cs.id,
    groupId: utf8('key schedule test'),
    epoch,
    treeHash: new Uint8Array(cs.kdf.size).fill(treeHashByte),
    confirmedTranscriptHash: new Uint8Array(cs.kdf.size).fill(2),
    extensions: [],
  };
}

const SECRET_NAMES: (keyof EpochSecrets)[] = [
  'senderDataSecret',
  'encryptionSecret',
  'exporterSecret',
  'externalSecret',
  'confirmationKey',
  'membershipKey',
  'resumptionPsk',
  'epochAuthenticator',
  'initSecret',
];

describe('key schedule', () => {
  for (const provider of PROVIDERS) {
    test(`${provider.name}: every epoch secret is distinct, Nh long, and a joiner agrees`, () => {
      const cs = cipherSuite(1, provider);
      const groupContext = encode(groupContextCodec, context(cs, 1n));
      const initSecret = freshInitSecret(cs);
      const commitSecret = provider.randomBytes(cs.kdf.size);
      const psk = pskSecret(cs, [
        {
          id: { pskType: PskType.external, pskId: utf8('id'), pskNonce: new Uint8Array(32) },
          psk: utf8('psk'),
        },
      ]);
      const epoch = nextEpoch(cs, { initSecret, commitSecret, pskSecret: psk, groupContext });
      const values = [
        epoch.joinerSecret,
        epoch.welcomeSecret,
        ...SECRET_NAMES.map((n) => epoch.secrets[n]),
      ];
      for (const v of values) assert.equal(v.length, cs.kdf.size);
      assert.equal(new Set(values.map(toHex)).size, values.length);

      const joiner = epochFromJoinerSecret(cs, epoch.joinerSecret, psk, groupContext);
      assert.deepEqual(joiner, epoch);
      assert.deepEqual(
        deriveJoinerSecret(cs, initSecret, commitSecret, groupContext),
        epoch.joinerSecret,
      );
    });
  }

  test('the epoch is bound to each input: init, commit and PSK secrets and the context', () => {
    const cs = cipherSuite(1, nodeCrypto);
    const base = {
      initSecret: new Uint8Array(32).fill(1),
      commitSecret: zeroSecret(cs),
      pskSecret: zeroSecret(cs),
      groupContext: encode(groupContextCodec, context(cs, 3n)),
    };
    const reference = nextEpoch(cs, base).secrets.epochAuthenticator;
    const variants = [
      { ...base, initSecret: new Uint8Array(32).fill(2) },
      { ...base, commitSecret: new Uint8Array(32).fill(1) },
      { ...base, pskSecret: new Uint8Array(32).fill(1) },
      { ...base, groupContext: encode(groupContextCodec, context(cs, 4n)) },
      { ...base, groupContext: encode(groupContextCodec, context(cs, 3n, 9)) },
    ];
    for (const v of variants) {
      assert.ok(!bytesEqual(nextEpoch(cs, v).secrets.epochAuthenticator, reference));
    }
    // The PSK enters after the joiner secret: a joiner without it gets nothing else right.
    const withPsk = nextEpoch(cs, variants[2]!);
    assert.deepEqual(withPsk.joinerSecret, nextEpoch(cs, base).joinerSecret);
  });

  test('secrets of the wrong length are INVALID_LENGTH', () => {
    const cs = cipherSuite(1, nodeCrypto);
    const ok = {
      initSecret: zeroSecret(cs),
      commitSecret: zeroSecret(cs),
      pskSecret: zeroSecret(cs),
      groupContext: encode(groupContextCodec, context(cs, 0n)),
    };
    for (const field of ['initSecret', 'commitSecret', 'pskSecret'] as const) {
      expectMlsError('INVALID_LENGTH', () => nextEpoch(cs, { ...ok, [field]: new Uint8Array(31) }));
    }
    expectMlsError('INVALID_LENGTH', () =>
      epochFromJoinerSecret(cs, new Uint8Array(16), ok.pskSecret, ok.groupContext),
    );
  });

  test('a Welcome sealed with the committer’s welcome key opens with the joiner’s', () => {
    const cs = cipherSuite(1, nodeCrypto);
    const groupContext = encode(groupContextCodec, context(cs, 5n));
    const committer = nextEpoch(cs, {
      initSecret: freshInitSecret(cs),
      commitSecret: freshInitSecret(cs),
      pskSecret: zeroSecret(cs),
      groupContext,
    });
    const sealing = welcomeKeyAndNonce(cs, committer.welcomeSecret);
    assert.equal(sealing.key.length, cs.aead.keySize);
    assert.equal(sealing.nonce.length, cs.aead.nonceSize);
    const sealed = cs.aead.seal(sealing.key, sealing.nonce, new Uint8Array(0), utf8('group info'));
    const joiner = epochFromJoinerSecret(cs, committer.joinerSecret, zeroSecret(cs), groupContext);
    const opening = welcomeKeyAndNonce(cs, joiner.welcomeSecret);
    assert.deepEqual(
      cs.aead.open(opening.key, opening.nonce, new Uint8Array(0), sealed),
      utf8('group info'),
    );
  });

  test('confirmation tags verify, and a wrong one is BAD_CONFIRMATION_TAG', () => {
    const cs = cipherSuite(1, nodeCrypto);
    const key = new Uint8Array(32).fill(7);
    const hash = new Uint8Array(32).fill(8);
    const tag = confirmationTag(cs, key, hash);
    assert.equal(tag.length, cs.hash.size);
    verifyConfirmationTag(cs, key, hash, tag);
    const flipped = Uint8Array.from(tag);
    flipped[0]! ^= 1;
    expectMlsError('BAD_CONFIRMATION_TAG', () => verifyConfirmationTag(cs, key, hash, flipped));
    expectMlsError('BAD_CONFIRMATION_TAG', () =>
      verifyConfirmationTag(cs, key, new Uint8Array(32), tag),
    );
    expectMlsError('BAD_CONFIRMATION_TAG', () =>
      verifyConfirmationTag(cs, key, hash, tag.subarray(0, 16)),
    );
  });

  test('exported secrets depend on label, context and length', () => {
    const cs = cipherSuite(1, nodeCrypto);
    const secret = new Uint8Array(32).fill(3);
    const a = mlsExporter(cs, secret, 'label', utf8('context'), 32);
    assert.equal(a.length, 32);
    assert.deepEqual(mlsExporter(cs, secret, 'label', utf8('context'), 32), a);
    assert.ok(!bytesEqual(mlsExporter(cs, secret, 'other', utf8('context'), 32), a));
    assert.ok(!bytesEqual(mlsExporter(cs, secret, 'label', utf8('contexT'), 32), a));
    // The length is part of KDFLabel, so a shorter export is not a prefix of a longer one.
    assert.ok(
      !bytesEqual(mlsExporter(cs, secret, 'label', utf8('context'), 16), a.subarray(0, 16)),
    );
    assert.equal(mlsExporter(cs, secret, 'label', utf8('context'), 100).length, 100);
  });

  test('external init: joiner and members agree on the init secret, in every suite', () => {
    for (const id of CIPHER_SUITES.keys()) {
      const cs = cipherSuite(id, nodeCrypto);
      const external = externalKeyPair(cs, new Uint8Array(cs.kdf.size).fill(id));
      assert.equal(external.publicKey.length, cs.kem.publicKeySize);
      const sent = externalInitSend(cs, external.publicKey);
      assert.equal(sent.kemOutput.length, cs.kem.encSize);
      assert.equal(sent.initSecret.length, cs.kdf.size);
      assert.deepEqual(
        externalInitReceive(cs, external.privateKey, sent.kemOutput),
        sent.initSecret,
      );
      // Another epoch's key pair recovers something else.
      const stale = externalKeyPair(cs, new Uint8Array(cs.kdf.size).fill(0x80 + id));
      assert.ok(
        !bytesEqual(externalInitReceive(cs, stale.privateKey, sent.kemOutput), sent.initSecret),
      );
      // Fresh each time.
      assert.ok(!bytesEqual(externalInitSend(cs, external.publicKey).initSecret, sent.initSecret));
    }
  });

  for (const provider of PROVIDERS) {
    test(`${provider.name}: a malformed external init kem_output is refused`, () => {
      const x25519 = cipherSuite(1, provider);
      const pair = externalKeyPair(x25519, new Uint8Array(32).fill(1));
      expectMlsError('INVALID_KEY', () =>
        externalInitReceive(x25519, pair.privateKey, new Uint8Array(10)),
      );
      // The all-zero X25519 point yields an all-zero shared secret (RFC 9180 §7.1.4).
      expectMlsError('KEM_FAILURE', () =>
        externalInitReceive(x25519, pair.privateKey, new Uint8Array(32)),
      );
      const p256 = cipherSuite(2, provider);
      const p256Pair = externalKeyPair(p256, new Uint8Array(32).fill(1));
      expectMlsError('INVALID_KEY', () =>
        externalInitReceive(p256, p256Pair.privateKey, new Uint8Array(65)),
      );
    });
  }
});

describe('PSK secret', () => {
  const cs = cipherSuite(1, nodeCrypto);
  const external = (name: string, nonce: number): PskInput => ({
    id: { pskType: PskType.external, pskId: utf8(name), pskNonce: new Uint8Array(32).fill(nonce) },
    psk: utf8(`psk ${name}`),
  });
  const resumption: PskInput = {
    id: {
      pskType: PskType.resumption,
      usage: ResumptionPskUsage.application,
      pskGroupId: utf8('old group'),
      pskEpoch: 12n,
      pskNonce: new Uint8Array(32).fill(5),
    },
    psk: new Uint8Array(32).fill(6),
  };

  test('no PSKs give the zero vector of length Nh', () => {
    assert.deepEqual(pskSecret(cs, []), new Uint8Array(32));
    assert.deepEqual(pskSecret(cipherSuite(4, nodeCrypto), []), new Uint8Array(64));
  });

  test('the secret depends on the PSKs, their ids, nonces, order and count', () => {
    const a = external('a', 1);
    const b = external('b', 2);
    const reference = toHex(pskSecret(cs, [a, b]));
    const variants = [
      [b, a],
      [a],
      [a, b, resumption],
      [a, a, b],
      [a, external('b', 3)],
      [a, { ...b, psk: utf8('another key') }],
      [a, { ...b, id: { ...b.id, pskId: utf8('c') } } as PskInput],
    ];
    const all = new Set([reference, ...variants.map((v) => toHex(pskSecret(cs, v)))]);
    assert.equal(all.size, variants.length + 1);
  });
});

describe('transcript hashes', () => {
  const cs = cipherSuite(1, nodeCrypto);
  const commitContent: FramedContent = {
    groupId: utf8('g'),
    epoch: 4n,
    sender: { senderType: SenderType.member, leafIndex: 0 },
    authenticatedData: new Uint8Array(0),
    contentType: ContentType.commit,
    commit: { proposals: [] },
  };

  test('the confirmed hash covers wire format, content and signature; the interim adds the tag', () => {
    const interim0 = new Uint8Array(0);
    const signature = new Uint8Array(64).fill(1);
    const tag = new Uint8Array(32).fill(2);
    const after = transcriptHashesAfter(cs, interim0, {
      wireFormat: WireFormat.mls_public_message,
      content: commitContent,
      auth: { signature, confirmationTag: tag },
    });
    const confirmed = confirmedTranscriptHash(
      cs,
      interim0,
      WireFormat.mls_public_message,
      commitContent,
      signature,
    );
    assert.deepEqual(after.confirmedTranscriptHash, confirmed);
    assert.deepEqual(after.interimTranscriptHash, interimTranscriptHash(cs, confirmed, tag));
    const different = [
      confirmedTranscriptHash(
        cs,
        interim0,
        WireFormat.mls_private_message,
        commitContent,
        signature,
      ),
      confirmedTranscriptHash(
        cs,
        new Uint8Array(32),
        WireFormat.mls_public_message,
        commitContent,
        signature,
      ),
      confirmedTranscriptHash(
        cs,
        interim0,
        WireFormat.mls_public_message,
        { ...commitContent, epoch: 5n },
        signature,
      ),
      confirmedTranscriptHash(cs, interim0, WireFormat.mls_public_message, commitContent, tag),
    ];
    for (const d of different) assert.ok(!bytesEqual(d, confirmed));
    assert.ok(
      !bytesEqual(interimTranscriptHash(cs, confirmed, signature), after.interimTranscriptHash),
    );
  });

  test('only commits enter the transcript, and only with a confirmation tag', () => {
    const { groupId, epoch, sender, authenticatedData } = commitContent;
    const proposalContent: FramedContent = {
      groupId,
      epoch,
      sender,
      authenticatedData,
      contentType: ContentType.application,
      applicationData: utf8('not a commit'),
    };
    expectMlsError('WRONG_CONTENT_TYPE', () =>
      confirmedTranscriptHash(
        cs,
        new Uint8Array(0),
        WireFormat.mls_public_message,
        proposalContent,
        new Uint8Array(64),
      ),
    );
    expectMlsError('INVALID_COMMIT', () =>
      transcriptHashesAfter(cs, new Uint8Array(0), {
        wireFormat: WireFormat.mls_public_message,
        content: commitContent,
        auth: { signature: new Uint8Array(64) },
      }),
    );
  });
});
