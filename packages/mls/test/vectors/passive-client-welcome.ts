/**
 * The passive-client vectors (passive-client-welcome, -handling-commit, -random): a client joins
 * from a Welcome with the given KeyPackage and keys, then processes every epoch's proposals and
 * commit; after the join and after each commit its epoch authenticator must be the one given.
 */
import { decode } from '../../src/codec/index.js';
import type { CryptoProvider } from '../../src/crypto/provider.js';
import { cipherSuite } from '../../src/crypto/suites.js';
import { WireFormat } from '../../src/framing/content.js';
import { mlsMessageCodec, type MlsMessage } from '../../src/framing/mlsMessage.js';
import { keyPackageRef } from '../../src/group/keyPackage.js';
import { processMessage } from '../../src/group/process.js';
import { epochAuthenticator } from '../../src/group/send.js';
import type { GroupState } from '../../src/group/state.js';
import { joinFromWelcome } from '../../src/group/welcome.js';
import { ratchetTreeCodec } from '../../src/tree/nodes.js';
import { toHex } from '../../src/util/bytes.js';
import { expect, expectEqual, expectHex, hex, type VectorSuite } from './harness.js';

interface PassiveClientEntry {
  cipher_suite: number;
  external_psks: { psk_id: string; psk: string }[];
  key_package: string;
  signature_priv: string;
  encryption_priv: string;
  init_priv: string;
  welcome: string;
  ratchet_tree: string | null;
  initial_epoch_authenticator: string;
  epochs: { proposals: string[]; commit: string; epoch_authenticator: string }[];
}

function message(bytes: string): MlsMessage {
  return decode(mlsMessageCodec, hex(bytes));
}

export function checkPassiveClient(entry: PassiveClientEntry, provider: CryptoProvider): void {
  const suite = cipherSuite(entry.cipher_suite, provider);
  const kpMessage = message(entry.key_package);
  const welcomeMessage = message(entry.welcome);
  expect(kpMessage.wireFormat === WireFormat.mls_key_package, 'key_package is a KeyPackage');
  expect(welcomeMessage.wireFormat === WireFormat.mls_welcome, 'welcome is a Welcome');
  const keyPackage = kpMessage.keyPackage;
  const externalPsks = new Map(entry.external_psks.map((p) => [p.psk_id, hex(p.psk)]));
  const pskSource = { external: (id: Uint8Array) => externalPsks.get(toHex(id)) };

  let state: GroupState = joinFromWelcome(
    provider,
    welcomeMessage.welcome,
    {
      keyPackage,
      ref: keyPackageRef(suite, keyPackage),
      initPrivateKey: hex(entry.init_priv),
      encryptionPrivateKey: hex(entry.encryption_priv),
      signaturePrivateKey: hex(entry.signature_priv),
    },
    {
      psks: pskSource,
      ...(entry.ratchet_tree !== null && {
        ratchetTree: decode(ratchetTreeCodec, hex(entry.ratchet_tree)),
      }),
    },
  );
  expectHex(
    epochAuthenticator(state),
    entry.initial_epoch_authenticator,
    'epoch authenticator after join',
  );

  entry.epochs.forEach((epoch, i) => {
    for (const proposal of epoch.proposals) {
      const r = processMessage(state, message(proposal), { pskSource });
      expectEqual(r.kind, 'proposal', `epoch ${i}: proposal message kind`);
      if (r.kind === 'proposal') state = r.state;
    }
    const r = processMessage(state, message(epoch.commit), { pskSource });
    expectEqual(r.kind, 'commit', `epoch ${i}: commit outcome`);
    if (r.kind !== 'commit') return;
    state = r.state;
    expectHex(epochAuthenticator(state), epoch.epoch_authenticator, `epoch ${i} authenticator`);
  });
}

const suite: VectorSuite = { file: 'passive-client-welcome.json', check: checkPassiveClient };
export default suite;
