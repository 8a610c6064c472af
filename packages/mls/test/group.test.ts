import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  basicCredential,
  branchGroup,
  createExternalProposal,
  createGroup,
  createNewMemberProposal,
  encode,
  ExtensionType,
  externalSendersCodec,
  joinFromWelcome,
  MlsError,
  reinitializeGroup,
  requiredCapabilitiesCodec,
  CIPHER_SUITES,
  createCommit,
  createGroupInfo,
  deserializeGroupState,
  encryptApplication,
  epochAuthenticator,
  exportSecret,
  GROUP_CONFIG_LIMITS,
  joinByExternalCommit,
  nodeCrypto,
  processMessage,
  proposeUpdate,
  PskType,
  ResumptionPskUsage,
  serializeGroupState,
  ProposalType,
  SenderType,
  WireFormat,
  type CryptoProvider,
  type GroupState,
  type MlsMessage,
} from '../src/index.js';
import type { FramedContent } from '../src/framing/content.js';
import { protectOwn, signOwn } from '../src/group/messaging.js';
import { ProposalOrRefType, type ProposalOrRef } from '../src/messages/commit.js';
import { signLeafNode } from '../src/tree/leafNodeValidation.js';
import { toHex, utf8 } from '../src/util/bytes.js';
import { PROVIDERS } from './providers.js';
import { meterAllocations } from './support/allocationMeter.js';
import {
  commitAll,
  expectMlsError,
  groupOf,
  keyPackageFor,
  NOW,
  suiteFor,
  welcomeOf,
} from './support/clients.js';

const suite = suiteFor(1, nodeCrypto);
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

function send(state: GroupState, message: string) {
  return encryptApplication(state, utf8(message));
}

function receive(state: GroupState, message: MlsMessage): { state: GroupState; text: string } {
  const r = processMessage(state, message);
  assert.equal(r.kind, 'application');
  if (r.kind !== 'application') throw new Error('unreachable');
  return { state: r.state, text: text(r.data) };
}

describe('groups in every cipher suite', () => {
  for (const provider of PROVIDERS) {
    for (const { id, name } of CIPHER_SUITES.values()) {
      test(`${provider.name} ${name}: add, talk, update, remove`, () => {
        const cs = suiteFor(id, provider);
        let [a, b, c] = groupOf(cs, ['alice', 'bob', 'carol']) as [
          GroupState,
          GroupState,
          GroupState,
        ];
        assert.equal(toHex(epochAuthenticator(a)), toHex(epochAuthenticator(b)));
        const sent = send(a, 'hello');
        a = sent.state;
        assert.equal(receive(b, sent.message).text, 'hello');
        assert.equal(receive(c, sent.message).text, 'hello');

        // Bob commits with a path; Carol removes Bob.
        let step = commitAll([a, b, c], 1, { forcePath: true });
        [a, b, c] = step.states as [GroupState, GroupState, GroupState];
        step = commitAll([a, b, c], 2, { remove: [b.ownLeaf] });
        assert.equal(step.states[1], undefined, 'bob is out');
        a = step.states[0]!;
        c = step.states[2]!;
        assert.equal(toHex(epochAuthenticator(a)), toHex(epochAuthenticator(c)));
        const last = send(c, 'bye bob');
        assert.equal(receive(a, last.message).text, 'bye bob');
      });
    }
  }
});

