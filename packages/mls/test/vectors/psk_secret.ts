/**
 * psk_secret.json (RFC 9420 §8.4): a list of external PSKs with their ids and nonces chains into
 * the given psk_secret; an empty list gives the zero vector.
 */
import { cipherSuite } from '../../src/crypto/suites.js';
import { PskType } from '../../src/messages/preSharedKeyId.js';
import { pskSecret, type PskInput } from '../../src/psk.js';
import { expectHex, hex, type VectorSuite } from './harness.js';

const suite: VectorSuite = {
  file: 'psk_secret.json',
  check(entry, provider) {
    const cs = cipherSuite(entry.cipher_suite, provider);
    const psks: PskInput[] = entry.psks.map((p: any) => ({
      id: { pskType: PskType.external, pskId: hex(p.psk_id), pskNonce: hex(p.psk_nonce) },
      psk: hex(p.psk),
    }));
    expectHex(pskSecret(cs, psks), entry.psk_secret, 'psk_secret');
  },
};
export default suite;
