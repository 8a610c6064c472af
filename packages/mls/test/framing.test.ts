/**
 * Message framing (RFC 9420 §6) and the secret tree (§9): round trips, and every way a received
 * message can be refused, each with its MlsError code.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encode, Writer } from '../src/codec/index.js';
import type { CryptoProvider, KeyPair } from '../src/crypto/provider.js';
import { nodeCrypto } from '../src/crypto/node.js';
import { CIPHER_SUITES, cipherSuite, type CipherSuite } from '../src/crypto/suites.js';
import { MlsError, type MlsErrorCode } from '../src/errors.js';
import {
  checkGroupAndEpoch,
  protectPublicMessage,
  signContent,
  toPublicMessage,
  verifyPublicMessage,
} from '../src/framing/authentication.js';
import {
  ContentType,
  SenderType,
  WireFormat,
  encodeAuthData,
  encodeContentBody,
  type AuthenticatedContent,
  type ContentBody,
  type FramedContent,
  type Sender,
} from '../src/framing/content.js';
import type { PrivateMessage, PublicMessage } from '../src/framing/messages.js';
import {
  decryptPrivateMessage,
  encryptPrivateMessage,
  senderDataCodec,
  senderDataKeyAndNonce,
  type EncryptOptions,
} from '../src/framing/privateMessage.js';
import type { GroupContext } from '../src/messages/groupContext.js';
import { ProposalType } from '../src/messages/proposals.js';
import {
  createSecretTree,
  nextGeneration,
  retainApplicationRatchets,
  takeKey,
  takeNextKey,
  type SecretTree,
  type SecretTreeOptions,
} from '../src/secretTree.js';
import * as math from '../src/tree/math.js';
import { bytesEqual, EMPTY, utf8 } from '../src/util/bytes.js';
import { PROVIDERS } from './providers.js';

const SENDER = 5;
const OTHER = 2;
const LEAVES = 8;

function expectMlsError(code: MlsErrorCode, f: () => unknown): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof MlsError, `expected MlsError ${code}, got ${String(e)}`);
    assert.equal(e.code, code);
    return true;
  });
}

/** One epoch of an eight-leaf group in which leaves SENDER and OTHER are members. */
interface Fixture {
  cs: CipherSuite;
  context: GroupContext;
  senderDataSecret: Uint8Array;
  membershipKey: Uint8Array;
  keys: Map<number, KeyPair>;
  tree: SecretTree;
}

function fixture(
  provider: CryptoProvider = nodeCrypto,
  suiteId = 1,
  options?: SecretTreeOptions,
): Fixture {
  const cs = cipherSuite(suiteId, provider);
  const nh = cs.kdf.size;
  return {
    cs,
    context: {
      version: 1,
      cipherSuite: suiteId,
      groupId: utf8('framing test group'),
      epoch: 7n,
      treeHash: new Uint8Array(nh).fill(1),
      confirmedTranscriptHash: new Uint8Array(nh).fill(2),
      extensions: [],
    },
    senderDataSecret: new Uint8Array(nh).fill(3),
    membershipKey: new Uint8Array(nh).fill(4),
    keys: new Map([
      [SENDER, cs.signature.generateKeyPair()],
      [OTHER, cs.signature.generateKeyPair()],
    ]),
    tree: createSecretTree(cs, new Uint8Array(nh).fill(5), LEAVES, options),
  };
}

const member = (leafIndex: number): Sender => ({ senderType: SenderType.member, leafIndex });

function framed(fx: Fixture, body: ContentBody, sender = member(SENDER)): FramedContent {
  return {
    groupId: fx.context.groupId,
    epoch: fx.context.epoch,
    sender,
    authenticatedData: utf8('aad'),
    ...body,
  };
}

const application = (text: string): ContentBody => ({
  contentType: ContentType.application,
  applicationData: utf8(text),
});
const proposal: ContentBody = {
  contentType: ContentType.proposal,
  proposal: { proposalType: ProposalType.remove, removed: OTHER },
};
const commit: ContentBody = { contentType: ContentType.commit, commit: { proposals: [] } };

