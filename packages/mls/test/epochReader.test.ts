import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CIPHER_SUITES,
  CredentialType,
  createCommit,
  createEpochReader,
  deserializeEpochReader,
  epochReaderFromState,
  serializeEpochReader,
  encryptApplication,
  members,
  nodeCrypto,
  processMessage,
  proposeUpdate,
  WireFormat,
  type EpochReader,
  type EpochReaderOptions,
  type GroupState,
  type MlsMessage,
} from '../src/index.js';
import { utf8 } from '../src/util/bytes.js';
import { PROVIDERS } from './providers.js';
import { commitAll, expectMlsError, groupOf, suiteFor } from './support/clients.js';

const suite = suiteFor(1, nodeCrypto);
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** A reader from exactly what a backup keeps of a state's epoch. */
function readerOf(state: GroupState, options?: EpochReaderOptions): EpochReader {
  return createEpochReader(
    {
      suite: state.suite,
      context: state.context,
      senderDataSecret: state.secrets.senderDataSecret,
      encryptionSecret: state.secrets.encryptionSecret,
      leafCount: state.tree.leafCount,
      members: members(state),
    },
    options,
  );
}

/** `count` messages from each state in turn, as [sender index, text, message]. */
function talk(states: GroupState[], count: number): [number, string, MlsMessage][] {
  const sent: [number, string, MlsMessage][] = [];
  for (let i = 0; i < count; i++) {
    const who = i % states.length;
    const words = `message ${i} from ${who}`;
    const out = encryptApplication(states[who]!, utf8(words), {
      authenticatedData: utf8(`ad ${i}`),
    });
    states[who] = out.state;
    sent.push([who, words, out.message]);
  }
  return sent;
}