describe('group operations', () => {
  test('creating a commit leaves the creator unchanged; the pending state is the next epoch', () => {
    const [a] = groupOf(suite, ['alice', 'bob']);
    const before = serializeGroupState(a!);
    const created = createCommit(a!, { forcePath: true });
    assert.deepEqual(serializeGroupState(a!), before);
    assert.equal(created.pending.context.epoch, a!.context.epoch + 1n);
  });

  test('states survive serialisation, and the restored state keeps working', () => {
    let [a, b] = groupOf(suite, ['alice', 'bob']) as GroupState[];
    const sent = send(a!, 'one');
    a = sent.state;
    b = receive(b!, sent.message).state;
    const restored = deserializeGroupState(nodeCrypto, serializeGroupState(b));
    assert.deepEqual(serializeGroupState(restored), serializeGroupState(b));
    const next = send(a, 'two');
    assert.equal(receive(restored, next.message).text, 'two');
    expectMlsError(
      () => deserializeGroupState(nodeCrypto, serializeGroupState(b).subarray(1)),
      'UNSUPPORTED_VERSION',
    );
  });

  test('settings are bounded, given or restored (a huge padding block once hung a sender)', () => {
    const [a] = groupOf(suite, ['alice']);
    const credential = basicCredential(utf8('x'));
    for (const name of Object.keys(GROUP_CONFIG_LIMITS) as (keyof typeof GROUP_CONFIG_LIMITS)[]) {
      const limit = GROUP_CONFIG_LIMITS[name];
      createGroup(suite, { credential, now: NOW, config: { [name]: limit } });
      for (const bad of [limit + 1, -1, 1.5]) {
        expectMlsError(
          () => createGroup(suite, { credential, now: NOW, config: { [name]: bad } }),
          'INVALID_VALUE',
        );
      }
    }
    // The serialised settings follow the version (2 bytes) and suite (2 bytes); found by the
    // fuzzer: paddingBlock 2^31 restored, and every message sent then allocated 2 GiB.
    const bytes = serializeGroupState(a!);
    new DataView(bytes.buffer).setUint32(4, 0x80000000);
    const restoring = meterAllocations(() => deserializeGroupState(nodeCrypto, bytes));
    assert.ok(restoring.error instanceof MlsError && restoring.error.code === 'INVALID_VALUE');
    assert.ok(restoring.largest < 1 << 20, `allocated ${restoring.largest} bytes at once`);
  });

  test('Update proposals by reference, committed by another member', () => {
    let [a, b, c] = groupOf(suite, ['alice', 'bob', 'carol']) as GroupState[];
    const proposed = proposeUpdate(b!);
    b = proposed.state;
    const ra = processMessage(a!, proposed.message);
    const rc = processMessage(c!, proposed.message);
    assert.equal(ra.kind, 'proposal');
    a = (ra as { state: GroupState }).state;
    c = (rc as { state: GroupState }).state;
    const { states, created } = commitAll([a, b, c], 0);
    assert.equal(created.summary.updated.length, 1);
    [a, b, c] = states as GroupState[];
    const sent = send(b!, 'with my new key');
    assert.equal(receive(a!, sent.message).text, 'with my new key');
    assert.equal(receive(c!, sent.message).text, 'with my new key');
  });

  test('out-of-order application messages within the window; replays refused', () => {
    let [a, b] = groupOf(suite, ['alice', 'bob']) as GroupState[];
    const messages: MlsMessage[] = [];
    for (let i = 0; i < 5; i++) {
      const s = send(a!, `m${i}`);
      a = s.state;
      messages.push(s.message);
    }
    for (const i of [3, 0, 4, 1, 2]) b = receive(b!, messages[i]!).state;
    const before = serializeGroupState(b!);
    expectMlsError(() => processMessage(b!, messages[2]!), 'GENERATION_REUSED');
    assert.deepEqual(serializeGroupState(b!), before);
  });

  test('external commit: a new member joins from a GroupInfo', () => {
    let [a, b] = groupOf(suite, ['alice', 'bob']) as GroupState[];
    const info = createGroupInfo(a!, { externalPub: true, ratchetTree: true });
    const joined = joinByExternalCommit(nodeCrypto, info, {
      credential: basicCredential(utf8('dave')),
    });
    const ra = processMessage(a!, joined.commit);
    const rb = processMessage(b!, joined.commit);
    assert.equal(ra.kind, 'commit');
    a = (ra as { state: GroupState }).state;
    b = (rb as { state: GroupState }).state;
    const d = joined.pending;
    assert.equal(toHex(epochAuthenticator(a)), toHex(epochAuthenticator(d)));
    const sent = send(d, 'hi from dave');
    assert.equal(receive(b, sent.message).text, 'hi from dave');
  });

  test('PSK proposals: external and resumption', () => {
    const pskId = utf8('shared psk');
    const psk = new Uint8Array(32).fill(7);
    const pskSource = {
      external: (id: Uint8Array) => (toHex(id) === toHex(pskId) ? psk : undefined),
    };
    let [a, b] = groupOf(suite, ['alice', 'bob']) as GroupState[];
    const nonce = () => nodeCrypto.randomBytes(32);
    let step = commitAll([a!, b!], 0, {
      psks: [{ pskType: PskType.external, pskId, pskNonce: nonce() }],
      pskSource,
    });
    [a, b] = step.states as GroupState[];
    step = commitAll([a!, b!], 1, {
      psks: [
        {
          pskType: PskType.resumption,
          usage: ResumptionPskUsage.application,
          pskGroupId: a!.context.groupId,
          pskEpoch: a!.context.epoch - 1n,
          pskNonce: nonce(),
        },
      ],
    });
    [a, b] = step.states as GroupState[];
    assert.equal(toHex(epochAuthenticator(a!)), toHex(epochAuthenticator(b!)));
    // Without the PSK the commit cannot be processed.
    const [c, d] = groupOf(suite, ['carol', 'dan']);
    const withPsk = createCommit(c!, {
      psks: [{ pskType: PskType.external, pskId, pskNonce: nonce() }],
      pskSource,
    });
    expectMlsError(() => processMessage(d!, withPsk.commit), 'MISSING_PSK');
  });

  test('exporter agrees between members', () => {
    const [a, b] = groupOf(suite, ['alice', 'bob']);
    const x = exportSecret(a!, 'trellis test', utf8('ctx'), 32);
    assert.equal(toHex(x), toHex(exportSecret(b!, 'trellis test', utf8('ctx'), 32)));
  });

  test('group context extensions: a commit without path is refused', () => {
    let [a, b] = groupOf(suite, ['alice', 'bob']) as GroupState[];
    const metadata = { extensionType: 0xff01, extensionData: utf8('{"name":"room"}') };
    // A GroupContextExtensions proposal needs every member to support the type.
    expectMlsError(
      () => createCommit(a!, { groupContextExtensions: [metadata] }),
      'UNSUPPORTED_CAPABILITY',
    );
    void b;
  });
});