function signed(
  fx: Fixture,
  body: ContentBody,
  wireFormat: WireFormat = WireFormat.mls_private_message,
  signer = SENDER,
): AuthenticatedContent {
  const tag = body.contentType === ContentType.commit ? new Uint8Array(32).fill(9) : undefined;
  const key = fx.keys.get(signer)!.privateKey;
  return signContent(fx.cs, key, wireFormat, framed(fx, body), fx.context, tag);
}

/** Sends `bodies` in order from SENDER; returns the messages and the sender's tree after them. */
function send(
  fx: Fixture,
  bodies: ContentBody[],
  options?: EncryptOptions,
): { messages: PrivateMessage[]; tree: SecretTree } {
  let tree = fx.tree;
  const messages = bodies.map((body) => {
    const out = encryptPrivateMessage(
      fx.cs,
      signed(fx, body),
      { senderDataSecret: fx.senderDataSecret, secretTree: tree },
      options,
    );
    tree = out.secretTree;
    return out.message;
  });
  return { messages, tree };
}

function receive(fx: Fixture, tree: SecretTree, message: PrivateMessage) {
  return decryptPrivateMessage(fx.cs, message, {
    senderDataSecret: fx.senderDataSecret,
    secretTree: tree,
    context: fx.context,
    senderSignatureKey: (leaf) => fx.keys.get(leaf)?.publicKey,
  });
}

function text(ac: AuthenticatedContent): string {
  assert.equal(ac.content.contentType, ContentType.application);
  return new TextDecoder().decode(ac.content.applicationData);
}

function flipBit(bytes: Uint8Array, index: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[index < 0 ? out.length + index : index]! ^= 0x01;
  return out;
}

/**
 * Encrypts an arbitrary PrivateMessageContent plaintext as `leafIndex`, written out here from
 * RFC 9420 §6.3 independently of privateMessage.ts, so tests can send what it never would.
 */
function encryptRaw(
  fx: Fixture,
  tree: SecretTree,
  leafIndex: number,
  contentType: ContentType,
  plaintext: Uint8Array,
  senderLeafIndex = leafIndex,
): PrivateMessage {
  const { cs, context } = fx;
  const ratchet = contentType === ContentType.application ? 'application' : 'handshake';
  const taken = takeNextKey(tree, leafIndex, ratchet);
  const reuseGuard = Uint8Array.of(0xa1, 0xb2, 0xc3, 0xd4);
  const nonce = Uint8Array.from(taken.nonce);
  for (let i = 0; i < 4; i++) nonce[i]! ^= reuseGuard[i]!;
  const authenticatedData = utf8('aad');
  const contentAad = new Writer();
  contentAad.opaque(context.groupId);
  contentAad.u64(context.epoch);
  contentAad.u8(contentType);
  contentAad.opaque(authenticatedData);
  const ciphertext = cs.aead.seal(taken.key, nonce, contentAad.finish(), plaintext);
  const sd = senderDataKeyAndNonce(cs, fx.senderDataSecret, ciphertext);
  const senderDataAad = new Writer();
  senderDataAad.opaque(context.groupId);
  senderDataAad.u64(context.epoch);
  senderDataAad.u8(contentType);
  const senderData = encode(senderDataCodec, {
    leafIndex: senderLeafIndex,
    generation: taken.generation,
    reuseGuard,
  });
  return {
    groupId: context.groupId,
    epoch: context.epoch,
    contentType,
    authenticatedData,
    encryptedSenderData: cs.aead.seal(sd.key, sd.nonce, senderDataAad.finish(), senderData),
    ciphertext,
  };
}

/** PrivateMessageContent of a signed message: body || auth || `padding`. */
function plaintextOf(ac: AuthenticatedContent, padding: Uint8Array): Uint8Array {
  const w = new Writer();
  encodeContentBody(w, ac.content);
  encodeAuthData(w, ac.auth, ac.content.contentType);
  w.raw(padding);
  return w.finish();
}