describe('epoch reader', () => {
  for (const provider of PROVIDERS) {
    for (const { id, name } of CIPHER_SUITES.values()) {
      test(`${provider.name} ${name}: reads every member's messages`, () => {
        const states = groupOf(suiteFor(id, provider), ['alice', 'bob', 'carol']);
        const sent = talk(states, 6);
        let reader = readerOf(states[0]!);
        for (const [who, words, message] of sent) {
          const read = reader.decrypt(message);
          assert.equal(text(read.data), words);
          assert.equal(read.senderLeaf, states[who]!.ownLeaf);
          const { credential } = read.sender;
          assert.ok(credential.credentialType === CredentialType.basic);
          assert.equal(text(credential.identity), ['alice', 'bob', 'carol'][who]);
          reader = read.reader;
        }
      });
    }
  }

  test('reads a whole epoch in any order, beyond the group state’s reordering window', () => {
    const states = groupOf(suite, ['alice', 'bob']);
    // 600 messages from one sender: more than a group state's out-of-order tolerance (128).
    const sent = talk(states.slice(0, 1), 600).reverse();
    const state = states[1]!;
    expectMlsError(() => {
      let s = state;
      for (const [, , message] of sent) {
        const r = processMessage(s, message);
        assert.equal(r.kind, 'application');
        s = (r as { state: GroupState }).state;
      }
    }, 'GENERATION_TOO_OLD');

    let reader = readerOf(state);
    const seen: string[] = [];
    for (const [, words, message] of sent) {
      const read = reader.decrypt(message);
      seen.push(text(read.data));
      assert.equal(text(read.data), words);
      reader = read.reader;
    }
    assert.equal(seen.length, 600);
  });

  test('is immutable: the next reader refuses a used key, the old one still reads it', () => {
    const states = groupOf(suite, ['alice', 'bob']);
    const [[, words, message]] = talk(states, 1) as [[number, string, MlsMessage]];
    const reader = readerOf(states[1]!);
    const read = reader.decrypt(message);
    expectMlsError(() => read.reader.decrypt(message), 'GENERATION_REUSED');
    assert.equal(text(reader.decrypt(message).data), words);
    assert.equal(text(read.authenticatedData), 'ad 0');
    assert.equal(read.generation, 0);
    assert.ok(Object.isFrozen(reader));
  });

  test('refuses handshake messages and other wire formats', () => {
    const config = { encryptHandshake: true };
    const states = groupOf(suite, ['alice', 'bob']);
    const [a, b] = states.map((s) => ({ ...s, config: { ...s.config, ...config } })) as [
      GroupState,
      GroupState,
    ];
    const reader = readerOf(a);

    const proposal = proposeUpdate(b);
    assert.equal(proposal.message.wireFormat, WireFormat.mls_private_message);
    expectMlsError(() => reader.decrypt(proposal.message), 'WRONG_CONTENT_TYPE');

    const privateCommit = createCommit(a, { forcePath: true });
    assert.equal(privateCommit.commit.wireFormat, WireFormat.mls_private_message);
    expectMlsError(() => reader.decrypt(privateCommit.commit), 'WRONG_CONTENT_TYPE');

    const publicCommit = createCommit(a, { forcePath: true, encrypt: false });
    assert.equal(publicCommit.commit.wireFormat, WireFormat.mls_public_message);
    expectMlsError(() => reader.decrypt(publicCommit.commit), 'WRONG_WIRE_FORMAT');

    const groupInfo: MlsMessage = {
      wireFormat: WireFormat.mls_group_info,
      groupInfo: publicCommit.groupInfo,
    };
    expectMlsError(() => reader.decrypt(groupInfo), 'WRONG_WIRE_FORMAT');
  });

  test('refuses other groups and epochs', () => {
    const states = groupOf(suite, ['alice', 'bob']);
    const other = groupOf(suite, ['alice', 'bob']);
    const reader = readerOf(states[1]!);
    expectMlsError(() => reader.decrypt(talk(other, 1)[0]![2]), 'WRONG_GROUP');
    const next = commitAll(states, 0, { forcePath: true }).states as GroupState[];
    expectMlsError(() => reader.decrypt(talk(next, 1)[0]![2]), 'WRONG_EPOCH');
  });

  test('verifies the sender: blank leaf, wrong signature key, wrong secrets', () => {
    const states = groupOf(suite, ['alice', 'bob', 'carol']);
    const sent = talk(states, 2);
    const fromBob = sent[1]![2];
    const state = states[0]!;
    const all = members(state);
    const input = {
      suite,
      context: state.context,
      senderDataSecret: state.secrets.senderDataSecret,
      encryptionSecret: state.secrets.encryptionSecret,
      leafCount: state.tree.leafCount,
      members: all,
    };

    const withoutBob = createEpochReader({ ...input, members: all.filter(([i]) => i !== 1) });
    expectMlsError(() => withoutBob.decrypt(fromBob), 'REMOVED_SENDER');

    // Bob's leaf replaced by Carol's: the signature does not verify under Carol's key.
    const swapped = createEpochReader({
      ...input,
      members: all.map(([i, leaf]) => [i, i === 1 ? all[2]![1] : leaf] as const),
    });
    expectMlsError(() => swapped.decrypt(fromBob), 'BAD_SIGNATURE');

    const wrongEncryption = createEpochReader({
      ...input,
      encryptionSecret: state.secrets.exporterSecret,
    });
    expectMlsError(() => wrongEncryption.decrypt(fromBob), 'AEAD_FAILURE');
    const wrongSenderData = createEpochReader({
      ...input,
      senderDataSecret: state.secrets.exporterSecret,
    });
    expectMlsError(() => wrongSenderData.decrypt(fromBob), 'AEAD_FAILURE');
  });

  test('checks its input', () => {
    const [state] = groupOf(suite, ['alice', 'bob', 'carol']) as [GroupState];
    const input = {
      suite,
      context: state.context,
      senderDataSecret: state.secrets.senderDataSecret,
      encryptionSecret: state.secrets.encryptionSecret,
      leafCount: state.tree.leafCount,
      members: members(state),
    };
    const bad = [
      { suite: suiteFor(3, nodeCrypto) },
      { context: { ...state.context, version: 2 } },
      { senderDataSecret: new Uint8Array(31) },
      { encryptionSecret: new Uint8Array(33) },
      { leafCount: 3 },
      { leafCount: 0 },
      { members: [[4, members(state)[0]![1]] as const] },
      { members: [...members(state), members(state)[0]!] },
    ];
    for (const change of bad) {
      expectMlsError(() => createEpochReader({ ...input, ...change }), 'INVALID_VALUE');
    }
    expectMlsError(() => createEpochReader(input, { maxForwardDistance: -1 }), 'INVALID_VALUE');
  });

  test('a small window refuses what it cannot reach', () => {
    const states = groupOf(suite, ['alice', 'bob']);
    const sent = talk(states.slice(0, 1), 12);
    const reader = readerOf(states[1]!, { maxForwardDistance: 4, outOfOrderTolerance: 2 });
    expectMlsError(() => reader.decrypt(sent[10]![2]), 'GENERATION_TOO_FAR');
    const later = reader.decrypt(sent[4]![2]).reader;
    expectMlsError(() => later.decrypt(sent[0]![2]), 'GENERATION_TOO_OLD');
    assert.equal(text(later.decrypt(sent[2]![2]).data), sent[2]![1]);
  });
});

describe('a member state reduced to a reader, and readers persisted', () => {
  test('keys the member already used stay used; a restored reader reads on', () => {
    let [a, b] = groupOf(suite, ['alice', 'bob']) as GroupState[];
    const first = encryptApplication(a!, utf8('one'));
    const second = encryptApplication(first.state, utf8('two'));
    const received = processMessage(b!, first.message);
    assert.equal(received.kind, 'application');
    b = (received as { state: GroupState }).state;

    const reduced = epochReaderFromState(b);
    expectMlsError(() => reduced.decrypt(first.message), 'GENERATION_REUSED');
    const restored = deserializeEpochReader(nodeCrypto, serializeEpochReader(reduced));
    expectMlsError(() => restored.decrypt(first.message), 'GENERATION_REUSED');
    const read = restored.decrypt(second.message);
    assert.equal(text(read.data), 'two');
    expectMlsError(
      () => deserializeEpochReader(nodeCrypto, serializeEpochReader(reduced).subarray(0, 40)),
      'TRUNCATED',
    );
  });
});
