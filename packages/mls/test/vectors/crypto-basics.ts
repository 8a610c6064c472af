/**
 * crypto-basics.json: RefHash, ExpandWithLabel, DeriveSecret, DeriveTreeSecret, SignWithLabel and
 * EncryptWithLabel for one cipher suite per entry. Every given value is checked, and signatures
 * and ciphertexts are also produced anew and checked back.
 */
import {
  decryptWithLabel,
  deriveSecret,
  deriveTreeSecret,
  encryptWithLabel,
  expandWithLabel,
  refHash,
  signWithLabel,
  verifyWithLabel,
} from '../../src/crypto/labels.js';
import { SignatureScheme } from '../../src/crypto/provider.js';
import { cipherSuite } from '../../src/crypto/suites.js';
import { MlsError } from '../../src/errors.js';
import { bytesEqual, utf8 } from '../../src/util/bytes.js';
import { expect, expectHex, hex, type VectorSuite } from './harness.js';

const suite: VectorSuite = {
  file: 'crypto-basics.json',
  check(entry, provider) {
    const cs = cipherSuite(entry.cipher_suite, provider);

    const rh = entry.ref_hash;
    expectHex(refHash(cs, rh.label, hex(rh.value)), rh.out, 'ref_hash');

    const ewl = entry.expand_with_label;
    expectHex(
      expandWithLabel(cs, hex(ewl.secret), ewl.label, hex(ewl.context), ewl.length),
      ewl.out,
      'expand_with_label',
    );

    const ds = entry.derive_secret;
    expectHex(deriveSecret(cs, hex(ds.secret), ds.label), ds.out, 'derive_secret');

    const dts = entry.derive_tree_secret;
    expectHex(
      deriveTreeSecret(cs, hex(dts.secret), dts.label, dts.generation, dts.length),
      dts.out,
      'derive_tree_secret',
    );

    const swl = entry.sign_with_label;
    const signPriv = hex(swl.priv);
    const signPub = hex(swl.pub);
    const content = hex(swl.content);
    expectHex(cs.signature.publicKey(signPriv), swl.pub, 'sign_with_label: public key of priv');
    expect(
      verifyWithLabel(cs, signPub, swl.label, content, hex(swl.signature)),
      'sign_with_label: the given signature does not verify',
    );
    expect(
      !verifyWithLabel(cs, signPub, swl.label + '!', content, hex(swl.signature)),
      'sign_with_label: the given signature verifies under another label',
    );
    const fresh = signWithLabel(cs, signPriv, swl.label, content);
    expect(
      verifyWithLabel(cs, signPub, swl.label, content, fresh),
      'sign_with_label: a new signature does not verify',
    );
    const scheme = cs.signature.scheme;
    if (scheme === SignatureScheme.ED25519 || scheme === SignatureScheme.ED448) {
      // EdDSA is deterministic: the new signature must be the vector's, byte for byte.
      expectHex(fresh, swl.signature, 'sign_with_label: EdDSA signature');
    }

    const ewl2 = entry.encrypt_with_label;
    const encPriv = hex(ewl2.priv);
    const encPub = hex(ewl2.pub);
    const context = hex(ewl2.context);
    const plaintext = hex(ewl2.plaintext);
    expectHex(cs.kem.publicKey(encPriv), ewl2.pub, 'encrypt_with_label: public key of priv');
    expectHex(
      decryptWithLabel(
        cs,
        encPriv,
        ewl2.label,
        context,
        hex(ewl2.kem_output),
        hex(ewl2.ciphertext),
      ),
      ewl2.plaintext,
      'encrypt_with_label: decrypting the given ciphertext',
    );
    const sealed = encryptWithLabel(cs, encPub, ewl2.label, context, plaintext);
    expect(
      !bytesEqual(sealed.kemOutput, hex(ewl2.kem_output)),
      'encrypt_with_label: a new encryption reused the vector ephemeral key',
    );
    expectHex(
      decryptWithLabel(cs, encPriv, ewl2.label, context, sealed.kemOutput, sealed.ciphertext),
      ewl2.plaintext,
      'encrypt_with_label: decrypting a new ciphertext',
    );
    let otherContext: unknown = 'opened';
    try {
      decryptWithLabel(cs, encPriv, ewl2.label, utf8('other'), sealed.kemOutput, sealed.ciphertext);
    } catch (e) {
      otherContext = e;
    }
    expect(
      otherContext instanceof MlsError && otherContext.code === 'AEAD_FAILURE',
      `encrypt_with_label: another context must fail with AEAD_FAILURE, got ${String(otherContext)}`,
    );
  },
};

export default suite;