describe('fork: two commits on one epoch', () => {
  test('a third member follows both branches; each decrypts only its own messages', () => {
    const [a, b, c] = groupOf(suite, ['alice', 'bob', 'carol']) as GroupState[];
    const original = serializeGroupState(c!);
    const fromA = createCommit(a!, { forcePath: true });
    const fromB = createCommit(b!, { forcePath: true });
    const branchA = processMessage(c!, fromA.commit);
    const branchB = processMessage(c!, fromB.commit);
    assert.equal(branchA.kind, 'commit');
    assert.equal(branchB.kind, 'commit');
    const cA = (branchA as { state: GroupState }).state;
    const cB = (branchB as { state: GroupState }).state;
    assert.equal(cA.context.epoch, cB.context.epoch);
    assert.notEqual(toHex(epochAuthenticator(cA)), toHex(epochAuthenticator(cB)));
    assert.equal(toHex(epochAuthenticator(cA)), toHex(epochAuthenticator(fromA.pending)));
    assert.equal(toHex(epochAuthenticator(cB)), toHex(epochAuthenticator(fromB.pending)));

    const onA = send(fromA.pending, 'branch A');
    const onB = send(fromB.pending, 'branch B');
    assert.equal(receive(cA, onA.message).text, 'branch A');
    assert.equal(receive(cB, onB.message).text, 'branch B');
    expectMlsError(() => processMessage(cA, onB.message), 'AEAD_FAILURE');
    expectMlsError(() => processMessage(cB, onA.message), 'AEAD_FAILURE');
    assert.deepEqual(serializeGroupState(c!), original, 'the fork point is untouched');
  });
});

