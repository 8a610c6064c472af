/**
 * `nodeCrypto` with every random choice drawn from `randomBytes`: key pairs are derived from
 * its bytes, and HPKE encapsulations get an ephemeral key from it. Not secure, only
 * reproducible: the same bytes give the same keys, secrets and nonces. Shared by the fuzz
 * fixtures and the dMLS simulation.
 */
import { nodeCrypto } from '../../src/crypto/node.js';
import type { CryptoProvider, Kem, Signature } from '../../src/crypto/provider.js';

export function providerWithRandom(
  name: string,
  randomBytes: (length: number) => Uint8Array,
): CryptoProvider {
  const kems = new Map<number, Kem>();
  const signatures = new Map<number, Signature>();
  return {
    ...nodeCrypto,
    name,
    randomBytes,
    kem(id) {
      let kem = kems.get(id);
      if (!kem) {
        const base = nodeCrypto.kem(id);
        kem = {
          ...base,
          generateKeyPair: () => base.deriveKeyPair(randomBytes(base.privateKeySize)),
          encap: (publicKey, ikmE) =>
            base.encap(publicKey, ikmE ?? randomBytes(base.privateKeySize)),
        };
        kems.set(id, kem);
      }
      return kem;
    },
    signature(scheme) {
      let signature = signatures.get(scheme);
      if (!signature) {
        const base = nodeCrypto.signature(scheme);
        signature = {
          ...base,
          // Ed25519 (the suites these tools use) takes any 32 bytes as a private key.
          generateKeyPair: () => {
            const privateKey = randomBytes(32);
            return { privateKey, publicKey: base.publicKey(privateKey) };
          },
        };
        signatures.set(scheme, signature);
      }
      return signature;
    },
  };
}
