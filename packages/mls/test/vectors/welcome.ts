/**
 * welcome.json: a Welcome for the given KeyPackage decrypts with init_priv; its GroupInfo is
 * signed by signer_pub and carries the confirmation tag its key schedule yields.
 */
import { decode } from '../../src/codec/index.js';
import { cipherSuite } from '../../src/crypto/suites.js';
import { WireFormat } from '../../src/framing/content.js';
import { mlsMessageCodec } from '../../src/framing/mlsMessage.js';
import { verifyGroupInfoSignature } from '../../src/group/groupInfo.js';
import { openWelcome } from '../../src/group/welcome.js';
import { verifyConfirmationTag } from '../../src/keySchedule.js';
import { expect, expectEqual, hex, type VectorSuite } from './harness.js';

const suite: VectorSuite = {
  file: 'welcome.json',
  check(entry, provider) {
    const kpMessage = decode(mlsMessageCodec, hex(entry.key_package));
    const welcomeMessage = decode(mlsMessageCodec, hex(entry.welcome));
    expect(kpMessage.wireFormat === WireFormat.mls_key_package, 'key_package is a KeyPackage');
    expect(welcomeMessage.wireFormat === WireFormat.mls_welcome, 'welcome is a Welcome');
    expectEqual(kpMessage.keyPackage.cipherSuite, entry.cipher_suite, 'KeyPackage suite');
    const opened = openWelcome(provider, welcomeMessage.welcome, {
      keyPackage: kpMessage.keyPackage,
      initPrivateKey: hex(entry.init_priv),
    });
    const cs = cipherSuite(entry.cipher_suite, provider);
    verifyGroupInfoSignature(cs, opened.groupInfo, hex(entry.signer_pub));
    verifyConfirmationTag(
      cs,
      opened.keySchedule.secrets.confirmationKey,
      opened.groupInfo.groupContext.confirmedTranscriptHash,
      opened.groupInfo.confirmationTag,
    );
  },
};
export default suite;
