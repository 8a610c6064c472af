/**
 * `npm run bench`: group operations of Trellis and of ts-mls 1.6.4 side by side, in cipher suite
 * 1 (MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519), Trellis on the node crypto provider, for
 * groups of N = 100, 1000 and 10000 members.
 *
 *   npm run bench                        the table
 *   npm run bench -- --json              the same figures as one JSON object
 *   npm run bench -- --sizes 100,1000    only these sizes
 *
 * For each N and each library: build the group (one commit adding N−1 members from KeyPackages
 * made beforehand; making them is not timed), one new member joining from the Welcome, a commit
 * with a full UpdatePath, a commit with one Add, a commit with one Remove (each created by one
 * member and processed by another), the serialised state size, and 1 KiB application messages
 * encrypted and decrypted per second. Operations are pure (they return new states), so each is
 * repeated from the same state while that stays cheap, and the median is reported.
 *
 * Commit figures are given for two tree shapes:
 *  - sparse: right after the bulk add. No parent node is set, so a path is encrypted to the
 *    resolution of every copath node: N−1 HPKE encryptions, whoever commits.
 *  - full: every parent node with members under both children is set and no leaf is unmerged,
 *    as after every member has committed once, so a path costs about log2(N) encryptions. For
 *    Trellis this state is built synthetically (see `synthesizeFullTree`); for ts-mls by real
 *    commits (see bench/tsmls.ts), at the sizes where that fits the time budget.
 *
 * In both shapes the member of leaf N−1 commits, the creator (leaf 0) processes, the Remove
 * removes leaf 1 and the Add fills leaf N; application messages go from leaf N−1 to leaf 0.
 *
 * ts-mls runs an operation only if it is expected to take at most a minute: each figure is
 * extrapolated from the smaller sizes already measured (with at least the growth the operation
 * is known to have), and anything over budget is reported as skipped, with the estimate. The
 * full tree by real commits is also given a minute of wall time and abandoned past it.
 */
import os from 'node:os';
import {
  basicCredential,
  cipherSuite,
  createCommit,
  createGroup,
  createKeyPackage,
  encryptApplication,
  epochAuthenticator,
  joinFromWelcome,
  nodeCrypto,
  ownLeafNode,
  processMessage,
  serializeGroupState,
  type GroupState,
  type KeyPackageBundle,
  type MlsMessage,
} from '../src/index.js';
import type { KeyPair } from '../src/crypto/provider.js';
import { ProtocolVersion } from '../src/framing/content.js';
import { buildEpoch } from '../src/group/epoch.js';
import { confirmationTag, deriveEpochSecrets } from '../src/keySchedule.js';
import type { GroupContext } from '../src/messages/groupContext.js';
import * as math from '../src/tree/math.js';
import { NodeType, type NodeSlot } from '../src/tree/nodes.js';
import { PrivateKeys } from '../src/tree/privateKeys.js';
import { RatchetTree } from '../src/tree/ratchetTree.js';
import { treeHash } from '../src/tree/treeHash.js';
import { bytesEqual, utf8 } from '../src/util/bytes.js';
import {
  TS_MLS_VERSION,
  tsCommitAdd,
  tsCommitPath,
  tsCommitRemove,
  tsCreateGroup,
  tsDecryptMany,
  tsEncryptMany,
  tsEpochAuthenticator,
  tsFullTree,
  tsJoin,
  tsKeyPackages,
  tsLeafIndex,
  tsProcess,
  tsStateSize,
  tsTreeIsFull,
  type TsKeyPackage,
  type TsState,
} from './tsmls.js';

const SUITE = cipherSuite(1, nodeCrypto);
const NOW = BigInt(Math.floor(Date.now() / 1000));
/** An operation of ts-mls expected to take longer than this is skipped. */
const TS_BUDGET_MS = 60_000;
/** Repeat an operation while the runs so far took less than this in total, up to MAX_RUNS. */
const REPEAT_BUDGET_MS = 1_500;
const MAX_RUNS = 7;
/** A first run faster than this is taken as a warm-up and not counted. */
const WARM_UP_MS = 100;
const MESSAGE = new Uint8Array(1024).fill(0x5a);
const MESSAGE_ROUNDS = 3;

// ---------------------------------------------------------------------------------------------
// Command line