describe('PrivateMessage', () => {
  for (const provider of PROVIDERS) {
    test(`${provider.name}: application, proposal and commit round trip`, () => {
      const fx = fixture(provider);
      const bodies = [application('hello'), proposal, commit];
      const { messages } = send(fx, bodies);
      let tree = fx.tree;
      messages.forEach((message, i) => {
        const got = receive(fx, tree, message);
        const sent = signed(fx, bodies[i]!);
        assert.equal(got.authenticated.wireFormat, WireFormat.mls_private_message);
        assert.deepEqual(got.authenticated.content, sent.content);
        assert.deepEqual(got.authenticated.auth.confirmationTag, sent.auth.confirmationTag);
        tree = got.secretTree;
      });
    });
  }

  test('round trip in every cipher suite', () => {
    for (const id of CIPHER_SUITES.keys()) {
      const fx = fixture(nodeCrypto, id);
      const { messages } = send(fx, [application('suite ' + id), commit]);
      const first = receive(fx, fx.tree, messages[0]!);
      assert.equal(text(first.authenticated), 'suite ' + id);
      const second = receive(fx, first.secretTree, messages[1]!);
      assert.equal(second.authenticated.content.contentType, ContentType.commit);
    }
  });

  test('application data uses the application ratchet, handshakes the handshake ratchet', () => {
    const fx = fixture();
    const afterApp = send(fx, [application('a'), application('b')]).tree;
    assert.equal(nextGeneration(afterApp, SENDER, 'application'), 2);
    assert.equal(nextGeneration(afterApp, SENDER, 'handshake'), 0);
    const afterHandshake = send(fx, [proposal, commit]).tree;
    assert.equal(nextGeneration(afterHandshake, SENDER, 'application'), 0);
    assert.equal(nextGeneration(afterHandshake, SENDER, 'handshake'), 2);
  });

  test('a flipped bit in the content ciphertext is AEAD_FAILURE and costs the tree nothing', () => {
    const fx = fixture();
    const [message] = send(fx, [application('secret')]).messages;
    const nh = fx.cs.kdf.size;
    // Past the sample, so only the content AEAD sees the change; then the tag itself.
    for (const index of [nh + 1, -1]) {
      const tampered = { ...message!, ciphertext: flipBit(message!.ciphertext, index) };
      expectMlsError('AEAD_FAILURE', () => receive(fx, fx.tree, tampered));
    }
    // Within the sample the sender-data key changes, so the sender data no longer opens.
    const inSample = { ...message!, ciphertext: flipBit(message!.ciphertext, 0) };
    expectMlsError('AEAD_FAILURE', () => receive(fx, fx.tree, inSample));
    assert.equal(text(receive(fx, fx.tree, message!).authenticated), 'secret');
  });

  test('a flipped bit in the encrypted sender data is AEAD_FAILURE', () => {
    const fx = fixture();
    const [message] = send(fx, [application('x')]).messages;
    for (const index of [0, 5, -1]) {
      const tampered = {
        ...message!,
        encryptedSenderData: flipBit(message!.encryptedSenderData, index),
      };
      expectMlsError('AEAD_FAILURE', () => receive(fx, fx.tree, tampered));
    }
  });

  test('the AADs bind group, epoch, content type and authenticated data', () => {
    const fx = fixture();
    const [message] = send(fx, [application('x')]).messages;
    const variants: Partial<PrivateMessage>[] = [
      { groupId: utf8('another group') },
      { epoch: 8n },
      { contentType: ContentType.proposal },
      { authenticatedData: utf8('AAD') },
    ];
    for (const change of variants) {
      expectMlsError('AEAD_FAILURE', () => receive(fx, fx.tree, { ...message!, ...change }));
    }
  });

  test('non-zero padding is INVALID_PADDING; zero padding of any length is accepted', () => {
    const fx = fixture();
    const ac = signed(fx, application('padded'));
    // Control: the hand-made encryption with zero padding is accepted.
    for (const length of [0, 1, 7, 300]) {
      const plaintext = plaintextOf(ac, new Uint8Array(length));
      const ok = encryptRaw(fx, fx.tree, SENDER, ContentType.application, plaintext);
      assert.equal(text(receive(fx, fx.tree, ok).authenticated), 'padded');
    }
    for (const padding of [
      Uint8Array.of(1),
      Uint8Array.of(0, 0, 0, 0x80),
      Uint8Array.of(0, 7, 0),
    ]) {
      const bad = encryptRaw(
        fx,
        fx.tree,
        SENDER,
        ContentType.application,
        plaintextOf(ac, padding),
      );
      expectMlsError('INVALID_PADDING', () => receive(fx, fx.tree, bad));
    }
  });

  test('content cut short inside the auth data is a decoding error, not accepted', () => {
    const fx = fixture();
    const full = plaintextOf(signed(fx, application('cut')), EMPTY);
    const cut = encryptRaw(fx, fx.tree, SENDER, ContentType.application, full.subarray(0, -3));
    expectMlsError('TRUNCATED', () => receive(fx, fx.tree, cut));
  });

  test('padding policies: a block size, none, or a function', () => {
    const fx = fixture();
    const tagSize = fx.cs.aead.tagSize;
    const ac = signed(fx, application('how long am I?'));
    const unpadded = plaintextOf(ac, EMPTY).length;
    const sizes = new Map<EncryptOptions['padding'], number>([
      [undefined, Math.ceil(unpadded / 32) * 32],
      [0, unpadded],
      [1, unpadded],
      [256, Math.ceil(unpadded / 256) * 256],
      [(n: number) => 1000 - n, 1000],
    ]);
    for (const [padding, size] of sizes) {
      const out = encryptPrivateMessage(
        fx.cs,
        ac,
        { senderDataSecret: fx.senderDataSecret, secretTree: fx.tree },
        { padding },
      );
      assert.equal(out.message.ciphertext.length - tagSize, size, `padding ${String(padding)}`);
      assert.equal(text(receive(fx, fx.tree, out.message).authenticated), 'how long am I?');
    }
  });

  test('a replayed generation is GENERATION_REUSED and the tree stays usable', () => {
    const fx = fixture();
    const { messages } = send(fx, [application('one'), application('two')]);
    const first = receive(fx, fx.tree, messages[0]!);
    expectMlsError('GENERATION_REUSED', () => receive(fx, first.secretTree, messages[0]!));
    const second = receive(fx, first.secretTree, messages[1]!);
    assert.equal(text(second.authenticated), 'two');
    expectMlsError('GENERATION_REUSED', () => receive(fx, second.secretTree, messages[1]!));
    expectMlsError('GENERATION_REUSED', () => receive(fx, second.secretTree, messages[0]!));
  });

  test('out-of-order delivery within the window works, each message once', () => {
    const fx = fixture();
    const texts = ['m0', 'm1', 'm2', 'm3', 'm4', 'm5'];
    const { messages } = send(fx, texts.map(application));
    let tree = fx.tree;
    for (const i of [3, 0, 5, 1, 4, 2]) {
      const got = receive(fx, tree, messages[i]!);
      assert.equal(text(got.authenticated), texts[i]);
      tree = got.secretTree;
    }
    for (const m of messages) expectMlsError('GENERATION_REUSED', () => receive(fx, tree, m));
    // Every skipped key has been used, so none is left.
    assert.equal(tree.ratchets.get(SENDER)!.application!.skipped.size, 0);
  });

  test('a generation too far ahead is GENERATION_TOO_FAR', () => {
    const fx = fixture(nodeCrypto, 1, { maxForwardDistance: 4 });
    const { messages } = send(fx, ['0', '1', '2', '3', '4', '5'].map(application));
    expectMlsError('GENERATION_TOO_FAR', () => receive(fx, fx.tree, messages[5]!));
    const fourth = receive(fx, fx.tree, messages[4]!);
    assert.equal(text(fourth.authenticated), '4');
    // Measured from the ratchet's position, so the fifth is now near enough.
    assert.equal(text(receive(fx, fourth.secretTree, messages[5]!).authenticated), '5');
  });

  test('a generation behind the out-of-order window is GENERATION_TOO_OLD', () => {
    const fx = fixture(nodeCrypto, 1, { outOfOrderTolerance: 2 });
    const { messages } = send(fx, ['0', '1', '2', '3', '4', '5'].map(application));
    const newest = receive(fx, fx.tree, messages[5]!);
    // Only the keys of generations 3 and 4 were kept.
    assert.deepEqual(
      [...newest.secretTree.ratchets.get(SENDER)!.application!.skipped.keys()],
      [3, 4],
    );
    expectMlsError('GENERATION_TOO_OLD', () => receive(fx, newest.secretTree, messages[2]!));
    expectMlsError('GENERATION_TOO_OLD', () => receive(fx, newest.secretTree, messages[0]!));
    const third = receive(fx, newest.secretTree, messages[3]!);
    assert.equal(text(third.authenticated), '3');
    expectMlsError('GENERATION_REUSED', () => receive(fx, third.secretTree, messages[3]!));
    expectMlsError('GENERATION_REUSED', () => receive(fx, third.secretTree, messages[5]!));
  });

  test('a blank sender leaf is REMOVED_SENDER, one outside the tree INVALID_SENDER', () => {
    const fx = fixture();
    const [message] = send(fx, [application('who am I')]).messages;
    // The receiver's tree has a blank leaf where the sender claims to be.
    expectMlsError('REMOVED_SENDER', () =>
      decryptPrivateMessage(fx.cs, message!, {
        senderDataSecret: fx.senderDataSecret,
        secretTree: fx.tree,
        context: fx.context,
        senderSignatureKey: (leaf) => (leaf === SENDER ? undefined : fx.keys.get(leaf)?.publicKey),
      }),
    );
    // Sender data naming a leaf beyond the tree.
    const plaintext = plaintextOf(signed(fx, application('x')), EMPTY);
    const outside = encryptRaw(fx, fx.tree, SENDER, ContentType.application, plaintext, LEAVES);
    expectMlsError('INVALID_SENDER', () => receive(fx, fx.tree, outside));
  });

  test('a signature by another key is BAD_SIGNATURE', () => {
    const fx = fixture();
    // Signed by OTHER's key but sent from SENDER's leaf.
    const forged = signed(fx, application('forged'), WireFormat.mls_private_message, OTHER);
    const out = encryptPrivateMessage(fx.cs, forged, {
      senderDataSecret: fx.senderDataSecret,
      secretTree: fx.tree,
    });
    expectMlsError('BAD_SIGNATURE', () => receive(fx, fx.tree, out.message));
    // A signature over another wire format does not verify either.
    const asPublic = signed(fx, application('x'), WireFormat.mls_public_message);
    const relabelled = { ...asPublic, wireFormat: WireFormat.mls_private_message } as const;
    const sent = encryptPrivateMessage(fx.cs, relabelled, {
      senderDataSecret: fx.senderDataSecret,
      secretTree: fx.tree,
    });
    expectMlsError('BAD_SIGNATURE', () => receive(fx, fx.tree, sent.message));
  });

  test('content signed for PublicMessage is refused for encryption', () => {
    const fx = fixture();
    const ac = signed(fx, application('x'), WireFormat.mls_public_message);
    expectMlsError('WRONG_WIRE_FORMAT', () =>
      encryptPrivateMessage(fx.cs, ac, {
        senderDataSecret: fx.senderDataSecret,
        secretTree: fx.tree,
      }),
    );
  });

  test('reuse guards are fresh per message', () => {
    const fx = fixture();
    const { messages } = send(fx, [application('a'), application('a')]);
    const first = receive(fx, fx.tree, messages[0]!);
    const second = receive(fx, first.secretTree, messages[1]!);
    assert.ok(!bytesEqual(first.senderData.reuseGuard, second.senderData.reuseGuard));
  });
});