describe('refused commits leave the state intact', () => {
  /** Processing must throw `code`, and the state must be unchanged and still work afterwards. */
  function refused(state: GroupState, message: MlsMessage, code: string, sender: GroupState) {
    const before = serializeGroupState(state);
    expectMlsError(() => processMessage(state, message, { now: NOW }), code);
    assert.deepEqual(serializeGroupState(state), before);
    const ok = send(sender, 'still here');
    assert.equal(receive(state, ok.message).text, 'still here');
  }

  /**
   * A dishonest committer: re-signs and re-tags an edited copy of its own commit, so that only
   * the edited part can be at fault.
   */
  function forge(
    committer: GroupState,
    commit: MlsMessage,
    edit: (content: FramedContent & { contentType: 3 }) => FramedContent,
    confirmationTag?: Uint8Array,
  ): MlsMessage {
    assert.equal(commit.wireFormat, WireFormat.mls_public_message);
    if (commit.wireFormat !== WireFormat.mls_public_message) throw new Error('unreachable');
    const pm = commit.publicMessage;
    const content = edit(pm.content as FramedContent & { contentType: 3 });
    const tag = confirmationTag ?? pm.auth.confirmationTag;
    const signed = signOwn(committer, content, WireFormat.mls_public_message, tag);
    return protectOwn(committer, signed).message;
  }

  const withProposals = (
    c: FramedContent & { contentType: 3 },
    edit: (ps: ProposalOrRef[]) => ProposalOrRef[],
  ): FramedContent => ({ ...c, commit: { ...c.commit, proposals: edit(c.commit.proposals) } });

  test('wrong confirmation tag: BAD_CONFIRMATION_TAG', () => {
    const [a, b] = groupOf(suite, ['alice', 'bob']) as GroupState[];
    const created = createCommit(a!, { forcePath: true });
    const tag = Uint8Array.from(created.pending.confirmationTag);
    tag[0]! ^= 1;
    refused(
      b!,
      forge(a!, created.commit, (c) => c, tag),
      'BAD_CONFIRMATION_TAG',
      a!,
    );
  });

  test('bad parent hash: BAD_PARENT_HASH', () => {
    const [a, b, c] = groupOf(suite, ['alice', 'bob', 'carol']) as GroupState[];
    const created = createCommit(a!, { forcePath: true });
    const bad = forge(a!, created.commit, (content) => {
      const path = content.commit.path!;
      const leaf = path.leafNode;
      assert.equal(leaf.leafNodeSource, 3);
      if (leaf.leafNodeSource !== 3) throw new Error('unreachable');
      const parentHash = Uint8Array.from(leaf.parentHash);
      parentHash[0]! ^= 1;
      const resigned = signLeafNode(
        suite,
        a!.signaturePrivateKey,
        { ...leaf, parentHash },
        a!.context.groupId,
        a!.ownLeaf,
      );
      return { ...content, commit: { ...content.commit, path: { ...path, leafNode: resigned } } };
    });
    refused(b!, bad, 'BAD_PARENT_HASH', a!);
    void c;
  });

  test('missing path: PATH_REQUIRED', () => {
    const [a, b, c] = groupOf(suite, ['alice', 'bob', 'carol']) as GroupState[];
    const created = createCommit(a!, { remove: [c!.ownLeaf] });
    const bad = forge(a!, created.commit, (content) => ({
      ...content,
      commit: { proposals: content.commit.proposals },
    }));
    refused(b!, bad, 'PATH_REQUIRED', a!);
  });

  test('a commit removing its own sender: REMOVED_SENDER', () => {
    const [a, b, c] = groupOf(suite, ['alice', 'bob', 'carol']) as GroupState[];
    expectMlsError(() => createCommit(a!, { remove: [a!.ownLeaf] }), 'REMOVED_SENDER');
    const created = createCommit(a!, { remove: [c!.ownLeaf] });
    const bad = forge(a!, created.commit, (content) =>
      withProposals(content, () => [
        {
          type: ProposalOrRefType.proposal,
          proposal: { proposalType: ProposalType.remove, removed: a!.ownLeaf },
        },
      ]),
    );
    refused(b!, bad, 'REMOVED_SENDER', a!);
  });

  test('a commit from a removed member: REMOVED_SENDER', () => {
    const [a, b, c] = groupOf(suite, ['alice', 'bob', 'carol']) as GroupState[];
    const step = commitAll([a!, b!, c!], 0, { remove: [b!.ownLeaf] });
    const a1 = step.states[0]!;
    const c1 = step.states[2]!;
    // Bob, removed, signs a commit in the new epoch as his old leaf (the membership key he
    // would need is granted here, as if an insider helped him).
    const created = createCommit(a1, { forcePath: true });
    const asBob = { ...a1, signaturePrivateKey: b!.signaturePrivateKey };
    const bad = forge(asBob, created.commit, (content) => ({
      ...content,
      sender: { senderType: SenderType.member, leafIndex: b!.ownLeaf },
    }));
    refused(c1, bad, 'REMOVED_SENDER', a1);
  });

  test('the same KeyPackage added twice: DUPLICATE_KEY', () => {
    const [a, b] = groupOf(suite, ['alice', 'bob']) as GroupState[];
    const dave = keyPackageFor(suite, 'dave');
    expectMlsError(
      () => createCommit(a!, { add: [dave.keyPackage, dave.keyPackage] }),
      'DUPLICATE_KEY',
    );
    const created = createCommit(a!, { add: [dave.keyPackage] });
    const bad = forge(a!, created.commit, (content) =>
      withProposals(content, (ps) => [...ps, ...ps]),
    );
    refused(b!, bad, 'DUPLICATE_KEY', a!);
  });

  test('a KeyPackage whose lifetime is over: KEY_PACKAGE_EXPIRED', () => {
    const [a, b] = groupOf(suite, ['alice', 'bob']) as GroupState[];
    const old = keyPackageFor(suite, 'old', {
      lifetime: { notBefore: NOW - 1000n, notAfter: NOW - 10n },
    });
    expectMlsError(
      () => createCommit(a!, { add: [old.keyPackage], now: NOW }),
      'KEY_PACKAGE_EXPIRED',
    );
    const created = createCommit(a!, { add: [old.keyPackage] });
    refused(b!, created.commit, 'KEY_PACKAGE_EXPIRED', a!);
  });

  test('a KeyPackage of another cipher suite: INVALID_KEY_PACKAGE', () => {
    const [a, b] = groupOf(suite, ['alice', 'bob']) as GroupState[];
    const other = keyPackageFor(suiteFor(3, nodeCrypto), 'eve');
    expectMlsError(() => createCommit(a!, { add: [other.keyPackage] }), 'INVALID_KEY_PACKAGE');
    const created = createCommit(a!, { add: [keyPackageFor(suite, 'eve').keyPackage] });
    const bad = forge(a!, created.commit, (content) =>
      withProposals(content, () => [
        {
          type: ProposalOrRefType.proposal,
          proposal: { proposalType: ProposalType.add, keyPackage: other.keyPackage },
        },
      ]),
    );
    refused(b!, bad, 'INVALID_KEY_PACKAGE', a!);
  });

  test('a replayed application message: GENERATION_REUSED', () => {
    const [a, b] = groupOf(suite, ['alice', 'bob']) as GroupState[];
    const sent = send(a!, 'once');
    const { state } = receive(b!, sent.message);
    refused(state, sent.message, 'GENERATION_REUSED', sent.state);
  });
});

