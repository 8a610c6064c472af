/**
 * secret-tree.json (RFC 9420 §6.3.2, §9): the sender-data key and nonce for a ciphertext sample,
 * and for every leaf the handshake and application keys and nonces at each listed generation,
 * taken in order from one secret tree (skipping the generations in between).
 */
import { cipherSuite } from '../../src/crypto/suites.js';
import { senderDataKeyAndNonce } from '../../src/framing/privateMessage.js';
import { createSecretTree, takeKey, type RatchetType } from '../../src/secretTree.js';
import { expectHex, hex, type VectorSuite } from './harness.js';

const suite: VectorSuite = {
  file: 'secret-tree.json',
  check(entry, provider) {
    const cs = cipherSuite(entry.cipher_suite, provider);
    const sd = entry.sender_data;
    const senderData = senderDataKeyAndNonce(cs, hex(sd.sender_data_secret), hex(sd.ciphertext));
    expectHex(senderData.key, sd.key, 'sender data key');
    expectHex(senderData.nonce, sd.nonce, 'sender data nonce');

    const leafCount: number = entry.leaves.length;
    let tree = createSecretTree(cs, hex(entry.encryption_secret), leafCount);
    entry.leaves.forEach((generations: any[], leaf: number) => {
      for (const g of generations) {
        for (const type of ['handshake', 'application'] as RatchetType[]) {
          const taken = takeKey(tree, leaf, type, g.generation);
          expectHex(taken.key, g[`${type}_key`], `leaf ${leaf} ${type} key ${g.generation}`);
          expectHex(taken.nonce, g[`${type}_nonce`], `leaf ${leaf} ${type} nonce ${g.generation}`);
          tree = taken.tree;
        }
      }
    });
  },
};
export default suite;
