/**
 * treekem.json (RFC 9420 §7.4–7.6): for each tree with the private state of some leaves,
 * - the tree's parent hashes, unmerged leaves and leaf signatures are valid, and each leaf's
 *   private keys and path secrets match the public keys in the tree;
 * - each given UpdatePath, processed by every other leaf with private state, yields the given
 *   path secret at the common ancestor, commit secret and new tree hash;
 * - a fresh UpdatePath from the same sender is decrypted by every other leaf to the committer's
 *   commit secret and tree.
 */
import { decode, encode } from '../../src/codec/index.js';
import type { CryptoProvider } from '../../src/crypto/provider.js';
import { cipherSuite, type CipherSuite } from '../../src/crypto/suites.js';
import { ProtocolVersion } from '../../src/framing/content.js';
import { groupContextCodec } from '../../src/messages/groupContext.js';
import { updatePathCodec } from '../../src/messages/updatePath.js';
import { leafNodeSignatureValid } from '../../src/tree/leafNodeValidation.js';
import * as math from '../../src/tree/math.js';
import { ratchetTreeCodec } from '../../src/tree/nodes.js';
import { verifyParentHashes } from '../../src/tree/parentHash.js';
import { PrivateKeys } from '../../src/tree/privateKeys.js';
import { RatchetTree } from '../../src/tree/ratchetTree.js';
import {
  createUpdatePath,
  decryptUpdatePath,
  mergeUpdatePath,
  nodeKeyPair,
  type UpdatePathContext,
} from '../../src/tree/treekem.js';
import { checkUnmergedLeaves } from '../../src/tree/validation.js';
import { bytesEqual, toHex } from '../../src/util/bytes.js';
import { expect, expectEqual, expectHex, hex, type VectorSuite } from './harness.js';

interface LeafPrivate {
  index: number;
  encryption_priv: string;
  signature_priv: string;
  path_secrets: { node: number; path_secret: string }[];
}

interface UpdatePathEntry {
  sender: number;
  update_path: string;
  path_secrets: (string | null)[];
  commit_secret: string;
  tree_hash_after: string;
}

interface TreeKemEntry {
  cipher_suite: number;
  group_id: string;
  epoch: number;
  confirmed_transcript_hash: string;
  ratchet_tree: string;
  leaves_private: LeafPrivate[];
  update_paths: UpdatePathEntry[];
}

const FIELDS = [
  'cipher_suite',
  'confirmed_transcript_hash',
  'epoch',
  'group_id',
  'leaves_private',
  'ratchet_tree',
  'update_paths',
];

/** A leaf's private state, checked against the tree. */
function loadPrivateState(cs: CipherSuite, tree: RatchetTree, info: LeafPrivate): PrivateKeys {
  const leaf = tree.leaf(info.index);
  expect(leaf, `leaf ${info.index} with private state is blank`);
  const encryptionPriv = hex(info.encryption_priv);
  expectHex(
    leaf.encryptionKey,
    toHex(cs.kem.publicKey(encryptionPriv)),
    `leaf ${info.index} encryption key`,
  );
  const signaturePriv = hex(info.signature_priv);
  expectHex(
    leaf.signatureKey,
    toHex(cs.signature.publicKey(signaturePriv)),
    `leaf ${info.index} signature key`,
  );

  let keys = PrivateKeys.forLeaf(info.index, {
    privateKey: encryptionPriv,
    publicKey: leaf.encryptionKey,
  });
  const directPath = tree.directPath(info.index);
  for (const { node, path_secret } of info.path_secrets) {
    expect(
      directPath.includes(node),
      `leaf ${info.index} has a path secret for node ${node}, not above it`,
    );
    const pair = nodeKeyPair(cs, hex(path_secret));
    const publicKey = tree.encryptionKey(node);
    expect(
      publicKey && bytesEqual(publicKey, pair.publicKey),
      `leaf ${info.index}: path secret of node ${node} does not match its key`,
    );
    keys = keys.with([[node, pair]]);
  }
  return keys;
}

