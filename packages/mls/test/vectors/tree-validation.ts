/**
 * tree-validation.json: for each tree, the tree hash and resolution of every node, and that the
 * tree passes the joiner's checks of RFC 9420 §12.4.3.1, which include parent-hash validity and
 * every leaf's signature under the entry's group id.
 */
import { decode } from '../../src/codec/index.js';
import type { CryptoProvider } from '../../src/crypto/provider.js';
import { cipherSuite } from '../../src/crypto/suites.js';
import { ratchetTreeCodec } from '../../src/tree/nodes.js';
import { RatchetTree } from '../../src/tree/ratchetTree.js';
import { treeHash } from '../../src/tree/treeHash.js';
import { validateRatchetTree } from '../../src/tree/validation.js';
import { expectEqual, expectHex, hex, type VectorSuite } from './harness.js';

interface TreeValidationEntry {
  cipher_suite: number;
  tree: string;
  group_id: string;
  tree_hashes: string[];
  resolutions: number[][];
}

const FIELDS = ['cipher_suite', 'tree', 'group_id', 'tree_hashes', 'resolutions'];

const suite: VectorSuite = {
  file: 'tree-validation.json',
  check(entry: TreeValidationEntry, provider: CryptoProvider) {
    expectEqual(Object.keys(entry).sort().join(), [...FIELDS].sort().join(), 'entry fields');
    const cs = cipherSuite(entry.cipher_suite, provider);
    const tree = RatchetTree.fromNodeList(decode(ratchetTreeCodec, hex(entry.tree)));

    expectEqual(entry.tree_hashes.length, tree.nodeCount, 'number of tree hashes');
    entry.tree_hashes.forEach((expected, node) => {
      expectHex(treeHash(tree, cs.hash, node), expected, `tree hash of node ${node}`);
    });

    expectEqual(entry.resolutions.length, tree.nodeCount, 'number of resolutions');
    entry.resolutions.forEach((expected, node) => {
      expectEqual(tree.resolution(node).join(), expected.join(), `resolution of node ${node}`);
    });

    validateRatchetTree(tree, {
      suite: cs,
      groupId: hex(entry.group_id),
      treeHash: hex(entry.tree_hashes[tree.root]!),
      extensions: [],
    });
  },
};
export default suite;