function parseArgs(argv: string[]): { json: boolean; sizes: number[] } {
  let sizes = [100, 1000, 10000];
  const json = argv.includes('--json');
  const i = argv.findIndex((a) => a === '--sizes' || a.startsWith('--sizes='));
  if (i >= 0) {
    const arg = argv[i]!;
    const list = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[i + 1];
    sizes = (list ?? '').split(',').map((s) => Number(s.trim()));
    if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n < 4)) {
      throw new Error(`--sizes wants a comma-separated list of integers ≥ 4, not "${list}"`);
    }
    sizes.sort((a, b) => a - b);
  }
  return { json, sizes };
}

// ---------------------------------------------------------------------------------------------
// The operations, and how each figure is judged

type Unit = 'ms' | 'bytes' | 'msg/s';
type Shape = 'sparse' | 'full';

interface OpSpec {
  id: string;
  label: string;
  unit: Unit;
  shape?: Shape;
  /** How ts-mls's cost grows with N at least (for extrapolation): 1 linear, 2 quadratic. */
  growth: number;
}

const COMMIT_OPS = (shape: Shape): OpSpec[] => [
  { id: `${shape}.path.create`, label: 'create a full-path commit', unit: 'ms', shape, growth: 1 },
  { id: `${shape}.path.process`, label: 'process it', unit: 'ms', shape, growth: 1 },
  {
    id: `${shape}.add.create`,
    label: 'create a commit with one Add',
    unit: 'ms',
    shape,
    growth: 1,
  },
  { id: `${shape}.add.process`, label: 'process it', unit: 'ms', shape, growth: 1 },
  {
    id: `${shape}.remove.create`,
    label: 'create a commit with one Remove',
    unit: 'ms',
    shape,
    growth: 1,
  },
  { id: `${shape}.remove.process`, label: 'process it', unit: 'ms', shape, growth: 1 },
  { id: `${shape}.state`, label: 'serialised state of a member', unit: 'bytes', shape, growth: 1 },
];

const OPS: OpSpec[] = [
  { id: 'build', label: 'build: one commit adding N−1 members', unit: 'ms', growth: 2 },
  { id: 'join', label: 'join from the Welcome (one new member)', unit: 'ms', growth: 1 },
  ...COMMIT_OPS('sparse'),
  ...COMMIT_OPS('full'),
  { id: 'encrypt', label: 'encrypt 1 KiB application messages', unit: 'msg/s', growth: 1 },
  { id: 'decrypt', label: 'decrypt 1 KiB application messages', unit: 'msg/s', growth: 1 },
];

/** The targets the figures are reported against (not asserted). */
function absoluteTarget(
  id: string,
  n: number,
): { text: string; met: (v: number) => boolean } | undefined {
  if (id === 'full.path.process' && n === 1000) return { text: '≤ 10 ms', met: (v) => v <= 10 };
  if (id === 'full.path.create' && n === 1000) return { text: '≤ 20 ms', met: (v) => v <= 20 };
  if (id === 'full.path.process' && n === 10000) return { text: '≤ 50 ms', met: (v) => v <= 50 };
  if (id === 'join' && n === 10000) return { text: '≤ 1.5 s', met: (v) => v <= 1500 };
  if (id === 'encrypt') return { text: '≥ 20,000/s', met: (v) => v >= 20_000 };
  if (id === 'decrypt') return { text: '≥ 8,000/s', met: (v) => v >= 8_000 };
  return undefined;
}
const SPEEDUP_TARGET = 10;

// ---------------------------------------------------------------------------------------------
// Timing

interface Figure {
  value: number;
  runs: number;
}
type Outcome = Figure | { skipped: string };

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Runs `fn` once, then again while cheap (a cheap first run only warms up); the median time in
 * ms and the last result.
 */
async function timed<T>(fn: () => T | Promise<T>): Promise<[Figure, T]> {
  const times: number[] = [];
  let result!: T;
  let total = 0;
  for (let run = 0; ; run++) {
    const start = performance.now();
    result = await fn();
    const ms = performance.now() - start;
    if (run === 0 && ms < WARM_UP_MS) continue;
    times.push(ms);
    total += ms;
    if (times.length >= MAX_RUNS || total + ms >= REPEAT_BUDGET_MS) break;
  }
  return [{ value: median(times), runs: times.length }, result];
}

// ---------------------------------------------------------------------------------------------
// One library behind one interface

interface Committed<S> {
  pending: S;
  commit: unknown;
  welcome?: unknown;
}

