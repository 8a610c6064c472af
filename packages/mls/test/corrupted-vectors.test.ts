/**
 * The official vectors, corrupted: flipped bits in signatures, tags and ciphertexts, truncated
 * and extended encodings, wrong lengths. Each must be refused with its own MlsError code.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decode, encode, Reader } from '../src/codec/index.js';
import { decryptWithLabel, verifyWithLabel } from '../src/crypto/labels.js';
import { cipherSuite } from '../src/crypto/suites.js';
import { MlsError } from '../src/errors.js';
import { checkGroupAndEpoch, verifyPublicMessage } from '../src/framing/authentication.js';
import { mlsMessageCodec, type MlsMessage } from '../src/framing/mlsMessage.js';
import { decryptPrivateMessage } from '../src/framing/privateMessage.js';
import { keyPackageRef } from '../src/group/keyPackage.js';
import { processMessage } from '../src/group/process.js';
import { joinFromWelcome, openWelcome } from '../src/group/welcome.js';
import type { GroupContext } from '../src/messages/groupContext.js';
import { createSecretTree } from '../src/secretTree.js';
import { ratchetTreeCodec } from '../src/tree/nodes.js';
import { RatchetTree } from '../src/tree/ratchetTree.js';
import { treeHash } from '../src/tree/treeHash.js';
import { validateRatchetTree } from '../src/tree/validation.js';
import { fromHex, toHex } from '../src/util/bytes.js';
import { nodeCrypto } from '../src/crypto/node.js';
import { loadVectors } from './vectors/harness.js';

const hex = fromHex;

function flip(bytes: Uint8Array, index: number, bit = 0): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[index]! ^= 1 << bit;
  return copy;
}

function refusedWith(code: string, fn: () => unknown): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof MlsError, `expected MlsError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

function message(bytes: Uint8Array): MlsMessage {
  return decode(mlsMessageCodec, bytes);
}

describe('corrupted encodings (messages.json, deserialization.json)', () => {
  const entry = loadVectors('messages.json')[0];
  const fields = [
    'mls_welcome',
    'mls_group_info',
    'mls_key_package',
    'public_message_commit',
    'private_message',
  ];
  for (const field of fields) {
    test(`${field}: truncated is TRUNCATED, extended is TRAILING_BYTES`, () => {
      const bytes = hex(entry[field]);
      for (const cut of [1, 2, Math.floor(bytes.length / 2), bytes.length - 1]) {
        refusedWith('TRUNCATED', () => message(bytes.subarray(0, cut)));
      }
      const longer = new Uint8Array(bytes.length + 1);
      longer.set(bytes);
      refusedWith('TRAILING_BYTES', () => message(longer));
    });
  }

  test('MLSMessage with another protocol version or wire format', () => {
    const bytes = hex(entry.mls_key_package);
    refusedWith('UNSUPPORTED_VERSION', () => message(flip(bytes, 1, 1)));
    const wire = Uint8Array.from(bytes);
    wire[3] = 9;
    refusedWith('UNKNOWN_ENUM', () => message(wire));
  });

  test('variable-length integers: non-minimal, invalid prefix, oversize announcements', () => {
    for (const v of loadVectors('deserialization.json')) {
      const header = hex(v.vlbytes_header);
      if (header.length === 1) {
        // The same value in two bytes is not minimal.
        refusedWith('NON_MINIMAL_VARINT', () =>
          new Reader(Uint8Array.of(0x40, header[0]!)).varint(),
        );
      }
    }
    refusedWith('INVALID_VARINT', () =>
      new Reader(Uint8Array.of(0xc0, 0, 0, 0, 0, 0, 0, 1)).varint(),
    );
    // A vector announcing 2^30-1 bytes with 3 present is refused before anything is read.
    refusedWith('TRUNCATED', () =>
      new Reader(Uint8Array.of(0xbf, 0xff, 0xff, 0xff, 1, 2, 3)).opaque(),
    );
  });
});

describe('corrupted signatures and ciphertexts (crypto-basics.json)', () => {
  for (const entry of loadVectors('crypto-basics.json')) {
    test(`suite ${entry.cipher_suite}`, () => {
      const suite = cipherSuite(entry.cipher_suite, nodeCrypto);
      const s = entry.sign_with_label;
      const sig = hex(s.signature);
      for (const i of [0, sig.length - 1]) {
        assert.equal(
          verifyWithLabel(suite, hex(s.pub), s.label, hex(s.content), flip(sig, i)),
          false,
        );
      }
      assert.equal(
        verifyWithLabel(suite, hex(s.pub), s.label, hex(s.content), sig.subarray(1)),
        false,
      );
      const e = entry.encrypt_with_label;
      const decrypt = (kemOutput: Uint8Array, ciphertext: Uint8Array) =>
        decryptWithLabel(suite, hex(e.priv), e.label, hex(e.context), kemOutput, ciphertext);
      const ct = hex(e.ciphertext);
      refusedWith('AEAD_FAILURE', () => decrypt(hex(e.kem_output), flip(ct, 0)));
      refusedWith('AEAD_FAILURE', () => decrypt(hex(e.kem_output), flip(ct, ct.length - 1)));
      refusedWith('INVALID_KEY', () => decrypt(hex(e.kem_output).subarray(1), ct));
    });
  }
});

describe('corrupted protected messages (message-protection.json)', () => {
  for (const entry of loadVectors('message-protection.json')) {
    test(`suite ${entry.cipher_suite}`, () => {
      const suite = cipherSuite(entry.cipher_suite, nodeCrypto);
      const context: GroupContext = {
        version: 1,
        cipherSuite: entry.cipher_suite,
        groupId: hex(entry.group_id),
        epoch: BigInt(entry.epoch),
        treeHash: hex(entry.tree_hash),
        confirmedTranscriptHash: hex(entry.confirmed_transcript_hash),
        extensions: [],
      };
      const verify = (bytes: Uint8Array) => {
        const m = message(bytes);
        if (m.wireFormat !== 1) throw new Error('not public');
        checkGroupAndEpoch(m.publicMessage.content.groupId, m.publicMessage.content.epoch, context);
        return verifyPublicMessage(suite, m.publicMessage, {
          context,
          membershipKey: hex(entry.membership_key),
          signaturePublicKey: hex(entry.signature_pub),
        });
      };
      const pub = hex(entry.proposal_pub);
      verify(pub);
      // The membership tag is the last field; the signature comes before it.
      refusedWith('BAD_MEMBERSHIP_TAG', () => verify(flip(pub, pub.length - 1)));
      const sigAt = pub.length - 1 - suite.hash.size - 1 - 4;
      refusedWith('BAD_MEMBERSHIP_TAG', () => verify(flip(pub, sigAt)));
      refusedWith('WRONG_EPOCH', () => {
        const m = message(pub);
        if (m.wireFormat !== 1) throw new Error('not public');
        checkGroupAndEpoch(
          m.publicMessage.content.groupId,
          m.publicMessage.content.epoch + 1n,
          context,
        );
      });

      const decrypt = (bytes: Uint8Array) => {
        const m = message(bytes);
        if (m.wireFormat !== 2) throw new Error('not private');
        return decryptPrivateMessage(suite, m.privateMessage, {
          senderDataSecret: hex(entry.sender_data_secret),
          secretTree: createSecretTree(suite, hex(entry.encryption_secret), 2),
          context,
          senderSignatureKey: (leaf) => (leaf === 1 ? hex(entry.signature_pub) : undefined),
        });
      };
      const priv = hex(entry.application_priv);
      decrypt(priv);
      refusedWith('AEAD_FAILURE', () => decrypt(flip(priv, priv.length - 1)));
      // Flip a bit inside encrypted_sender_data (after the fixed header fields).
      const m = message(priv);
      if (m.wireFormat !== 2) throw new Error('not private');
      const badSender = {
        ...m.privateMessage,
        encryptedSenderData: flip(m.privateMessage.encryptedSenderData, 0),
      };
      refusedWith('AEAD_FAILURE', () =>
        decrypt(encode(mlsMessageCodec, { wireFormat: 2, privateMessage: badSender })),
      );
    });
  }
});

describe('corrupted trees (tree-validation.json)', () => {
  const entries = loadVectors('tree-validation.json').filter((e) => e.cipher_suite === 1);
  test('a flipped bit in a leaf signature, a tree hash, or a parent hash', () => {
    const suite = cipherSuite(1, nodeCrypto);
    for (const entry of entries.slice(0, 6)) {
      const nodes = decode(ratchetTreeCodec, hex(entry.tree));
      const tree = RatchetTree.fromNodeList(nodes);
      const root = hex(entry.tree_hashes[tree.root]);
      const ctx = { suite, groupId: hex(entry.group_id), treeHash: root, extensions: [] };
      validateRatchetTree(tree, ctx);
      refusedWith('BAD_TREE_HASH', () =>
        validateRatchetTree(tree, { ...ctx, treeHash: flip(root, 0) }),
      );
      const first = nodes.findIndex((n) => n?.nodeType === 1);
      const leafSlot = nodes[first]!;
      if (leafSlot.nodeType !== 1) continue;
      const badLeaf = {
        ...leafSlot,
        leaf: { ...leafSlot.leaf, signature: flip(leafSlot.leaf.signature, 3) },
      };
      const bad = RatchetTree.fromNodeList(nodes.map((n, i) => (i === first ? badLeaf : n)));
      // The tree hash changes with the leaf, so check against the corrupted tree's own hash.
      refusedWith('BAD_SIGNATURE', () =>
        validateRatchetTree(bad, { ...ctx, treeHash: treeHash(bad, suite.hash) }),
      );
      const parentAt = nodes.findIndex((n) => n?.nodeType === 2 && n.parent.parentHash.length > 0);
      if (parentAt < 0) continue;
      const parentSlot = nodes[parentAt]!;
      if (parentSlot.nodeType !== 2) continue;
      const badParent = {
        ...parentSlot,
        parent: { ...parentSlot.parent, parentHash: flip(parentSlot.parent.parentHash, 0) },
      };
      const badTree = RatchetTree.fromNodeList(
        nodes.map((n, i) => (i === parentAt ? badParent : n)),
      );
      refusedWith('BAD_PARENT_HASH', () =>
        validateRatchetTree(badTree, { ...ctx, treeHash: treeHash(badTree, suite.hash) }),
      );
    }
  });
});

describe('corrupted Welcomes and commits (welcome.json, passive-client-welcome.json)', () => {
  test('Welcome: flipped group info or secrets, another KeyPackage', () => {
    for (const entry of loadVectors('welcome.json')) {
      const kp = message(hex(entry.key_package));
      const w = message(hex(entry.welcome));
      if (kp.wireFormat !== 5 || w.wireFormat !== 3) throw new Error('bad vector');
      const bundle = { keyPackage: kp.keyPackage, initPrivateKey: hex(entry.init_priv) };
      const info = w.welcome.encryptedGroupInfo;
      refusedWith('AEAD_FAILURE', () =>
        openWelcome(
          nodeCrypto,
          { ...w.welcome, encryptedGroupInfo: flip(info, info.length - 1) },
          bundle,
        ),
      );
      const secrets = w.welcome.secrets.map((s) => ({
        ...s,
        encryptedGroupSecrets: {
          ...s.encryptedGroupSecrets,
          ciphertext: flip(s.encryptedGroupSecrets.ciphertext, 0),
        },
      }));
      refusedWith('AEAD_FAILURE', () => openWelcome(nodeCrypto, { ...w.welcome, secrets }, bundle));
      const others = w.welcome.secrets.map((s) => ({ ...s, newMember: flip(s.newMember, 0) }));
      refusedWith('NO_MATCHING_KEY_PACKAGE', () =>
        openWelcome(nodeCrypto, { ...w.welcome, secrets: others }, bundle),
      );
    }
  });

  test('passive client: a commit with a flipped bit is refused', () => {
    const entry = loadVectors('passive-client-handling-commit.json').find(
      (e) => e.cipher_suite === 1 && e.epochs.length > 0 && e.epochs[0].proposals.length === 0,
    );
    const suite = cipherSuite(1, nodeCrypto);
    const kp = message(hex(entry.key_package));
    const w = message(hex(entry.welcome));
    if (kp.wireFormat !== 5 || w.wireFormat !== 3) throw new Error('bad vector');
    const state = joinFromWelcome(
      nodeCrypto,
      w.welcome,
      {
        keyPackage: kp.keyPackage,
        ref: keyPackageRef(suite, kp.keyPackage),
        initPrivateKey: hex(entry.init_priv),
        encryptionPrivateKey: hex(entry.encryption_priv),
        signaturePrivateKey: hex(entry.signature_priv),
      },
      {
        psks: {
          external: (id) =>
            hex(
              entry.external_psks.find((p: { psk_id: string }) => p.psk_id === toHex(id))?.psk ??
                '',
            ),
        },
        ...(entry.ratchet_tree && {
          ratchetTree: decode(ratchetTreeCodec, hex(entry.ratchet_tree)),
        }),
      },
    );
    const commit = hex(entry.epochs[0].commit);
    assert.equal(processMessage(state, message(commit)).kind, 'commit');
    // The membership tag covers the whole commit, so a flip anywhere the decoder accepts is
    // caught there; the tag itself is the last field.
    refusedWith('BAD_MEMBERSHIP_TAG', () =>
      processMessage(state, message(flip(commit, commit.length - 1))),
    );
    refusedWith('BAD_MEMBERSHIP_TAG', () =>
      processMessage(state, message(flip(commit, commit.length - 40))),
    );
    assert.throws(() => processMessage(state, message(flip(commit, 20, 7))), MlsError);
  });
});
