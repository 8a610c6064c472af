/**
 * tree-operations.json: applying one Add, Update or Remove proposal (RFC 9420 §12.1.1–12.1.3) to
 * a tree gives exactly the expected tree, and both trees have the expected tree hashes.
 */
import { decode, encode } from '../../src/codec/index.js';
import type { CryptoProvider } from '../../src/crypto/provider.js';
import { cipherSuite } from '../../src/crypto/suites.js';
import { isCustomProposal, proposalCodec, ProposalType } from '../../src/messages/proposals.js';
import { ratchetTreeCodec } from '../../src/tree/nodes.js';
import { applyAdd, applyRemove, applyUpdate } from '../../src/tree/operations.js';
import { RatchetTree } from '../../src/tree/ratchetTree.js';
import { treeHash } from '../../src/tree/treeHash.js';
import { expect, expectEqual, expectHex, hex, type VectorSuite } from './harness.js';

interface TreeOperationsEntry {
  cipher_suite: number;
  tree_before: string;
  tree_hash_before: string;
  proposal: string;
  proposal_sender: number;
  tree_after: string;
  tree_hash_after: string;
}

const FIELDS = [
  'cipher_suite',
  'proposal',
  'proposal_sender',
  'tree_after',
  'tree_before',
  'tree_hash_after',
  'tree_hash_before',
];

const suite: VectorSuite = {
  file: 'tree-operations.json',
  check(entry: TreeOperationsEntry, provider: CryptoProvider) {
    expectEqual(Object.keys(entry).sort().join(), FIELDS.join(), 'entry fields');
    const { hash } = cipherSuite(entry.cipher_suite, provider);
    const before = RatchetTree.fromNodeList(decode(ratchetTreeCodec, hex(entry.tree_before)));
    expectHex(treeHash(before, hash), entry.tree_hash_before, 'tree hash before');

    // Only members send proposals; for an Update the sender is also the leaf it replaces.
    expect(before.leaf(entry.proposal_sender), `proposal sender ${entry.proposal_sender} is blank`);
    const proposal = decode(proposalCodec, hex(entry.proposal));
    if (isCustomProposal(proposal))
      throw new Error(`unexpected proposal type ${proposal.proposalType}`);
    let after: RatchetTree;
    switch (proposal.proposalType) {
      case ProposalType.add:
        after = applyAdd(before, proposal.keyPackage.leafNode).tree;
        break;
      case ProposalType.update:
        after = applyUpdate(before, entry.proposal_sender, proposal.leafNode);
        break;
      case ProposalType.remove:
        after = applyRemove(before, proposal.removed);
        break;
      default:
        throw new Error(`unexpected proposal type ${proposal.proposalType}`);
    }
    expectHex(encode(ratchetTreeCodec, after.toNodeList()), entry.tree_after, 'tree after');
    expectHex(treeHash(after, hash), entry.tree_hash_after, 'tree hash after');
    // The input tree is untouched.
    expectHex(encode(ratchetTreeCodec, before.toNodeList()), entry.tree_before, 'tree before kept');
  },
};
export default suite;