interface Side<S, K> {
  readonly name: string;
  /** Application messages per timed round. */
  readonly messagesPerRound: number;
  /** Whether operations are subject to the time budget (ts-mls). */
  readonly budgeted: boolean;
  keyPackages(count: number, tag: string): Promise<K[]>;
  createGroup(creator: K): Promise<S>;
  commitAdd(state: S, kps: K[]): Promise<Committed<S>>;
  join(welcome: unknown, kp: K): Promise<S>;
  commitPath(state: S): Promise<Committed<S>>;
  commitRemove(state: S, leaf: number): Promise<Committed<S>>;
  process(state: S, commit: unknown): Promise<S>;
  stateSize(state: S): number;
  leafIndex(state: S): number;
  epochAuthenticator(state: S): Uint8Array;
  encryptMany(state: S, count: number): Promise<{ state: S; messages: unknown[] }>;
  decryptMany(state: S, messages: unknown[]): Promise<S>;
  /**
   * Committer (leaf N-1) and observer (leaf 0) states of an N-member group with a full tree,
   * from the sparse group's creator state and KeyPackages; `how` says how it was made.
   */
  fullTree(
    creator: S,
    kps: K[],
    n: number,
  ): Promise<{ committer: S; observer: S; how: string } | { skipped: string }>;
  isFull(state: S): boolean;
}

const trellis: Side<GroupState, KeyPackageBundle> = {
  name: 'Trellis',
  messagesPerRound: 500,
  budgeted: false,
  async keyPackages(count, tag) {
    return Array.from({ length: count }, (_, i) =>
      createKeyPackage(SUITE, { credential: basicCredential(utf8(`${tag}-${i}`)), now: NOW }),
    );
  },
  async createGroup(creator) {
    return createGroup(SUITE, {
      credential: creator.keyPackage.leafNode.credential,
      signatureKeyPair: {
        privateKey: creator.signaturePrivateKey,
        publicKey: creator.keyPackage.leafNode.signatureKey,
      },
      now: NOW,
    });
  },
  async commitAdd(state, kps) {
    const c = createCommit(state, { add: kps.map((kp) => kp.keyPackage) });
    return { pending: c.pending, commit: c.commit, welcome: c.welcome };
  },
  async join(welcome, kp) {
    const w = welcome as MlsMessage;
    if (w.wireFormat !== 3) throw new Error('not a Welcome');
    return joinFromWelcome(nodeCrypto, w.welcome, kp, { now: NOW });
  },
  async commitPath(state) {
    const c = createCommit(state, { forcePath: true });
    return { pending: c.pending, commit: c.commit };
  },
  async commitRemove(state, leaf) {
    const c = createCommit(state, { remove: [leaf] });
    return { pending: c.pending, commit: c.commit };
  },
  async process(state, commit) {
    const r = processMessage(state, commit as MlsMessage);
    if (r.kind !== 'commit') throw new Error(`expected a commit, got ${r.kind}`);
    return r.state;
  },
  stateSize: (state) => serializeGroupState(state).length,
  leafIndex: (state) => state.ownLeaf,
  epochAuthenticator: (state) => epochAuthenticator(state),
  async encryptMany(state, count) {
    const messages: MlsMessage[] = [];
    for (let i = 0; i < count; i++) {
      const sent = encryptApplication(state, MESSAGE);
      state = sent.state;
      messages.push(sent.message);
    }
    return { state, messages };
  },
  async decryptMany(state, messages) {
    for (const m of messages) {
      const r = processMessage(state, m as MlsMessage);
      if (r.kind !== 'application') throw new Error(`expected application data, got ${r.kind}`);
      state = r.state;
    }
    return state;
  },
  async fullTree(creator, kps, n) {
    const start = performance.now();
    const full = synthesizeFullTree(creator, kps.slice(0, n - 1));
    return {
      ...full,
      how: `synthetic, see synthesizeFullTree (${seconds(performance.now() - start)} to build)`,
    };
  },
  isFull: trellisTreeIsFull,
};