describe('PublicMessage', () => {
  function verify(fx: Fixture, message: PublicMessage, signer = SENDER) {
    return verifyPublicMessage(fx.cs, message, {
      context: fx.context,
      membershipKey: fx.membershipKey,
      signaturePublicKey: fx.keys.get(signer)!.publicKey,
    });
  }

  function publicFrom(fx: Fixture, body: ContentBody, signer = SENDER): PublicMessage {
    return toPublicMessage(
      fx.cs,
      signed(fx, body, WireFormat.mls_public_message, signer),
      fx.context,
      fx.membershipKey,
    );
  }

  for (const provider of PROVIDERS) {
    test(`${provider.name}: proposal and commit round trip with membership tags`, () => {
      const fx = fixture(provider);
      for (const body of [proposal, commit]) {
        const message = publicFrom(fx, body);
        assert.equal(message.membershipTag?.length, fx.cs.hash.size);
        const got = verify(fx, message);
        assert.equal(got.wireFormat, WireFormat.mls_public_message);
        assert.deepEqual(got.content, message.content);
      }
    });
  }

  test('protectPublicMessage signs and tags in one step', () => {
    const fx = fixture();
    const message = protectPublicMessage(fx.cs, {
      content: framed(fx, commit),
      signaturePrivateKey: fx.keys.get(SENDER)!.privateKey,
      context: fx.context,
      membershipKey: fx.membershipKey,
      confirmationTag: new Uint8Array(32).fill(9),
    });
    assert.deepEqual(verify(fx, message).content, framed(fx, commit));
  });

  test('a wrong membership tag is BAD_MEMBERSHIP_TAG', () => {
    const fx = fixture();
    const message = publicFrom(fx, proposal);
    const flipped = { ...message, membershipTag: flipBit(message.membershipTag!, 3) };
    expectMlsError('BAD_MEMBERSHIP_TAG', () => verify(fx, flipped));
    // Tagged with another epoch's membership key.
    const otherKey = toPublicMessage(
      fx.cs,
      signed(fx, proposal, WireFormat.mls_public_message),
      fx.context,
      new Uint8Array(fx.cs.hash.size).fill(0x44),
    );
    expectMlsError('BAD_MEMBERSHIP_TAG', () => verify(fx, otherKey));
    // Content changed after tagging.
    const changed = {
      ...message,
      content: { ...message.content, authenticatedData: utf8('changed') },
    };
    expectMlsError('BAD_MEMBERSHIP_TAG', () => verify(fx, changed));
    // A member message without a tag at all.
    const { membershipTag: _, ...untagged } = message;
    expectMlsError('BAD_MEMBERSHIP_TAG', () => verify(fx, untagged));
  });

  test('a bad signature under a valid membership tag is BAD_SIGNATURE', () => {
    const fx = fixture();
    // Signed by OTHER, claimed by SENDER, and correctly tagged: only the signature is wrong.
    const forged = publicFrom(fx, commit, OTHER);
    expectMlsError('BAD_SIGNATURE', () => verify(fx, forged, SENDER));
    assert.ok(verify(fx, forged, OTHER));
    // A signature with a flipped bit, tagged afresh.
    const ac = signed(fx, proposal, WireFormat.mls_public_message);
    const broken = { ...ac, auth: { signature: flipBit(ac.auth.signature, 2) } };
    const message = toPublicMessage(fx.cs, broken, fx.context, fx.membershipKey);
    expectMlsError('BAD_SIGNATURE', () => verify(fx, message));
  });

  test('an external sender signs without context and sends no membership tag', () => {
    const fx = fixture();
    const external: Sender = { senderType: SenderType.external, senderIndex: 0 };
    const content = framed(fx, proposal, external);
    const ac = signContent(
      fx.cs,
      fx.keys.get(OTHER)!.privateKey,
      WireFormat.mls_public_message,
      content,
      undefined,
    );
    const message = toPublicMessage(fx.cs, ac, undefined);
    assert.equal(message.membershipTag, undefined);
    const got = verifyPublicMessage(fx.cs, message, {
      context: undefined,
      signaturePublicKey: fx.keys.get(OTHER)!.publicKey,
    });
    assert.deepEqual(got.content, content);
    // A tag on a non-member message is refused.
    const tagged = { ...message, membershipTag: new Uint8Array(32) };
    expectMlsError('BAD_MEMBERSHIP_TAG', () =>
      verifyPublicMessage(fx.cs, tagged, {
        context: undefined,
        signaturePublicKey: fx.keys.get(OTHER)!.publicKey,
      }),
    );
  });

  test('checkGroupAndEpoch refuses other groups and epochs', () => {
    const fx = fixture();
    checkGroupAndEpoch(fx.context.groupId, fx.context.epoch, fx.context);
    expectMlsError('WRONG_GROUP', () => checkGroupAndEpoch(utf8('x'), 7n, fx.context));
    expectMlsError('WRONG_EPOCH', () => checkGroupAndEpoch(fx.context.groupId, 6n, fx.context));
  });

  test('content signed for PrivateMessage is refused as a PublicMessage', () => {
    const fx = fixture();
    const ac = signed(fx, proposal, WireFormat.mls_private_message);
    expectMlsError('WRONG_WIRE_FORMAT', () =>
      toPublicMessage(fx.cs, ac, fx.context, fx.membershipKey),
    );
  });
});

