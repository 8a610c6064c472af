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
import { Writer } from '../src/codec/index.js';
import { epochReaderHoldings } from '../src/group/epochReader.js';
import { groupContextCodec } from '../src/messages/groupContext.js';
import { leafNodeCodec } from '../src/messages/leafNode.js';
import { takeKey, type SecretTree } from '../src/secretTree.js';
import { encodeSecretTree } from '../src/secretTreeCodec.js';
import * as math from '../src/tree/math.js';
import { utf8 } from '../src/util/bytes.js';
import { PROVIDERS } from './providers.js';
import { findBytes } from './support/bytesIn.js';
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

describe('findBytes (test support)', () => {
  test('finds bytes in objects, arrays, Maps, Sets and views, and only in the viewed bytes', () => {
    const needle = Uint8Array.of(9, 8, 7, 6);
    const backing = Uint8Array.of(1, 9, 8, 7, 6, 2);
    class Holder {
      constructor(private readonly inside: unknown) {}
      has = () => this.inside !== undefined;
    }
    const cases: [unknown, string][] = [
      [{ a: { b: [1, backing] } }, '$.a.b.1'],
      [new Map([[backing, 1]]), '$<Map key 0>'],
      [new Map([[1, [backing]]]), '$<Map value 0>.0'],
      [new Set([backing]), '$<Set 0>'],
      [new DataView(backing.buffer, 1, 4), '$'],
      [backing.buffer, '$'],
      [new Uint32Array(backing.slice(1, 5).buffer), '$'],
      [new Holder(backing.subarray(1, 5)), '$.inside'],
    ];
    for (const [root, path] of cases) {
      assert.equal(findBytes(root, needle), path);
    }
    const cyclic: { self?: unknown; data: Uint8Array } = { data: backing.subarray(0, 4) };
    cyclic.self = cyclic;
    assert.equal(findBytes(cyclic, needle), undefined, 'the view ends before the last byte');
    assert.equal(findBytes(new WeakMap([[{}, backing]]), needle), undefined);
    assert.throws(() => findBytes(backing, new Uint8Array(0)), RangeError);
  });
});