const tsMls: Side<TsState, TsKeyPackage> = {
  name: 'ts-mls',
  messagesPerRound: 100,
  budgeted: true,
  keyPackages: tsKeyPackages,
  createGroup: tsCreateGroup,
  commitAdd: tsCommitAdd,
  join: (welcome, kp) => tsJoin(welcome as Parameters<typeof tsJoin>[0], kp),
  commitPath: tsCommitPath,
  commitRemove: tsCommitRemove,
  process: (state, commit) => tsProcess(state, commit as Parameters<typeof tsProcess>[1]),
  stateSize: tsStateSize,
  leafIndex: tsLeafIndex,
  epochAuthenticator: tsEpochAuthenticator,
  encryptMany: (state, count) => tsEncryptMany(state, MESSAGE, count),
  decryptMany: (state, messages) =>
    tsDecryptMany(state, messages as Parameters<typeof tsDecryptMany>[1]),
  async fullTree(_creator, kps, n) {
    // A group of its own: founder kps[n] (leaf 0), kps[0] (leaf 1), then kps[1..n-2] joining.
    const start = performance.now();
    const full = await tsFullTree(kps[n]!, kps[0]!, kps.slice(1, n - 1), start + TS_BUDGET_MS);
    const ms = performance.now() - start;
    if ('stoppedAfter' in full) {
      // Over budget: note the time it would have taken, for the larger sizes.
      record('full.build', n, (ms * n) / full.stoppedAfter);
      return {
        skipped: `building it by ${n} real commits took over ${seconds(TS_BUDGET_MS)} (stopped after ${full.stoppedAfter})`,
      };
    }
    record('full.build', n, ms);
    return { ...full, how: `${n} real commits (${seconds(ms)} to build)` };
  },
  isFull: tsTreeIsFull,
};

// ---------------------------------------------------------------------------------------------
// Trellis's full tree, built synthetically

/**
 * A full tree for Trellis without N/2 real commits (infeasible at N = 10,000): the states of the
 * committer (leaf N-1) and the observer (leaf 0) of a group whose ratchet tree has
 *  - the real signed leaf nodes of the sparse group's members (leaf 0 the creator's own leaf,
 *    leaf i the leaf of KeyPackage i−1);
 *  - every parent node with members under both of its children holding a fresh HPKE key pair,
 *    a random parent_hash and empty unmerged_leaves; the others stay blank, as real commits
 *    leave them (such a node is never on a filtered direct path, §4.1.2);
 * built with RatchetTree.fromNodeList. Both states share one GroupContext (a fresh group id,
 * the tree's hash, a random confirmed transcript hash) and one set of epoch secrets derived from
 * a random epoch secret (keySchedule.ts deriveEpochSecrets, with the matching confirmation tag),
 * and each holds its leaf's private key and the private keys of its own direct path (the
 * PrivateKeys of tree/privateKeys.ts), assembled by group/epoch.ts buildEpoch. A commit is
 * checked only along its new path (parent hashes of the path, the committer's leaf, the tree hash
 * of the result), so the arbitrary old parent_hash values are never looked at.
 */
function synthesizeFullTree(
  creator: GroupState,
  bundles: readonly KeyPackageBundle[],
): { committer: GroupState; observer: GroupState } {
  const n = bundles.length + 1;
  let leafCount = 1;
  while (leafCount < n) leafCount *= 2;
  const width = math.nodeWidth(leafCount);
  const random = () => SUITE.provider.randomBytes(SUITE.kdf.size);

  const slots: NodeSlot[] = new Array<NodeSlot>(width).fill(undefined);
  slots[0] = { nodeType: NodeType.leaf, leaf: ownLeafNode(creator) };
  bundles.forEach((b, i) => {
    slots[math.leafToNode(i + 1)] = { nodeType: NodeType.leaf, leaf: b.keyPackage.leafNode };
  });
  const parentKeys = new Map<number, KeyPair>();
  for (let node = 1; node < width; node += 2) {
    // Members are leaves 0..n-1, so both sides hold one if the right child's first leaf does.
    if ((node + 1) / 2 >= n) continue;
    const pair = SUITE.kem.generateKeyPair();
    parentKeys.set(node, pair);
    slots[node] = {
      nodeType: NodeType.parent,
      parent: { encryptionKey: pair.publicKey, parentHash: random(), unmergedLeaves: [] },
    };
  }
  while (slots[slots.length - 1] === undefined) slots.pop();
  const tree = RatchetTree.fromNodeList(slots);

  const context: GroupContext = {
    version: ProtocolVersion.mls10,
    cipherSuite: SUITE.id,
    groupId: random(),
    epoch: 1n,
    treeHash: treeHash(tree, SUITE.hash),
    confirmedTranscriptHash: random(),
    extensions: [],
  };
  const secrets = deriveEpochSecrets(SUITE, random());
  const tag = confirmationTag(SUITE, secrets.confirmationKey, context.confirmedTranscriptHash);
  const stateOf = (leaf: number, leafKeys: KeyPair, signaturePrivateKey: Uint8Array) => {
    const path = math
      .directPath(math.leafToNode(leaf), leafCount)
      .flatMap((node) => (parentKeys.has(node) ? [[node, parentKeys.get(node)!] as const] : []));
    return buildEpoch({
      suite: SUITE,
      config: creator.config,
      context,
      tree,
      ownLeaf: leaf,
      privateKeys: PrivateKeys.forLeaf(leaf, leafKeys).with(path),
      signaturePrivateKey,
      secrets,
      confirmationTag: tag,
    });
  };
  const last = bundles[n - 2]!;
  return {
    observer: stateOf(0, creator.privateKeys.get(0)!, creator.signaturePrivateKey),
    committer: stateOf(
      n - 1,
      { privateKey: last.encryptionPrivateKey, publicKey: last.keyPackage.leafNode.encryptionKey },
      last.signaturePrivateKey,
    ),
  };
}