describe('SecretTree', () => {
  test('taking a key leaves the original tree unchanged', () => {
    const fx = fixture();
    const before = fx.tree;
    const taken = takeKey(before, SENDER, 'application', 5);
    // The old value still yields the same key for the same generation.
    const again = takeKey(before, SENDER, 'application', 5);
    assert.deepEqual(again.key, taken.key);
    assert.deepEqual(again.nonce, taken.nonce);
    assert.equal(before.ratchets.get(SENDER), undefined);
    assert.ok(before.nodeSecrets.get(math.root(LEAVES)));
    assert.equal(nextGeneration(before, SENDER, 'application'), 0);
    // The new value moved on: generation 5 is gone from it, 0 to 4 are kept as skipped keys.
    assert.equal(nextGeneration(taken.tree, SENDER, 'application'), 6);
    expectMlsError('GENERATION_REUSED', () => takeKey(taken.tree, SENDER, 'application', 5));
    const early = takeKey(taken.tree, SENDER, 'application', 2);
    assert.deepEqual(early.key, takeKey(before, SENDER, 'application', 2).key);
    // And the key of generation 2 is still in taken.tree, used once in `early.tree` only.
    assert.deepEqual(takeKey(taken.tree, SENDER, 'application', 2).key, early.key);
  });

  test('node secrets are dropped once their children are derived (§9.2)', () => {
    const fx = fixture();
    const held = (tree: SecretTree) =>
      Array.from({ length: math.nodeWidth(LEAVES) }, (_, i) => i).filter(
        (i) => tree.nodeSecrets.get(i) !== undefined,
      );
    assert.deepEqual(held(fx.tree), [math.root(LEAVES)]);
    const leaf0 = takeNextKey(fx.tree, 0, 'handshake').tree;
    // Root 7 → 3 → 1 → leaf node 0: the siblings 11, 5 and 2 remain, nothing on the path.
    assert.deepEqual(held(leaf0), [2, 5, 11]);
    const leaf1 = takeNextKey(leaf0, 1, 'application').tree;
    assert.deepEqual(held(leaf1), [5, 11]);
    const leaf7 = takeNextKey(leaf1, 7, 'application').tree;
    // Leaf 7 is node 14, below 11 → 13: 11's secret is replaced by those of 9 and then 12.
    assert.deepEqual(held(leaf7), [5, 9, 12]);
    // The ratchet secret moves on with each key; the taken key is not kept anywhere.
    const r0 = leaf7.ratchets.get(0)!.handshake!;
    assert.equal(r0.generation, 1);
    assert.equal(r0.skipped.size, 0);
  });

  test('skipped keys are bounded by the out-of-order tolerance', () => {
    const fx = fixture(nodeCrypto, 1, { outOfOrderTolerance: 3 });
    const far = takeKey(fx.tree, OTHER, 'application', 500).tree;
    assert.deepEqual([...far.ratchets.get(OTHER)!.application!.skipped.keys()], [497, 498, 499]);
    const none = fixture(nodeCrypto, 1, { outOfOrderTolerance: 0 });
    const ahead = takeKey(none.tree, OTHER, 'application', 10).tree;
    assert.equal(ahead.ratchets.get(OTHER)!.application!.skipped.size, 0);
    expectMlsError('GENERATION_TOO_OLD', () => takeKey(ahead, OTHER, 'application', 9));
  });

  test('the default window: 1000 ahead at most, 128 skipped keys kept', () => {
    const fx = fixture();
    expectMlsError('GENERATION_TOO_FAR', () => takeKey(fx.tree, SENDER, 'handshake', 1001));
    const tree = takeKey(fx.tree, SENDER, 'handshake', 1000).tree;
    assert.equal(tree.ratchets.get(SENDER)!.handshake!.skipped.size, 128);
    expectMlsError('GENERATION_TOO_OLD', () => takeKey(tree, SENDER, 'handshake', 871));
    takeKey(tree, SENDER, 'handshake', 872);
  });

  test('cut down to some senders: their application keys only, nothing to derive the rest', () => {
    const fx = fixture(nodeCrypto, 1, { outOfOrderTolerance: 4 });
    // SENDER has sent generations 0-2 (2 taken, 0-1 kept as skipped) and one handshake message.
    const used = takeKey(takeKey(fx.tree, SENDER, 'application', 2).tree, SENDER, 'handshake', 0);
    const full = used.tree;
    const cut = retainApplicationRatchets(full, [SENDER, OTHER]);
    assert.equal(fx.tree.ratchets.get(OTHER), undefined, 'the given trees are left as they were');
    assert.ok(full.ratchets.get(SENDER)!.handshake);

    const heldNodes = Array.from({ length: math.nodeWidth(LEAVES) }, (_, i) => i).filter(
      (i) => cut.nodeSecrets.get(i) !== undefined,
    );
    assert.deepEqual(heldNodes, []);
    for (let leaf = 0; leaf < LEAVES; leaf++) {
      const ratchets = cut.ratchets.get(leaf);
      if (leaf === SENDER || leaf === OTHER) {
        assert.deepEqual(Object.keys(ratchets!), ['application']);
      } else {
        assert.equal(ratchets, undefined);
      }
    }
    // The same application keys as the whole tree, used ones still used.
    for (const [leaf, generation] of [
      [SENDER, 1],
      [SENDER, 3],
      [OTHER, 0],
      [OTHER, 7],
    ] as const) {
      assert.deepEqual(
        takeKey(cut, leaf, 'application', generation).key,
        takeKey(full, leaf, 'application', generation).key,
      );
    }
    expectMlsError('GENERATION_REUSED', () => takeKey(cut, SENDER, 'application', 2));
    assert.equal(nextGeneration(cut, SENDER, 'application'), 3);
    // Everything else is refused as deleted.
    expectMlsError('RATCHET_DELETED', () => takeKey(cut, SENDER, 'handshake', 1));
    expectMlsError('RATCHET_DELETED', () => takeKey(cut, OTHER, 'handshake', 0));
    expectMlsError('RATCHET_DELETED', () => takeKey(cut, 0, 'application', 0));
    expectMlsError('RATCHET_DELETED', () => takeNextKey(cut, 0, 'application'));
    expectMlsError('RATCHET_DELETED', () => nextGeneration(cut, SENDER, 'handshake'));
    expectMlsError('RATCHET_DELETED', () => nextGeneration(cut, 0, 'application'));
    expectMlsError('INVALID_SENDER', () => retainApplicationRatchets(full, [LEAVES]));
    // Cutting again keeps what is left; a sender not kept before stays without keys.
    const again = retainApplicationRatchets(cut, [SENDER, 0]);
    assert.deepEqual(
      takeKey(again, SENDER, 'application', 3).key,
      takeKey(full, SENDER, 'application', 3).key,
    );
    expectMlsError('RATCHET_DELETED', () => takeKey(again, 0, 'application', 0));
    expectMlsError('RATCHET_DELETED', () => takeKey(again, OTHER, 'application', 0));
  });

  test('a leaf outside the tree is INVALID_SENDER', () => {
    const fx = fixture();
    expectMlsError('INVALID_SENDER', () => takeKey(fx.tree, LEAVES, 'application', 0));
    expectMlsError('INVALID_SENDER', () => takeNextKey(fx.tree, -1, 'application'));
  });

  test('a large tree: leaves far apart derive independently and agree with a small walk', () => {
    const cs = cipherSuite(1, nodeCrypto);
    const secret = new Uint8Array(32).fill(6);
    const big = createSecretTree(cs, secret, 16384);
    let tree = big;
    const keys = new Map<number, Uint8Array>();
    for (const leaf of [9999, 0, 16383, 4096, 10000]) {
      const taken = takeNextKey(tree, leaf, 'application');
      keys.set(leaf, taken.key);
      tree = taken.tree;
    }
    // The same keys come out of a fresh tree in another order.
    let other = big;
    for (const leaf of [10000, 4096, 16383, 0, 9999]) {
      const taken = takeKey(other, leaf, 'application', 0);
      assert.deepEqual(taken.key, keys.get(leaf));
      other = taken.tree;
    }
  });
});
