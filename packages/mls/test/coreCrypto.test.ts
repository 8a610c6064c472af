/**
 * Interop with Wire's core-crypto 10.3.0 (@wireapp/core-crypto from npm, its WebAssembly build;
 * GPL-3.0, used by this test only and not shipped), issue 13 item 14: a conversation Wire
 * creates requires credential types basic and x509 in its `required_capabilities`, and a
 * Trellis client joins it by external commit from Wire's own GroupInfo.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  basicCredential,
  CredentialType,
  decode,
  encode,
  encryptApplication,
  ExtensionType,
  findExtension,
  joinByExternalCommit,
  mlsMessageCodec,
  nodeCrypto,
  processMessage,
  requiredCapabilitiesCodec,
  WireFormat,
} from '../src/index.js';
import { utf8 } from '../src/util/bytes.js';
import { WireClient, wireClientIdBytes } from './support/coreCrypto.js';

const CONVERSATION = utf8('trellis interop conversation');

describe('14. interop with Wire core-crypto 10.3.0', () => {
  test('14. a Trellis external commit into a Wire conversation (basic and x509 required) is accepted by Wire', async () => {
    const alice = await WireClient.create(1n);
    const infoBytes = await alice.createConversation(CONVERSATION);
    const message = decode(mlsMessageCodec, infoBytes);
    assert.equal(message.wireFormat, WireFormat.mls_group_info);
    if (message.wireFormat !== WireFormat.mls_group_info) return;
    const info = message.groupInfo;

    // What Wire requires of every member.
    const required = findExtension(
      info.groupContext.extensions,
      ExtensionType.required_capabilities,
    );
    assert.ok(required, 'Wire sets required_capabilities');
    assert.deepEqual(decode(requiredCapabilitiesCodec, required.extensionData).credentialTypes, [
      CredentialType.basic,
      CredentialType.x509,
    ]);

    // A Trellis device with a basic credential (named as Wire names devices, since Wire reads
    // the sender's client id from it) and no capabilities asked for.
    const joined = joinByExternalCommit(nodeCrypto, info, {
      credential: basicCredential(await wireClientIdBytes(2n)),
    });
    const epochBefore = await alice.epoch(CONVERSATION);
    assert.deepEqual(await alice.receive(CONVERSATION, encode(mlsMessageCodec, joined.commit)), {
      kind: 'commit',
    });
    assert.equal(await alice.epoch(CONVERSATION), epochBefore + 1n);
    let carol = joined.pending;
    assert.equal(carol.context.epoch, epochBefore + 1n);

    // Both sides are in the same epoch: each reads what the other encrypts.
    const fromCarol = encryptApplication(carol, utf8('hello from Trellis'));
    carol = fromCarol.state;
    assert.deepEqual(
      await alice.receive(CONVERSATION, encode(mlsMessageCodec, fromCarol.message)),
      { kind: 'text', text: 'hello from Trellis' },
    );
    const fromAlice = decode(mlsMessageCodec, await alice.send(CONVERSATION, 'hello from Wire'));
    const got = processMessage(carol, fromAlice);
    assert.equal(got.kind, 'application');
    if (got.kind === 'application') {
      assert.equal(new TextDecoder().decode(got.data), 'hello from Wire');
    }
  });
});