/** Whether every parent node with members under both children is set, with nothing unmerged. */
function trellisTreeIsFull(state: GroupState): boolean {
  const tree = state.tree;
  const memberIn = (first: number, last: number): boolean => {
    for (let leaf = first; leaf <= last; leaf++) if (tree.leaf(leaf)) return true;
    return false;
  };
  for (let node = 1; node < tree.nodeCount; node += 2) {
    const half = 1 << (math.level(node) - 1);
    const first = (node + 1) / 2 - half;
    const split = memberIn(first, first + half - 1) && memberIn(first + half, first + 2 * half - 1);
    const parent = tree.parent(node);
    if (split && (parent === undefined || parent.unmergedLeaves.length > 0)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Running one library at one size

type Results = Map<string, Outcome>;

/** Past ts-mls timings by operation, for extrapolation. */
const tsHistory = new Map<string, { n: number; ms: number }[]>();

function record(id: string, n: number, ms: number): void {
  const list = tsHistory.get(id) ?? [];
  list.push({ n, ms });
  tsHistory.set(id, list);
}

/** The expected ts-mls time of an operation at `n`, if anything smaller was measured. */
function extrapolate(id: string, n: number, growth: number): number | undefined {
  const history = (tsHistory.get(id) ?? []).filter((h) => h.n < n);
  const last = history[history.length - 1];
  if (!last) return undefined;
  let exponent = growth;
  const prev = history[history.length - 2];
  if (prev && last.ms > 0 && prev.ms > 0) {
    exponent = Math.max(exponent, Math.log(last.ms / prev.ms) / Math.log(last.n / prev.n));
  }
  return last.ms * (n / last.n) ** exponent;
}

function seconds(ms: number): string {
  return ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`;
}

interface Notes {
  /** How the full tree came about at this size, per library. */
  fullTree: Record<string, string>;
  /** Untimed set-up: making the KeyPackages. */
  keyPackagesMs: Record<string, number>;
}

/** How a ts-mls cost grows with N at least, for operations not in OPS. */
const GROWTH: Record<string, number> = { 'full.build': 2 };

/** Runs every operation of one library at one size; for ts-mls, skips what is over budget. */
async function runSide<S, K>(
  side: Side<S, K>,
  n: number,
  options: { progress: (text: string) => void; warmUp?: boolean },
): Promise<{ results: Results; notes: Notes }> {
  const results: Results = new Map();
  const notes: Notes = { fullTree: {}, keyPackagesMs: {} };
  const limited = side.budgeted && !options.warmUp;
  const skipAll = (ids: string[], reason: string) => {
    for (const id of ids) if (!results.has(id)) results.set(id, { skipped: reason });
  };
  const overBudget = (id: string): string | undefined => {
    if (!limited) return undefined;
    const growth = OPS.find((o) => o.id === id)?.growth ?? GROWTH[id] ?? 1;
    const estimate = extrapolate(id, n, growth);
    if (estimate === undefined || estimate <= TS_BUDGET_MS) return undefined;
    const from = tsHistory.get(id)!.filter((h) => h.n < n);
    return `estimated ${seconds(estimate)} > ${seconds(TS_BUDGET_MS)}, extrapolated from N=${from.map((h) => h.n).join(', ')}`;
  };
  const measure = async <T>(id: string, fn: () => Promise<T>): Promise<T> => {
    options.progress(`${side.name} N=${n} ${id}`);
    const [figure, result] = await timed(fn);
    results.set(id, figure);
    if (limited) record(id, n, figure.value);
    return result;
  };
  const sparseIds = OPS.filter((o) => o.shape !== 'full').map((o) => o.id);
  const fullIds = OPS.filter((o) => o.shape === 'full').map((o) => o.id);

  const buildSkip = overBudget('build');
  if (buildSkip) {
    skipAll(sparseIds, `build ${buildSkip}`);
    skipAll(fullIds, 'no group at this size (build skipped)');
    return { results, notes };
  }

  // KeyPackages: kps[0..n-2] are added by the bulk commit (leaves 1..n-1), kps[n-1] is the
  // spare for the one-Add commits, kps[n] the creator's. The creator (leaf 0) observes; the
  // member of leaf n-1 joins and commits (and sends the application messages); commits with a
  // Remove remove leaf 1.
  options.progress(`${side.name} N=${n} KeyPackages`);
  let start = performance.now();
  const kps = await side.keyPackages(n + 1, `n${n}`);
  notes.keyPackagesMs[side.name] = performance.now() - start;
  const creator = await side.createGroup(kps[n]!);

  const built = await measure('build', () => side.commitAdd(creator, kps.slice(0, n - 1)));
  const joinSkip = overBudget('join');
  if (joinSkip) {
    skipAll(sparseIds, `join ${joinSkip}`);
    skipAll(fullIds, 'no second member (join skipped)');
    return { results, notes };
  }
  const joined = await measure('join', () => side.join(built.welcome, kps[n - 2]!));
  if (side.leafIndex(joined) !== n - 1) throw new Error(`the joiner should be leaf ${n - 1}`);
  const observer = built.pending;
  if (!bytesEqual(side.epochAuthenticator(observer), side.epochAuthenticator(joined))) {
    throw new Error(`${side.name}: creator and joiner disagree`);
  }

  const commitOps = async (shape: Shape, committer: S, watcher: S) => {
    const ops: [string, () => Promise<Committed<S>>][] = [
      ['path', () => side.commitPath(committer)],
      ['add', () => side.commitAdd(committer, [kps[n - 1]!])],
      ['remove', () => side.commitRemove(committer, 1)],
    ];
    for (const [kind, create] of ops) {
      const createId = `${shape}.${kind}.create`;
      const processId = `${shape}.${kind}.process`;
      const skip = overBudget(createId) ?? overBudget(processId);
      if (skip) {
        skipAll([createId, processId], skip);
        continue;
      }
      const made = await measure(createId, create);
      const processed = await measure(processId, () => side.process(watcher, made.commit));
      if (!bytesEqual(side.epochAuthenticator(processed), side.epochAuthenticator(made.pending))) {
        throw new Error(`${side.name} N=${n} ${shape} ${kind}: committer and observer disagree`);
      }
    }
    results.set(`${shape}.state`, { value: side.stateSize(watcher), runs: 1 });
  };

  await commitOps('sparse', joined, observer);

  // Application messages: the joined member sends, the creator reads.
  options.progress(`${side.name} N=${n} application messages`);
  const count = side.messagesPerRound;
  const encryptRates: number[] = [];
  const decryptRates: number[] = [];
  let sender: S = joined as S;
  let receiver: S = observer as S;
  for (let round = 0; round < MESSAGE_ROUNDS; round++) {
    start = performance.now();
    const sent = await side.encryptMany(sender, count);
    encryptRates.push((count * 1000) / (performance.now() - start));
    sender = sent.state;
    start = performance.now();
    receiver = await side.decryptMany(receiver, sent.messages);
    decryptRates.push((count * 1000) / (performance.now() - start));
  }
  results.set('encrypt', { value: median(encryptRates), runs: MESSAGE_ROUNDS });
  results.set('decrypt', { value: median(decryptRates), runs: MESSAGE_ROUNDS });

  // The full tree.
  const skip = overBudget('full.build');
  if (skip) {
    notes.fullTree[side.name] = `not built: ${n} real commits ${skip}`;
    skipAll(fullIds, `full tree by real commits ${skip}`);
  } else {
    options.progress(`${side.name} N=${n} full tree`);
    const full = await side.fullTree(observer, kps, n);
    if ('skipped' in full) {
      notes.fullTree[side.name] = `not built: ${full.skipped}`;
      skipAll(fullIds, full.skipped);
    } else {
      if (!side.isFull(full.observer)) throw new Error(`${side.name}: the tree is not full`);
      if (side.leafIndex(full.committer) !== n - 1) throw new Error('committer not at leaf N-1');
      notes.fullTree[side.name] = full.how;
      await commitOps('full', full.committer as S, full.observer as S);
    }
  }
  return { results, notes };
}

// ---------------------------------------------------------------------------------------------
// Output

function formatValue(unit: Unit, v: number): string {
  if (unit === 'ms') {
    if (v >= 10_000) return `${(v / 1000).toFixed(1)} s`;
    if (v >= 1000) return `${(v / 1000).toFixed(2)} s`;
    if (v >= 100) return `${v.toFixed(0)} ms`;
    if (v >= 10) return `${v.toFixed(1)} ms`;
    return `${v.toFixed(2)} ms`;
  }
  if (unit === 'bytes') return `${Math.round(v).toLocaleString('en-US')} B`;
  return `${Math.round(v).toLocaleString('en-US')}/s`;
}

/** ts-mls time over Trellis time, or Trellis rate over ts-mls rate: above 1, Trellis is faster. */
function speedup(unit: Unit, trellisValue: number, tsValue: number): number {
  return unit === 'msg/s' ? trellisValue / tsValue : tsValue / trellisValue;
}

interface Row {
  id: string;
  label: string;
  shape: Shape | null;
  unit: Unit;
  trellis: Outcome;
  tsMls: Outcome;
  /** For times and rates: how many times faster Trellis is. */
  speedup?: number;
  /** For sizes: Trellis bytes / ts-mls bytes. */
  ratio?: number;
  targets: { target: string; met: boolean }[];
}

function rowsFor(n: number, trellisResults: Results, tsResults: Results): Row[] {
  return OPS.map((op) => {
    const t = trellisResults.get(op.id) ?? { skipped: 'not measured' };
    const s = tsResults.get(op.id) ?? { skipped: 'not measured' };
    const row: Row = {
      id: op.id,
      label: op.label,
      shape: op.shape ?? null,
      unit: op.unit,
      trellis: t,
      tsMls: s,
      targets: [],
    };
    const abs = absoluteTarget(op.id, n);
    if (abs && 'value' in t) row.targets.push({ target: abs.text, met: abs.met(t.value) });
    if ('value' in t && 'value' in s) {
      if (op.unit === 'bytes') {
        row.ratio = t.value / s.value;
      } else {
        row.speedup = speedup(op.unit, t.value, s.value);
        row.targets.push({
          target: `≥ ${SPEEDUP_TARGET}× ts-mls`,
          met: row.speedup >= SPEEDUP_TARGET,
        });
      }
    }
    return row;
  });
}

function printTable(sizes: { n: number; rows: Row[]; notes: Notes }[], header: string[]): void {
  for (const line of header) console.log(line);
  for (const { n, rows, notes } of sizes) {
    console.log('');
    console.log(`N = ${n.toLocaleString('en-US')}`);
    const table = [['operation', 'Trellis', 'ts-mls', 'vs ts-mls', 'targets']];
    let shape: Shape | null = null;
    for (const row of rows) {
      if (row.shape !== shape && row.shape !== null) {
        table.push([
          `${row.shape} tree (${row.shape === 'sparse' ? 'right after the bulk add' : 'every split parent set, nothing unmerged'})`,
          '',
          '',
          '',
          '',
        ]);
      }
      if (row.shape === null && shape !== null) table.push(['messages', '', '', '', '']);
      shape = row.shape;
      const cell = (o: Outcome) => ('value' in o ? formatValue(row.unit, o.value) : 'skipped*');
      const versus =
        row.speedup !== undefined
          ? `${row.speedup >= 10 ? row.speedup.toFixed(0) : row.speedup.toFixed(1)}× faster`
          : row.ratio !== undefined
            ? `${row.ratio.toFixed(2)}× size`
            : '';
      const targets = row.targets.map((t) => `${t.target} ${t.met ? 'met' : 'MISSED'}`).join('; ');
      table.push([
        `${row.shape ? '  ' : ''}${row.label}`,
        cell(row.trellis),
        cell(row.tsMls),
        versus,
        targets,
      ]);
    }
    const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
    const fmt = (r: string[]) =>
      r
        .map((c, i) => (i === 0 || i === 4 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
        .join('  ')
        .trimEnd();
    console.log(fmt(table[0]!));
    console.log(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const r of table.slice(1)) console.log(fmt(r));
    const skipped = rows.flatMap((r) =>
      (['trellis', 'tsMls'] as const).flatMap((lib) => {
        const o = r[lib];
        return 'skipped' in o
          ? [`${lib === 'tsMls' ? 'ts-mls' : 'Trellis'} ${r.id}: ${o.skipped}`]
          : [];
      }),
    );
    const reasons = [...new Set(skipped.map((s) => s.replace(/^(\S+) \S+: /, '$1: ')))];
    for (const reason of reasons) console.log(`  * skipped, ${reason}`);
    for (const [lib, how] of Object.entries(notes.fullTree))
      console.log(`  full tree, ${lib}: ${how}`);
    console.log(
      `  KeyPackages made beforehand (untimed): ${Object.entries(notes.keyPackagesMs)
        .map(([lib, ms]) => `${lib} ${seconds(ms)}`)
        .join(', ')}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { json, sizes } = parseArgs(process.argv.slice(2));
  const began = performance.now();
  const loadBefore = os.loadavg()[0]!;
  const progress = (text: string) => {
    if (!json && process.stderr.isTTY) process.stderr.write(`\r\x1b[K${text}`);
  };

  // Warm both libraries' code paths up on a small group, and seed ts-mls's extrapolation with
  // a size below the smallest one asked for when that one is large.
  progress('warming up');
  await runSide(trellis, 16, { progress: () => {}, warmUp: true });
  await runSide(tsMls, 16, { progress: () => {}, warmUp: true });
  tsHistory.clear();
  if (sizes[0]! > 100) await runSide(tsMls, 100, { progress });

  const out: { n: number; rows: Row[]; notes: Notes }[] = [];
  for (const n of sizes) {
    const t = await runSide(trellis, n, { progress });
    const s = await runSide(tsMls, n, { progress });
    out.push({
      n,
      rows: rowsFor(n, t.results, s.results),
      notes: {
        fullTree: { ...t.notes.fullTree, ...s.notes.fullTree },
        keyPackagesMs: { ...t.notes.keyPackagesMs, ...s.notes.keyPackagesMs },
      },
    });
  }
  progress('');
  const totalSeconds = (performance.now() - began) / 1000;

  const meta = {
    node: process.version,
    cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown'}`,
    loadAverage: { before: loadBefore, after: os.loadavg()[0]! },
    cipherSuite: 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519',
    trellisProvider: 'node',
    tsMlsVersion: TS_MLS_VERSION,
    tsMlsBudgetSeconds: TS_BUDGET_MS / 1000,
    messageBytes: MESSAGE.length,
  };
  if (json) {
    const round = (_key: string, v: unknown) =>
      typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(4)) : v;
    console.log(
      JSON.stringify(
        {
          ...meta,
          sizes: out.map(({ n, rows, notes }) => ({ n, operations: rows, notes })),
          totalSeconds: Math.round(totalSeconds),
        },
        round,
      ),
    );
    return;
  }
  printTable(out, [
    `Trellis vs ts-mls ${TS_MLS_VERSION}: ${meta.cipherSuite}, Trellis on the node provider`,
    `Node ${process.version}, ${meta.cpus}, load average ${loadBefore.toFixed(1)} at start, ${meta.loadAverage.after.toFixed(1)} at end`,
    `Times: median of up to ${MAX_RUNS} runs while cheap (a first run under ${WARM_UP_MS} ms is a warm-up), one run when slow.`,
    `Commits are made by leaf N−1 and processed by leaf 0; the Remove removes leaf 1; the Add fills leaf N.`,
    `Messages: ${MESSAGE_ROUNDS} rounds of ${trellis.messagesPerRound} (Trellis) or ${tsMls.messagesPerRound} (ts-mls), leaf N−1 to leaf 0, median rate; objects, not wire bytes.`,
    `ts-mls operations expected to exceed ${TS_BUDGET_MS / 1000} s are skipped (extrapolated from the smaller N).`,
    `State sizes: ts-mls keeps the ratchet and secret trees of up to 4 past epochs by default (for late messages), Trellis none.`,
  ]);
  console.log('');
  console.log(`Finished in ${Math.round(totalSeconds)} s.`);
}

await main();
