/**
 * The room the dMLS targets start from, built once per process with a reseedable crypto
 * provider and a fixed clock, so that its keys, events and snapshots are the same in every
 * process and a saved input replays against them.
 *
 * Devices: Alice created the room and is the hostile member (she keeps every epoch she ever
 * held, in full); Bob is the receiver under test; Carol is the second honest device; Dave was
 * removed and keeps the epochs from before his removal. Eve and Dave's second device D2 are
 * published but not in the group; Frank's keys are not fetched yet (the directory answers
 * `undefined`); Mallory published nothing (`null`).
 *
 *   $create (0, alice)            Alice creates the room; Bob and Carol never hold it
 *   $add    (1, alice)            adds Bob, Carol, Dave (they join by Welcome)
 *   $pre    (2, alice)            a plain commit; Dave is still a member
 *   $rm     (3, alice)            removes Dave
 *   $b4, $c4 (4, bob / carol)     concurrent commits on $rm: the fork, two tips
 *   $old    (1, alice)            Alice's commit on $create: foreign to Bob and Carol (they joined
 *                                 at epoch 1), so parked NOT_A_MEMBER as a held-none epoch
 *   $x      (5, alice)            on $b4, never delivered to Bob or Carol
 *   $q      (6, alice)            on $x, delivered: it waits (queued) for $x
 *
 * Bob and Carol prune 20 minutes after $add was superseded, so they hold $add as message keys
 * only (a commit on it is EPOCH_EXPIRED) and every later epoch in full.
 */
import { createHash } from 'node:crypto';
import {
  basicCredential,
  cipherSuite,
  createCommit,
  createKeyPackage,
  encryptApplication,
  nodeCrypto,
  type CipherSuite,
  type CommitOptions,
  type CryptoProvider,
  type GroupState,
  type KeyPackageBundle,
  type KeyPair,
} from '../../packages/mls/src/index.js';
import { providerWithRandom } from '../../packages/mls/test/support/seededProvider.js';
import {
  DmlsGroup,
  encodeCommitData,
  parseWelcome,
  type CommitDataInput,
  type DeviceKeys,
  type DmlsGroupOptions,
  type DmlsSnapshot,
  type EpochNode,
  type RoomEvent,
  type RoomEventContent,
} from '../../packages/dmls/src/index.js';
import { roomEventContent } from '../../packages/dmls/src/wire.js';
import { Prng } from '../prng.js';

export const ROOM = '!fuzz:test';
export const ALICE = '@alice:test|A1';
export const BOB = '@bob:test|B1';
export const CAROL = '@carol:test|C1';
export const DAVE = '@dave:test|D1';
export const DAVE2 = '@dave:test|D2';
export const EVE = '@eve:test|E1';
export const FRANK = '@frank:test|F1';
export const MALLORY = '@mallory:test|M1';

export const T0 = 1_700_000_000_000;
const FORK_AT = T0 + 20 * 60 * 1000;
/** The clock of every input: 2 s after the fork, 20 minutes after $add was superseded. */
export const NOW = FORK_AT + 2000;

/** Epochs of the fixture, by commit event id. */
export const EPOCHS = ['$create', '$add', '$pre', '$rm', '$b4', '$c4', '$old', '$x', '$q'] as const;

const utf8 = (text: string) => new TextEncoder().encode(text);
export const userOf = (identity: string) => identity.slice(0, identity.lastIndexOf('|'));

/**
 * node:crypto with every random choice drawn from a generator that can be reseeded: the
 * fixture is built from one seed, and each input reseeds it from its own bytes, so what a
 * target does with an input does not depend on the inputs before it.
 */
export function reseedableProvider(seed: string): {
  provider: CryptoProvider;
  reseed(seed: string | Uint8Array): void;
} {
  let rng = new Prng(seed);
  const provider = providerWithRandom(`${nodeCrypto.name}, reseedable`, (n) => rng.bytes(n));
  return {
    provider,
    reseed(next) {
      rng = new Prng(
        typeof next === 'string' ? next : createHash('sha256').update(next).digest('hex'),
      );
    },
  };
}

/** A KeyPackage a hostile commit may add, and what it claims. */
export interface AddChoice {
  readonly label: string;
  readonly bundle: KeyPackageBundle;
}

/** Seed events, delivered in order. */
export interface SeedEvent {
  readonly label: string;
  readonly events: readonly RoomEvent[];
}