describe('resumption, extensions and other senders', () => {
  test('ReInit: the group is frozen, and its successor resumes it with a reinit PSK', () => {
    let [a, b] = groupOf(suite, ['alice', 'bob']) as GroupState[];
    const newId = utf8('successor group');
    const step = commitAll([a!, b!], 0, {
      reinit: { groupId: newId, version: 1, cipherSuite: 3, extensions: [] },
    });
    [a, b] = step.states as GroupState[];
    assert.ok(a!.reinit && b!.reinit, 'both see the ReInit');
    expectMlsError(() => encryptApplication(a!, utf8('x')), 'INVALID_STATE');
    const suite3 = suiteFor(3, nodeCrypto);
    const bobNew = keyPackageFor(suite3, 'bob');
    const created = reinitializeGroup(a!, { keyPackages: [bobNew.keyPackage], now: NOW });
    const a2 = created.pending;
    assert.equal(a2.context.epoch, 1n);
    assert.equal(a2.suite.id, 3);
    const b2 = joinFromWelcome(nodeCrypto, welcomeOf(created), bobNew, { resumedGroup: b! });
    assert.equal(toHex(epochAuthenticator(a2)), toHex(epochAuthenticator(b2)));
    // Without the old group at hand, the Welcome is refused.
    expectMlsError(() => joinFromWelcome(nodeCrypto, welcomeOf(created), bobNew), 'MISSING_PSK');
  });

  test('branch: a subgroup resumes its parent with a branch PSK', () => {
    const [a, b, c] = groupOf(suite, ['alice', 'bob', 'carol']) as GroupState[];
    const bobKp = keyPackageFor(suite, 'bob');
    const created = branchGroup(a!, { keyPackages: [bobKp.keyPackage], now: NOW });
    const b2 = joinFromWelcome(nodeCrypto, welcomeOf(created), bobKp, { resumedGroup: b! });
    assert.equal(toHex(epochAuthenticator(created.pending)), toHex(epochAuthenticator(b2)));
    // A branch may only hold members of the old group.
    const eveKp = keyPackageFor(suite, 'eve');
    const withEve = branchGroup(a!, { keyPackages: [eveKp.keyPackage], now: NOW });
    expectMlsError(
      () => joinFromWelcome(nodeCrypto, welcomeOf(withEve), eveKp, { resumedGroup: c! }),
      'INVALID_WELCOME',
    );
  });

  test('group metadata in a GroupContext extension all members support', () => {
    const META = 0xf0a1;
    const caps = { capabilities: { extensions: [META] } };
    let a = createGroup(suite, { credential: basicCredential(utf8('alice')), now: NOW, ...caps });
    const bob = keyPackageFor(suite, 'bob', caps);
    const created = createCommit(a, { add: [bob.keyPackage] });
    a = created.pending;
    let b = joinFromWelcome(nodeCrypto, welcomeOf(created), bob);
    const metadata = { extensionType: META, extensionData: utf8('{"name":"Trellis"}') };
    const step = commitAll([a, b], 1, { groupContextExtensions: [metadata] });
    [a, b] = step.states as [GroupState, GroupState];
    assert.equal(step.created.summary.hasPath, true);
    assert.equal(text(a.context.extensions[0]!.extensionData), '{"name":"Trellis"}');
    // A member without support cannot be added any more.
    const carol = keyPackageFor(suite, 'carol');
    expectMlsError(() => createCommit(a, { add: [carol.keyPackage] }), 'UNSUPPORTED_CAPABILITY');
  });

  test('application-defined proposals travel to members that support them', () => {
    const CUSTOM = 0xf00d;
    const caps = { capabilities: { proposals: [CUSTOM] } };
    let a = createGroup(suite, { credential: basicCredential(utf8('alice')), now: NOW, ...caps });
    const bob = keyPackageFor(suite, 'bob', caps);
    const created = createCommit(a, { add: [bob.keyPackage] });
    a = created.pending;
    const b = joinFromWelcome(nodeCrypto, welcomeOf(created), bob);
    const custom = { proposalType: CUSTOM, payload: utf8('pin message 42') };
    const step = commitAll([a, b], 0, { proposals: [custom] });
    assert.equal(step.created.summary.custom.length, 1);
    assert.ok(step.states[1], 'bob processed the custom proposal');
    // A group where Bob lacks support refuses it.
    const [x] = groupOf(suite, ['xavier', 'yana']);
    expectMlsError(() => createCommit(x!, { proposals: [custom] }), 'INVALID_PROPOSAL_LIST');
  });

  test('external senders propose; new members propose their own Add', () => {
    const server = suite.signature.generateKeyPair();
    const externalSenders = {
      extensionType: ExtensionType.external_senders,
      extensionData: encode(externalSendersCodec, [
        { signatureKey: server.publicKey, credential: basicCredential(utf8('server')) },
      ]),
    };
    let a = createGroup(suite, {
      credential: basicCredential(utf8('alice')),
      now: NOW,
      extensions: [externalSenders],
    });
    const bob = keyPackageFor(suite, 'bob', { capabilities: { extensions: [] } });
    let created = createCommit(a, { add: [bob.keyPackage] });
    a = created.pending;
    let b = joinFromWelcome(nodeCrypto, welcomeOf(created), bob);
    const info = createGroupInfo(a);
    const carol = keyPackageFor(suite, 'carol');
    const fromServer = createExternalProposal(nodeCrypto, info, 0, server.privateKey, {
      proposalType: ProposalType.add,
      keyPackage: carol.keyPackage,
    });
    const ra = processMessage(a, fromServer);
    const rb = processMessage(b, fromServer);
    assert.equal(ra.kind, 'proposal');
    a = (ra as { state: GroupState }).state;
    b = (rb as { state: GroupState }).state;
    const step = commitAll([a, b], 1);
    assert.equal(step.created.summary.added.length, 1);
    a = step.states[0]!;
    const info1 = createGroupInfo(a);
    // External senders may remove; a proposal not signed by the listed key is refused.
    const remove = createExternalProposal(nodeCrypto, info1, 0, server.privateKey, {
      proposalType: ProposalType.remove,
      removed: 1,
    });
    assert.equal(processMessage(a, remove).kind, 'proposal');
    const wrongKey = createExternalProposal(nodeCrypto, info1, 0, carol.signaturePrivateKey, {
      proposalType: ProposalType.remove,
      removed: 1,
    });
    expectMlsError(() => processMessage(a, wrongKey), 'BAD_SIGNATURE');
    // A new member asks to join.
    const dave = keyPackageFor(suite, 'dave');
    const ask = createNewMemberProposal(
      nodeCrypto,
      info1,
      dave.keyPackage,
      dave.signaturePrivateKey,
    );
    const rd = processMessage(a, ask);
    assert.equal(rd.kind, 'proposal');
    created = createCommit((rd as { state: GroupState }).state);
    assert.equal(created.summary.added.length, 1);
    assert.ok(joinFromWelcome(nodeCrypto, welcomeOf(created), dave));
  });
});

