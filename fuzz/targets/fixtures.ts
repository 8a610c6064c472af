/**
 * What the targets start from: the official vectors (read from the repository's copy), and a
 * group built by the engine with every kind of message in it. The group is built with a seeded
 * crypto provider and a fixed clock, so its keys and messages are the same in every process:
 * an input saved from one run means the same thing when a regression test replays it.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  basicCredential,
  cipherSuite,
  createCommit,
  createExternalProposal,
  createGroup,
  createGroupInfo,
  createKeyPackage,
  createNewMemberProposal,
  encode,
  encryptApplication,
  ExtensionType,
  externalSendersCodec,
  joinByExternalCommit,
  joinFromWelcome,
  nodeCrypto,
  processMessage,
  propose,
  proposeUpdate,
  ProposalType,
  PskType,
  type CipherSuite,
  type CryptoProvider,
  type GroupInfo,
  type GroupState,
  type KeyPackageBundle,
  type MlsMessage,
  type PskSource,
  type Welcome,
} from '../../packages/mls/src/index.js';
import { providerWithRandom } from '../../packages/mls/test/support/seededProvider.js';
import { Prng } from '../prng.js';

const VECTOR_DIR = fileURLToPath(new URL('../../test-vectors/mls/', import.meta.url));

/** Entries of one vector file of test-vectors/mls/. */
export function loadVectors(file: string): Record<string, any>[] {
  const json = JSON.parse(readFileSync(VECTOR_DIR + file, 'utf8')) as unknown;
  return (Array.isArray(json) ? json : [json]) as Record<string, any>[];
}

export const fromHex = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'));

/**
 * node:crypto with every random choice drawn from a seeded generator: key pairs, HPKE
 * ephemeral keys, secrets, nonces. Same seed, same bytes.
 */
export function seededProvider(seed: string): CryptoProvider {
  const rng = new Prng(seed);
  return providerWithRandom(`${nodeCrypto.name}, seeded`, (n) => rng.bytes(n));
}

/** The fixtures' clock: fixed, and inside every fixture KeyPackage's lifetime. */
export const FIXED_NOW = 1_795_000_000n;
const LIFETIME = { notBefore: 1_700_000_000n, notAfter: 2_000_000_000n };
const utf8 = (text: string) => new TextEncoder().encode(text);

export const EXTERNAL_PSK_ID = utf8('fuzz external psk');
const EXTERNAL_PSK = new Uint8Array(32).fill(7);
export const PSK_SOURCE: PskSource = {
  external: (id) => (Buffer.from(id).equals(EXTERNAL_PSK_ID) ? EXTERNAL_PSK : undefined),
};

export interface Joiner {
  readonly bundle: KeyPackageBundle;
  readonly welcome: Welcome;
}

/**
 * A four-member group (alice 0, bob 1, carol 2, dave 3) in its third epoch, with an external
 * sender, and every message a member may receive in that epoch.
 */
export interface World {
  readonly provider: CryptoProvider;
  readonly suite: CipherSuite;
  /** Bob, with carol's Update and alice's Remove proposals cached: the state under test. */
  readonly receiver: GroupState;
  /** Each member's state in the epoch, before any proposal. */
  readonly members: readonly GroupState[];
  /** Signature private keys by leaf index, and of the non-members who send. */
  readonly memberKeys: ReadonlyMap<number, Uint8Array>;
  readonly externalSenderKey: Uint8Array;
  readonly newMemberKey: Uint8Array;
  readonly externalJoinerKey: Uint8Array;
  /** PublicMessages: proposals (member, external, new member) and commits of every shape. */
  readonly publicMessages: readonly MlsMessage[];
  /** PrivateMessages: application data, an encrypted proposal and an encrypted commit. */
  readonly privateMessages: readonly MlsMessage[];
  /** A message from carol the receiver must still read after any refused input. */
  readonly probe: MlsMessage;
  readonly probeText: string;
  /** Welcomes with and without a path secret, and the KeyPackages they are for. */
  readonly joiners: readonly Joiner[];
  /** A GroupInfo of the epoch with external_pub and the ratchet tree. */
  readonly groupInfo: GroupInfo;
  /** States of other shapes, for the state decoder: epoch 0, frozen by a ReInit, ... */
  readonly otherStates: readonly GroupState[];
  /** The policy the receiver processes with (the external PSK, the fixed clock). */
  readonly policy: { pskSource: PskSource; now: bigint };
}

let cached: World | undefined;

/** The fixture group; built once per process. */
export function world(): World {
  return (cached ??= buildWorld());
}

function commitOf(created: { commit: MlsMessage }): MlsMessage {
  return created.commit;
}