describe('a reader from a state keeps no handshake or own keys', () => {
  const names = ['alice', 'bob', 'carol', 'dave'];
  const [ALICE, BOB, CAROL, DAVE] = [0, 1, 2, 3] as const;

  /** Bob's state after traffic of everyone but Dave, with encrypted handshake messages. */
  function scene() {
    const states = groupOf(suite, names).map((s) => ({
      ...s,
      config: { ...s.config, encryptHandshake: true },
    }));
    const talkers = states.slice(0, 3);
    const sent = talk(talkers, 9); // alice, bob, carol, three each
    states.splice(0, 3, ...talkers);
    let bob = states[BOB]!;
    // Carol's first message is late: Bob keeps its key as a skipped one.
    const late = sent.find(([who]) => who === CAROL)!;
    for (const entry of sent) {
      const [who, , message] = entry;
      if (who === BOB || entry === late) continue;
      const r = processMessage(bob, message);
      assert.equal(r.kind, 'application');
      bob = (r as { state: GroupState }).state;
    }
    // Later messages, one of each, for reading from the reader (Bob's sent before the proposals,
    // after which he may not send).
    states[BOB] = bob;
    const later = [late, ...talk(states, 4)];
    // Handshake keys used on both sides: Alice's second proposal, received first by Bob.
    const first = proposeUpdate(states[ALICE]!);
    const second = proposeUpdate(first.state);
    assert.equal(second.message.wireFormat, WireFormat.mls_private_message);
    const received = processMessage(bob, second.message);
    assert.equal(received.kind, 'proposal');
    bob = (received as { state: GroupState }).state;
    return { bob, later, proposal: first.message };
  }

  /** What must not outlive Bob's state in a reader of it, by name. */
  function forbidden(bob: GroupState): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    const tree: SecretTree = bob.secretTree;
    const addRatchet = (
      name: string,
      r:
        | {
            secret: Uint8Array;
            skipped: ReadonlyMap<number, { key: Uint8Array; nonce: Uint8Array }>;
          }
        | undefined,
    ) => {
      assert.ok(r, `${name} exists in the state`);
      out.set(`${name} secret`, r.secret);
      for (const [g, k] of r.skipped) {
        out.set(`${name} skipped ${g} key`, k.key);
        out.set(`${name} skipped ${g} nonce`, k.nonce);
      }
    };
    for (let leaf = 0; leaf < tree.leafCount; leaf++) {
      let ratchets = tree.ratchets.get(leaf);
      if (!ratchets && bob.tree.leaf(leaf)) {
        // Dave's ratchets are not derived in Bob's state yet: derive them as a reader would.
        ratchets = takeKey(tree, leaf, 'application', 0).tree.ratchets.get(leaf);
      }
      if (!ratchets) continue;
      addRatchet(`leaf ${leaf} handshake`, ratchets.handshake);
      if (leaf === bob.ownLeaf) addRatchet(`own leaf ${leaf} application`, ratchets.application);
    }
    for (let node = 0; node < math.nodeWidth(tree.leafCount); node++) {
      const secret = tree.nodeSecrets.get(node);
      if (secret) out.set(`node ${node} secret`, secret);
    }
    for (const [name, secret] of Object.entries(bob.secrets)) {
      if (name !== 'senderDataSecret') out.set(`epoch ${name}`, secret);
    }
    out.set('signature private key', bob.signaturePrivateKey);
    for (const node of bob.privateKeys.nodes) {
      out.set(`HPKE private key of node ${node}`, bob.privateKeys.get(node)!.privateKey);
    }
    return out;
  }

  function assertHoldsNone(what: string, reader: EpochReader, secrets: Map<string, Uint8Array>) {
    const bytes = serializeEpochReader(reader);
    const live = { reader, holdings: epochReaderHoldings(reader) };
    assert.ok(live.holdings, 'a reader of this engine');
    for (const [name, secret] of secrets) {
      assert.equal(
        findBytes(bytes, secret),
        undefined,
        `${what}: ${name} in the serialised reader`,
      );
      assert.equal(findBytes(live, secret), undefined, `${what}: ${name} in the live reader`);
    }
  }

  test('no handshake ratchet, own ratchet, node secret, epoch secret or private key', () => {
    const { bob, later } = scene();
    const secrets = forbidden(bob);
    // Handshake ratchets of all four members (Alice's with a kept key), Bob's own ratchet.
    for (const name of [
      'leaf 0 handshake secret',
      'leaf 0 handshake skipped 0 key',
      'leaf 0 handshake skipped 0 nonce',
      'leaf 1 handshake secret',
      'own leaf 1 application secret',
      'leaf 2 handshake secret',
      'leaf 3 handshake secret',
      'epoch encryptionSecret',
      'epoch initSecret',
      'epoch exporterSecret',
      'epoch resumptionPsk',
      'signature private key',
    ]) {
      assert.ok(secrets.has(name), `${name} is among ${[...secrets.keys()].join(', ')}`);
    }
    assert.ok([...secrets.keys()].some((name) => name.startsWith('node ')));
    assert.ok([...secrets.keys()].some((name) => name.startsWith('HPKE private key')));

    const reader = epochReaderFromState(bob);
    assertHoldsNone('from the state', reader, secrets);
    const restored = deserializeEpochReader(nodeCrypto, serializeEpochReader(reader));
    assertHoldsNone('restored', restored, secrets);

    // The search sees the tree: the other members' application ratchets are held, as they must.
    const held = epochReaderHoldings(reader)!.secretTree;
    const aliceApplication = held.ratchets.get(ALICE)!.application!.secret;
    assert.deepEqual(aliceApplication, bob.secretTree.ratchets.get(ALICE)!.application!.secret);
    assert.ok(findBytes(serializeEpochReader(reader), aliceApplication));
    assert.ok(findBytes(epochReaderHoldings(reader), aliceApplication));
    assert.ok(findBytes(epochReaderHoldings(reader), bob.secrets.senderDataSecret));

    // It reads the others' messages, also after use and restored; what it deleted is refused.
    let next: EpochReader = restored;
    for (const [who, words, message] of later) {
      if (who === BOB) {
        expectMlsError(() => reader.decrypt(message), 'RATCHET_DELETED');
        expectMlsError(() => restored.decrypt(message), 'RATCHET_DELETED');
        continue;
      }
      assert.equal(text(reader.decrypt(message).data), words);
      const read = next.decrypt(message);
      assert.equal(text(read.data), words);
      assert.ok([ALICE, CAROL, DAVE].includes(read.senderLeaf as 0 | 2 | 3));
      next = read.reader;
      assertHoldsNone('after reading', next, secrets);
    }
  });

  test('a handshake message is refused before any key is looked for', () => {
    const { bob, proposal } = scene();
    expectMlsError(() => epochReaderFromState(bob).decrypt(proposal), 'WRONG_CONTENT_TYPE');
  });

  test('a legacy reader (format 1, the whole secret tree) is cut down when read', () => {
    const { bob, later } = scene();
    const w = new Writer(1024);
    w.u16(1);
    w.u16(bob.suite.id);
    groupContextCodec.encode(w, bob.context);
    w.opaque(bob.secrets.senderDataSecret);
    w.u32(bob.tree.leafCount);
    w.u32(bob.secretTree.maxForwardDistance);
    w.u32(bob.secretTree.outOfOrderTolerance);
    w.vector([...bob.tree.members()], (w, [leafIndex, leaf]) => {
      w.u32(leafIndex);
      leafNodeCodec.encode(w, leaf);
    });
    encodeSecretTree(w, bob.secretTree);
    const legacy = deserializeEpochReader(nodeCrypto, w.finish());
    // It does not know its own leaf, so Bob's application ratchet stays; nothing else forbidden.
    const secrets = forbidden(bob);
    for (const name of secrets.keys()) if (name.startsWith('own leaf')) secrets.delete(name);
    assertHoldsNone('legacy', legacy, secrets);
    for (const [who, words, message] of later) {
      if (who !== BOB) assert.equal(text(legacy.decrypt(message).data), words);
    }
  });

  test('a reader from backed-up secrets keeps its whole tree, and persists', () => {
    const { bob, later } = scene();
    const backup = readerOf(bob);
    const restored = deserializeEpochReader(nodeCrypto, serializeEpochReader(backup));
    assert.ok(findBytes(epochReaderHoldings(restored), bob.secrets.encryptionSecret));
    for (const [, words, message] of later) {
      assert.equal(text(restored.decrypt(message).data), words);
    }
  });
});