describe('joining a larger group', () => {
  /** nodeCrypto, recording every input its hashes digest. */
  function recordingDigests(): { provider: CryptoProvider; inputs: string[] } {
    const inputs: string[] = [];
    const provider: CryptoProvider = {
      ...nodeCrypto,
      hash(id) {
        const hash = nodeCrypto.hash(id);
        return {
          ...hash,
          digest: (data) => {
            inputs.push(toHex(data));
            return hash.digest(data);
          },
        };
      },
    };
    return { provider, inputs };
  }

  test('a join hashes every tree node, and nothing twice', () => {
    // 70 members: parent nodes from a path commit, an unmerged leaf from a later Add, and enough
    // leaves for the node provider to check their signatures on several threads.
    const names = Array.from({ length: 70 }, (_, i) => `member ${i}`);
    const bundles = names.map((n) => keyPackageFor(suite, n));
    const founder = createGroup(suite, { credential: basicCredential(utf8('founder')), now: NOW });
    const added = createCommit(founder, { add: bundles.map((b) => b.keyPackage) });
    const member = joinFromWelcome(nodeCrypto, welcomeOf(added), bundles[5]!);
    const path = createCommit(member, { forcePath: true });
    const r = processMessage(added.pending, path.commit);
    assert.equal(r.kind, 'commit');
    const late = keyPackageFor(suite, 'late');
    const lateAdd = createCommit((r as { state: GroupState }).state, { add: [late.keyPackage] });

    const { provider, inputs } = recordingDigests();
    const joined = joinFromWelcome(provider, welcomeOf(lateAdd), late);
    const tree = joined.tree;
    const parents = Array.from({ length: tree.nodeCount >> 1 }, (_, i) => tree.parent(2 * i + 1));
    assert.ok(
      parents.some((p) => p && p.unmergedLeaves.length > 0),
      'a leaf is unmerged',
    );
    assert.ok(inputs.length >= tree.nodeCount, `${inputs.length} digests, ${tree.nodeCount} nodes`);
    const twice = inputs.filter((input, i) => inputs.indexOf(input) !== i);
    assert.deepEqual(twice, [], 'no input is digested twice');
    assert.equal(toHex(epochAuthenticator(joined)), toHex(epochAuthenticator(lateAdd.pending)));
  });
});