export interface DmlsWorld {
  readonly provider: CryptoProvider;
  readonly suite: CipherSuite;
  reseed(seed: string | Uint8Array): void;
  readonly deviceKeys: DeviceKeys;
  options(identity: string): DmlsGroupOptions;
  /** Bob's and Carol's groups as stored after the fixture: restored before every input. */
  readonly receiver: DmlsSnapshot;
  readonly witness: DmlsSnapshot;
  /** The hostile devices' states (Alice: every epoch; Dave: $add and $pre), by epoch key. */
  readonly hostile: ReadonlyMap<
    string,
    ReadonlyMap<string, { state: GroupState; node: EpochNode }>
  >;
  /** Confirmation tags of the fixture's epochs as Alice knows them (hex). */
  readonly tags: ReadonlyMap<string, string>;
  /** KeyPackages a hostile commit may add. */
  readonly adds: readonly AddChoice[];
  /** Valid events: commits and messages of Alice and Dave on every kind of epoch. */
  readonly seeds: readonly SeedEvent[];
  /** The events of the fixture's log, by id. */
  readonly log: ReadonlyMap<string, RoomEvent>;
}

let cached: DmlsWorld | undefined;

export function dmlsWorld(): DmlsWorld {
  return (cached ??= buildWorld());
}

function buildWorld(): DmlsWorld {
  const { provider, reseed } = reseedableProvider('trellis fuzz dmls');
  const suite = cipherSuite(1, provider);
  const published = new Map<string, Uint8Array>();
  const pairs = new Map<string, KeyPair>();
  const keyPair = (identity: string): KeyPair => {
    let pair = pairs.get(identity);
    if (!pair) {
      pair = suite.signature.generateKeyPair();
      pairs.set(identity, pair);
      published.set(identity, pair.publicKey);
    }
    return pair;
  };
  for (const id of [ALICE, BOB, CAROL, DAVE, DAVE2, EVE]) keyPair(id);
  const attacker = suite.signature.generateKeyPair(); // published for nobody
  const frankKeys = suite.signature.generateKeyPair(); // Frank's, not fetched yet
  const mallory = suite.signature.generateKeyPair();
  const deviceKeys: DeviceKeys = (id) => (id === FRANK ? undefined : (published.get(id) ?? null));
  const options = (identity: string): DmlsGroupOptions => ({
    roomId: ROOM,
    identity,
    provider,
    deviceKeys,
  });
  const keyPackage = (identity: string | Uint8Array, pair: KeyPair) =>
    createKeyPackage(suite, {
      credential: basicCredential(typeof identity === 'string' ? utf8(identity) : identity),
      signatureKeyPair: pair,
      now: BigInt(Math.floor(T0 / 1000)),
    });

  const log = new Map<string, RoomEvent>();
  const post = (from: string, content: RoomEventContent, eventId: string): RoomEvent => {
    const event = { eventId, sender: userOf(from), content };
    log.set(eventId, event);
    return event;
  };
  const expect = (ok: boolean, what: string) => {
    if (!ok) throw new Error(`dmls fixture: ${what}`);
  };

  const alice = DmlsGroup.create({
    ...options(ALICE),
    suite: 1,
    createEventId: '$create',
    signatureKeyPair: keyPair(ALICE),
    now: T0,
  });
  const joiners = [BOB, CAROL, DAVE].map((id) => [id, keyPackage(id, keyPair(id))] as const);
  const added = alice.commit(
    { baseKey: '$create', resolveKeys: [], remove: [], add: joiners.map(([id]) => id) },
    new Map(joiners.map(([id, b]) => [id, b.keyPackage])),
  );
  const eAdd = post(ALICE, added.content, '$add');
  alice.receive(eAdd, T0);
  const welcome = parseWelcome(added.welcomeFor('$add'));
  const [bob, carol, dave] = joiners.map(([id, bundle]) =>
    DmlsGroup.fromWelcome({ ...options(id), welcome, bundle }),
  ) as [DmlsGroup, DmlsGroup, DmlsGroup];
  const everyone = [alice, bob, carol, dave];
  const deliver = (groups: DmlsGroup[], event: RoomEvent, now: number) =>
    groups.map((g) => g.receive(event, now));

  const plain = (group: DmlsGroup, baseKey: string, remove: number[] = []) =>
    group.commit({ baseKey, resolveKeys: [], remove }, new Map()).content;

  const ePre = post(ALICE, plain(alice, '$add'), '$pre');
  deliver(everyone, ePre, T0 + 1000);
  const daveLeaf = alice.epoch('$pre')!.members.get(DAVE)!;
  const eRm = post(ALICE, plain(alice, '$pre', [daveLeaf]), '$rm');
  const onRm = deliver(everyone, eRm, FORK_AT);
  expect(onRm[3]![0]!.kind === 'removed', 'Dave is removed');
  const eB4 = post(BOB, plain(bob, '$rm'), '$b4');
  const eC4 = post(CAROL, plain(carol, '$rm'), '$c4');
  for (const e of [eB4, eC4]) deliver([alice, bob, carol], e, FORK_AT);
  const eOld = post(ALICE, plain(alice, '$create'), '$old');
  const onOld = deliver([alice, bob, carol], eOld, FORK_AT);
  expect(
    onOld[1]![0]!.kind === 'failed' && onOld[1]![0]!.code === 'NOT_A_MEMBER',
    '$old is foreign to Bob',
  );
  const eX = post(ALICE, plain(alice, '$b4'), '$x');
  deliver([alice], eX, FORK_AT);
  const eQ = post(ALICE, plain(alice, '$x'), '$q');
  const onQ = deliver([alice, bob, carol], eQ, FORK_AT);
  expect(onQ[1]![0]!.kind === 'queued', '$q waits for $x');
  for (const g of [bob, carol]) g.prune(FORK_AT + 1000);
  expect(bob.epoch('$add')!.held.kind === 'messages', 'Bob holds $add as message keys');
  expect(bob.epoch('$pre')!.held.kind === 'full', 'Bob holds $pre');
  expect(
    bob.tips().filter((t) => t.held.kind === 'full').length === 2,
    'Bob holds two tips in full',
  );

  // The hostile devices' holdings.
  const holdings = (group: DmlsGroup) =>
    new Map(
      group
        .epochs()
        .filter((n) => n.held.kind === 'full')
        .map((n) => [n.key, { state: (n.held as { state: GroupState }).state, node: n }]),
    );
  const hostile = new Map([
    [ALICE, holdings(alice)],
    [DAVE, holdings(dave)],
  ]);
  expect(
    EPOCHS.every((k) => hostile.get(ALICE)!.has(k)),
    'Alice holds every epoch',
  );
  const tags = new Map(alice.epochs().map((n) => [n.key, n.tag]));

  const adds: AddChoice[] = [
    { label: 'eve', bundle: keyPackage(EVE, keyPair(EVE)) },
    { label: 'dave again', bundle: keyPackage(DAVE, keyPair(DAVE)) },
    { label: "dave's second device", bundle: keyPackage(DAVE2, keyPair(DAVE2)) },
    { label: 'dave, attacker key', bundle: keyPackage(DAVE, attacker) },
    { label: 'bob, attacker key', bundle: keyPackage(BOB, attacker) },
    { label: 'bob, his key (duplicate)', bundle: keyPackage(BOB, keyPair(BOB)) },
    { label: 'carol, attacker key', bundle: keyPackage(CAROL, attacker) },
    { label: 'alice, her key (duplicate)', bundle: keyPackage(ALICE, keyPair(ALICE)) },
    { label: 'mallory, unpublished', bundle: keyPackage(MALLORY, mallory) },
    { label: 'frank, not fetched', bundle: keyPackage(FRANK, frankKeys) },
    { label: 'no device separator', bundle: keyPackage('eve', keyPair(EVE)) },
    {
      label: 'eve behind a BOM',
      bundle: keyPackage(new Uint8Array([0xef, 0xbb, 0xbf, ...utf8(EVE)]), keyPair(EVE)),
    },
    { label: 'not UTF-8', bundle: keyPackage(new Uint8Array([0xff, 0x7c, 0x41]), attacker) },
    { label: 'eve again', bundle: keyPackage(EVE, keyPair(EVE)) },
  ];

  // Seeds: events of the hostile devices that Bob and Carol have not seen. A commit's new epoch
  // is kept (as its committer would keep it) so that later seeds of a sequence can build on it.
  const seeds: SeedEvent[] = [];
  let serial = 0;
  const latest = new Map<string, { state: GroupState; node: Pick<EpochNode, 'id' | 'key'> }>();
  const stateOf = (identity: string, key: string) =>
    latest.get(`${identity} ${key}`) ?? hostile.get(identity)!.get(key)!;
  const tagOf = (key: string) => {
    const known = tags.get(key);
    if (known !== undefined) return new Uint8Array(Buffer.from(known, 'hex'));
    return stateOf(ALICE, key).state.confirmationTag;
  };
  const seed = (label: string, events: RoomEvent[]) => seeds.push({ label, events });
  const event = (from: string, content: RoomEventContent, eventId = `$in${++serial}`) => ({
    eventId,
    sender: userOf(from),
    content,
  });
  const say = (from: string, key: string, body: string): RoomEvent => {
    const { state, node } = stateOf(from, key);
    const plaintext = { type: 'm.room.message', content: { body }, room_id: ROOM };
    const sent = encryptApplication(state, utf8(JSON.stringify(plaintext)));
    latest.set(`${from} ${key}`, { state: sent.state, node });
    return event(from, roomEventContent(1, sent.message, node.id, from, node.key));
  };
  const forge = (
    from: string,
    key: string,
    data: CommitDataInput,
    extra: CommitOptions = {},
  ): RoomEvent => {
    const { state, node } = stateOf(from, key);
    const created = createCommit(state, {
      forcePath: true,
      pending: 'none',
      authenticatedData: encodeCommitData(data),
      ...extra,
    });
    if (extra.encrypt) latest.set(`${from} ${key}`, { state: created.state, node });
    const e = event(from, roomEventContent(1, created.commit, node.id, from, node.key));
    latest.set(`${from} ${e.eventId}`, {
      state: created.pending,
      node: { id: { epoch: node.id.epoch + 1n, creator: from }, key: e.eventId },
    });
    return e;
  };
  const on = (key: string): CommitDataInput => ({ baseEvent: key, resolves: [] });
  const merging = (key: string, ...others: string[]): CommitDataInput => ({
    baseEvent: key,
    resolves: others.map((k) => ({ event: k, tag: tagOf(k) })),
  });
  const leafOf = (key: string, id: string) =>
    [...stateOf(ALICE, key).state.tree.members()].find(
      ([, leaf]) =>
        'identity' in leaf.credential && new TextDecoder().decode(leaf.credential.identity) === id,
    )![0];

  for (const key of ['$b4', '$c4', '$rm', '$x', '$old', '$create'])
    seed(`alice says in ${key}`, [say(ALICE, key, `alice in ${key}`)]);
  for (const key of ['$pre', '$add'])
    seed(`dave says in ${key}`, [say(DAVE, key, `dave in ${key}`)]);
  seed('alice commits on $b4', [forge(ALICE, '$b4', on('$b4'))]);
  seed('alice commits on $c4, encrypted', [forge(ALICE, '$c4', on('$c4'), { encrypt: true })]);
  seed('alice merges $c4 into $b4', [forge(ALICE, '$b4', merging('$b4', '$c4'))]);
  seed('alice merges $b4 into $c4', [forge(ALICE, '$c4', merging('$c4', '$b4'))]);
  seed('alice merges $c4 and $old into $b4', [forge(ALICE, '$b4', merging('$b4', '$c4', '$old'))]);
  seed('alice commits on $rm', [forge(ALICE, '$rm', on('$rm'))]);
  seed('alice commits on $pre', [forge(ALICE, '$pre', on('$pre'))]);
  seed('dave commits on $pre', [forge(DAVE, '$pre', on('$pre'))]);
  seed('dave commits on $add', [forge(DAVE, '$add', on('$add'))]);
  seed('dave merges $old into $pre', [forge(DAVE, '$pre', merging('$pre', '$old'))]);
  seed('alice adds eve on $b4', [
    forge(ALICE, '$b4', on('$b4'), { add: [adds[0]!.bundle.keyPackage] }),
  ]);
  seed('alice removes carol on $b4', [
    forge(ALICE, '$b4', on('$b4'), { remove: [leafOf('$b4', CAROL)] }),
  ]);
  seed('alice removes bob on $c4', [
    forge(ALICE, '$c4', on('$c4'), { remove: [leafOf('$c4', BOB)] }),
  ]);
  seed('alice commits on $create', [forge(ALICE, '$create', on('$create'))]);
  seed('alice commits on $x', [forge(ALICE, '$x', on('$x'))]);
  seed('$x, which $q waits for', [log.get('$x')!]);
  seed('$q again', [log.get('$q')!]);
  seed('$c4 replayed', [event(CAROL, eC4.content as RoomEventContent)]);
  // Sequences: a branch without the removal of Dave, then a merge of the branch with it.
  const fromPre = forge(ALICE, '$pre', on('$pre'));
  seed('a branch on $pre, then a merge keeping dave', [
    fromPre,
    forge(ALICE, fromPre.eventId, merging(fromPre.eventId, '$b4')),
  ]);
  seed('a branch on $pre, then a merge of every tip removing dave', [
    fromPre,
    forge(ALICE, fromPre.eventId, merging(fromPre.eventId, '$b4', '$c4'), {
      remove: [leafOf(fromPre.eventId, DAVE)],
    }),
  ]);
  const byDave = forge(DAVE, '$pre', on('$pre'));
  seed('dave commits on $pre, then merges $b4 into it', [
    byDave,
    forge(DAVE, byDave.eventId, merging(byDave.eventId, '$b4')),
  ]);
  const onB4 = forge(ALICE, '$b4', on('$b4'));
  seed('alice commits on $b4, then says something there', [
    onB4,
    say(ALICE, onB4.eventId, 'on the new epoch'),
  ]);
  seed('$x, then alice says in $x', [log.get('$x')!, say(ALICE, '$x', 'in x, after')]);

  return {
    provider,
    suite,
    reseed,
    deviceKeys,
    options,
    receiver: bob.snapshot(),
    witness: carol.snapshot(),
    hostile,
    tags,
    adds,
    seeds,
    log,
  };
}
