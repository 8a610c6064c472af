/**
 * messages.json: every wire structure decodes from the given bytes and re-encodes to exactly
 * the same bytes.
 */
import { decode, encode, type Codec } from '../../src/codec/index.js';
import { commitCodec } from '../../src/messages/commit.js';
import { mlsMessageCodec } from '../../src/framing/mlsMessage.js';
import {
  addCodec,
  externalInitCodec,
  groupContextExtensionsCodec,
  preSharedKeyCodec,
  reInitCodec,
  removeCodec,
  updateCodec,
} from '../../src/messages/proposals.js';
import { groupSecretsCodec } from '../../src/messages/welcome.js';
import { ratchetTreeCodec } from '../../src/tree/nodes.js';
import { WireFormat } from '../../src/framing/content.js';
import { expectEqual, expectHex, hex, type VectorSuite } from './harness.js';

const FIELDS: Record<string, [Codec<any>, number?]> = {
  mls_welcome: [mlsMessageCodec, WireFormat.mls_welcome],
  mls_group_info: [mlsMessageCodec, WireFormat.mls_group_info],
  mls_key_package: [mlsMessageCodec, WireFormat.mls_key_package],
  ratchet_tree: [ratchetTreeCodec],
  group_secrets: [groupSecretsCodec],
  add_proposal: [addCodec],
  update_proposal: [updateCodec],
  remove_proposal: [removeCodec],
  pre_shared_key_proposal: [preSharedKeyCodec],
  re_init_proposal: [reInitCodec],
  external_init_proposal: [externalInitCodec],
  group_context_extensions_proposal: [groupContextExtensionsCodec],
  commit: [commitCodec],
  public_message_application: [mlsMessageCodec, WireFormat.mls_public_message],
  public_message_proposal: [mlsMessageCodec, WireFormat.mls_public_message],
  public_message_commit: [mlsMessageCodec, WireFormat.mls_public_message],
  private_message: [mlsMessageCodec, WireFormat.mls_private_message],
};

const suite: VectorSuite = {
  file: 'messages.json',
  check(entry) {
    const names = Object.keys(entry);
    expectEqual(names.length, Object.keys(FIELDS).length, 'number of fields');
    for (const name of names) {
      const field = FIELDS[name];
      if (!field) throw new Error(`unexpected field ${name}`);
      const [codec, wireFormat] = field;
      const value = decode(codec, hex(entry[name]));
      if (wireFormat !== undefined)
        expectEqual(value.wireFormat, wireFormat, `${name} wire format`);
      expectHex(encode(codec, value), entry[name], `${name} re-encoded`);
    }
  },
};
export default suite;