const suite: VectorSuite = {
  file: 'treekem.json',
  check(entry: TreeKemEntry, provider: CryptoProvider) {
    expectEqual(Object.keys(entry).sort().join(), FIELDS.join(), 'entry fields');
    const cs = cipherSuite(entry.cipher_suite, provider);
    const groupId = hex(entry.group_id);
    const tree = RatchetTree.fromNodeList(decode(ratchetTreeCodec, hex(entry.ratchet_tree)));

    // The public state.
    checkUnmergedLeaves(tree);
    verifyParentHashes(tree, cs.hash);
    for (const [index, leaf] of tree.members()) {
      expect(leafNodeSignatureValid(cs, leaf, groupId, index), `leaf ${index} signature`);
    }

    // The private state.
    const privateKeys = new Map<number, PrivateKeys>();
    const signatureKeys = new Map<number, Uint8Array>();
    for (const info of entry.leaves_private) {
      expect(!privateKeys.has(info.index), `leaf ${info.index} has private state twice`);
      privateKeys.set(info.index, loadPrivateState(cs, tree, info));
      signatureKeys.set(info.index, hex(info.signature_priv));
    }

    const context: Omit<UpdatePathContext, 'newMembers'> = {
      suite: cs,
      groupId,
      provisionalGroupContext: (treeHash) =>
        encode(groupContextCodec, {
          version: ProtocolVersion.mls10,
          cipherSuite: entry.cipher_suite,
          groupId,
          epoch: BigInt(entry.epoch),
          treeHash,
          confirmedTranscriptHash: hex(entry.confirmed_transcript_hash),
          extensions: [],
        }),
    };

    for (const [n, up] of entry.update_paths.entries()) {
      const what = `update path ${n} from ${up.sender}`;
      const updatePath = decode(updatePathCodec, hex(up.update_path));
      const input = { ...context, tree, senderLeafIndex: up.sender, updatePath, extensions: [] };

      const merged = mergeUpdatePath(input);
      expectHex(merged.treeHash, up.tree_hash_after, `${what}: tree hash after`);
      verifyParentHashes(merged.tree, cs.hash);

      expectEqual(up.path_secrets.length, tree.leafCount, `${what}: number of path secrets`);
      up.path_secrets.forEach((expected, leafIndex) => {
        const keys = privateKeys.get(leafIndex);
        if (leafIndex === up.sender || keys === undefined) {
          expectEqual(expected, null, `${what}: path secret for leaf ${leafIndex}`);
          return;
        }
        expect(expected !== null, `${what}: no path secret given for leaf ${leafIndex}`);
        const applied = decryptUpdatePath(cs, merged, keys);
        const ancestor = math.commonAncestor(
          math.leafToNode(leafIndex),
          math.leafToNode(up.sender),
        );
        const first = applied.pathSecrets[0];
        expectEqual(
          first?.node,
          ancestor,
          `${what}: leaf ${leafIndex} decrypts at the common ancestor`,
        );
        expectHex(first!.pathSecret, expected, `${what}: path secret for leaf ${leafIndex}`);
        expectHex(
          applied.commitSecret,
          up.commit_secret,
          `${what}: commit secret at leaf ${leafIndex}`,
        );
      });

      // A fresh path from the same sender, processed by everyone else.
      const sender = tree.leaf(up.sender);
      const signaturePriv = signatureKeys.get(up.sender);
      expect(sender && signaturePriv, `${what}: sender has no leaf or private state`);
      const created = createUpdatePath({
        ...context,
        tree,
        leafIndex: up.sender,
        leafNode: sender,
        signaturePrivateKey: signaturePriv,
      });
      verifyParentHashes(created.tree, cs.hash);
      const received = mergeUpdatePath({ ...input, updatePath: created.updatePath });
      expectHex(received.treeHash, toHex(created.treeHash), `${what}: fresh path tree hash`);
      for (const [leafIndex, keys] of privateKeys) {
        if (leafIndex === up.sender) continue;
        const applied = decryptUpdatePath(cs, received, keys);
        const fresh = `${what}: fresh path at leaf ${leafIndex}`;
        expectHex(applied.commitSecret, toHex(created.commitSecret), `${fresh}: commit secret`);
        const own = created.pathSecrets.find((p) => p.node === applied.pathSecrets[0]?.node);
        expect(own, `${fresh}: decrypted at a node off the path`);
        expectHex(
          applied.pathSecrets[0]!.pathSecret,
          toHex(own.pathSecret),
          `${fresh}: path secret`,
        );
      }
    }
  },
};
export default suite;