describe('more commit shapes', () => {
  test('handshake messages as PrivateMessages', () => {
    const config = { encryptHandshake: true };
    let a = createGroup(suite, { credential: basicCredential(utf8('alice')), now: NOW, config });
    const bob = keyPackageFor(suite, 'bob');
    const created = createCommit(a, { add: [bob.keyPackage] });
    a = created.pending;
    let b = joinFromWelcome(nodeCrypto, welcomeOf(created), bob, { config });
    const proposed = proposeUpdate(b);
    assert.equal(proposed.message.wireFormat, WireFormat.mls_private_message);
    b = proposed.state;
    const r = processMessage(a, proposed.message);
    assert.equal(r.kind, 'proposal');
    const step = commitAll([(r as { state: GroupState }).state, b], 0);
    assert.equal(step.created.commit.wireFormat, WireFormat.mls_private_message);
    assert.ok(step.states[1]);
  });

  test('a Welcome without the ratchet tree needs the tree from elsewhere', () => {
    const a = createGroup(suite, { credential: basicCredential(utf8('alice')), now: NOW });
    const bob = keyPackageFor(suite, 'bob');
    const created = createCommit(a, { add: [bob.keyPackage], welcomeGroupInfo: {} });
    expectMlsError(
      () => joinFromWelcome(nodeCrypto, welcomeOf(created), bob),
      'MISSING_RATCHET_TREE',
    );
    const b = joinFromWelcome(nodeCrypto, welcomeOf(created), bob, {
      ratchetTree: created.pending.tree.toNodeList(),
    });
    assert.equal(toHex(epochAuthenticator(b)), toHex(epochAuthenticator(created.pending)));
  });

  test('required_capabilities: members must support what the group requires', () => {
    const REQUIRED = 0xf0f0;
    const required = {
      extensionType: ExtensionType.required_capabilities,
      extensionData: encode(requiredCapabilitiesCodec, {
        extensionTypes: [REQUIRED],
        proposalTypes: [],
        credentialTypes: [],
      }),
    };
    const a = createGroup(suite, {
      credential: basicCredential(utf8('alice')),
      now: NOW,
      extensions: [required],
      capabilities: { extensions: [REQUIRED] },
    });
    const able = keyPackageFor(suite, 'bob', { capabilities: { extensions: [REQUIRED] } });
    const unable = keyPackageFor(suite, 'carol');
    assert.ok(createCommit(a, { add: [able.keyPackage] }).welcome);
    expectMlsError(() => createCommit(a, { add: [unable.keyPackage] }), 'UNSUPPORTED_CAPABILITY');
  });

  test("external commit that replaces the joiner's old leaf (resync)", () => {
    let [a, b] = groupOf(suite, ['alice', 'bob']) as GroupState[];
    const info = createGroupInfo(a!, { externalPub: true, ratchetTree: true });
    const resynced = joinByExternalCommit(nodeCrypto, info, {
      credential: basicCredential(utf8('bob')),
      resync: b!.ownLeaf,
    });
    const r = processMessage(a!, resynced.commit);
    assert.equal(r.kind, 'commit');
    // Someone else's leaf may not be taken over.
    const impostor = joinByExternalCommit(nodeCrypto, info, {
      credential: basicCredential(utf8('mallory')),
      resync: b!.ownLeaf,
      acceptResync: () => true,
    });
    expectMlsError(() => processMessage(a!, impostor.commit), 'INVALID_PROPOSAL_LIST');
  });
});

test('a member removed by a commit whose Add reuses its leaf learns it was removed', () => {
  const [a, b, c] = groupOf(suite, ['alice', 'bob', 'carol']) as GroupState[];
  const dave = keyPackageFor(suite, 'dave');
  const created = createCommit(a!, { remove: [b!.ownLeaf], add: [dave.keyPackage] });
  assert.equal(created.summary.added[0]!.leafIndex, b!.ownLeaf, 'dave takes bob’s leaf');
  assert.equal(processMessage(b!, created.commit).kind, 'removed');
  assert.equal(processMessage(c!, created.commit).kind, 'commit');
});