function buildWorld(): World {
  const provider = seededProvider('trellis fuzz world');
  const suite = cipherSuite(1, provider);
  const policy = { pskSource: PSK_SOURCE, now: FIXED_NOW };
  const bundle = (name: string, extra: object = {}) =>
    createKeyPackage(suite, {
      credential: basicCredential(utf8(name)),
      lifetime: LIFETIME,
      ...extra,
    });
  const externalSender = suite.signature.generateKeyPair();
  const externalSenders = encode(externalSendersCodec, [
    { signatureKey: externalSender.publicKey, credential: basicCredential(utf8('bridge')) },
  ]);

  const aliceKeys = suite.signature.generateKeyPair();
  let alice = createGroup(suite, {
    credential: basicCredential(utf8('alice')),
    signatureKeyPair: aliceKeys,
    lifetime: LIFETIME,
    extensions: [{ extensionType: ExtensionType.external_senders, extensionData: externalSenders }],
  });
  const others = ['bob', 'carol', 'dave'].map((name) => bundle(name));
  const added = createCommit(alice, { add: others.map((b) => b.keyPackage), now: FIXED_NOW });
  alice = added.pending;
  let states = [
    alice,
    ...others.map((b) => joinFromWelcome(provider, added.welcome!.welcome, b, { now: FIXED_NOW })),
  ];
  const epoch1 = states.map((s) => s);
  // Bob commits with a path, so that parent nodes are set and secrets differ per subtree.
  const byBob = createCommit(states[1]!, { forcePath: true });
  states = states.map((s, i) => {
    if (i === 1) return byBob.pending;
    const r = processMessage(s, byBob.commit, policy);
    if (r.kind !== 'commit') throw new Error('fixture: commit not applied');
    return r.state;
  });
  const members = states;
  const memberKeys = new Map<number, Uint8Array>(
    members.map((s) => [s.ownLeaf, s.signaturePrivateKey]),
  );
  let [a, b, c, d] = members as [GroupState, GroupState, GroupState, GroupState];

  // Application data first: a member with cached proposals may not send any.
  const privateMessages: MlsMessage[] = [];
  for (const text of ['one', 'two', 'three']) {
    const sent = encryptApplication(a, utf8(text), { authenticatedData: utf8('ad') });
    a = sent.state;
    privateMessages.push(sent.message);
  }
  const fromDave = encryptApplication(d, utf8('from dave'));
  d = fromDave.state;
  privateMessages.push(fromDave.message);
  const probeText = 'probe from carol';
  const probe = encryptApplication(c, utf8(probeText)).message;

  // Proposals: carol's Update, alice's Remove of dave, both as PublicMessages.
  const update = proposeUpdate(c);
  const remove = propose(a, { proposalType: ProposalType.remove, removed: 3 });
  a = remove.state;
  const receive = (state: GroupState, message: MlsMessage) => {
    const r = processMessage(state, message, policy);
    if (r.kind !== 'proposal') throw new Error('fixture: proposal not cached');
    return r.state;
  };
  a = receive(a, update.message);
  const receiver = receive(receive(b, update.message), remove.message);
  const privateProposal = propose(
    d,
    { proposalType: ProposalType.remove, removed: 2 },
    {
      encrypt: true,
    },
  );
  privateMessages.push(privateProposal.message);

  const groupInfo = createGroupInfo(members[0]!, { externalPub: true, ratchetTree: true });
  const erin = bundle('erin');
  const frank = bundle('frank');
  const newMember = bundle('gina');
  const joinerKeys = suite.signature.generateKeyPair();

  const byReference = createCommit(a, {});
  const withAdd = createCommit(a, { pending: 'none', add: [erin.keyPackage], now: FIXED_NOW });
  const withAddAndPath = createCommit(a, {
    pending: 'none',
    add: [frank.keyPackage],
    forcePath: true,
    now: FIXED_NOW,
  });
  const encrypted = createCommit(a, { pending: 'none', forcePath: true, encrypt: true });
  privateMessages.push(encrypted.commit);
  const withPsk = createCommit(a, {
    pending: 'none',
    psks: [
      { pskType: PskType.external, pskId: EXTERNAL_PSK_ID, pskNonce: provider.randomBytes(32) },
    ],
    pskSource: PSK_SOURCE,
  });
  const removing = createCommit(a, { pending: 'none', remove: [2] });
  const external = joinByExternalCommit(provider, groupInfo, {
    credential: basicCredential(utf8('hank')),
    signatureKeyPair: joinerKeys,
  });
  const externalProposal = createExternalProposal(
    provider,
    groupInfo,
    0,
    externalSender.privateKey,
    {
      proposalType: ProposalType.remove,
      removed: 1,
    },
  );
  const newMemberProposal = createNewMemberProposal(
    provider,
    groupInfo,
    newMember.keyPackage,
    newMember.signaturePrivateKey,
  );
  const reinit = createCommit(members[0]!, {
    reinit: {
      groupId: utf8('next group'),
      version: 1,
      cipherSuite: 1,
      extensions: [],
    },
  });

  const publicMessages = [
    update.message,
    remove.message,
    commitOf(byReference),
    commitOf(withAdd),
    commitOf(withAddAndPath),
    commitOf(withPsk),
    commitOf(removing),
    external.commit,
    externalProposal,
    newMemberProposal,
  ];

  return {
    provider,
    suite,
    receiver,
    members,
    memberKeys,
    externalSenderKey: externalSender.privateKey,
    newMemberKey: newMember.signaturePrivateKey,
    externalJoinerKey: joinerKeys.privateKey,
    publicMessages,
    privateMessages,
    probe,
    probeText,
    joiners: [
      { bundle: erin, welcome: withAdd.welcome!.welcome },
      { bundle: frank, welcome: withAddAndPath.welcome!.welcome },
    ],
    groupInfo,
    otherStates: [epoch1[0]!, epoch1[3]!, reinit.pending, byReference.pending, a],
    policy,
  };
}
