/**
 * One library's run of `npm run bench` at one size, as a generator that yields after every
 * operation, so that the libraries' runs can be interleaved operation by operation.
 */
import { BudgetExceeded } from './tsmlsProviders.js';
import {
  createCommitWork,
  DECRYPT_MESSAGE,
  ENCRYPT_MESSAGE,
  joinWork,
  processCommitWork,
  type Work,
} from './limits.js';
import type { Committed, Side } from './sides.js';

export type Unit = 'ms' | 'bytes' | 'msg/s';
export type Shape = 'sparse' | 'full';

export interface OpSpec {
  id: string;
  label: string;
  unit: Unit;
  shape?: Shape;
  /** The libraries do different work here, so no ratio is given. */
  noRatio?: boolean;
}

const commitOps = (shape: Shape): OpSpec[] => [
  { id: `${shape}.path.create`, label: 'create a full-path commit', unit: 'ms', shape },
  { id: `${shape}.path.process`, label: 'process it', unit: 'ms', shape },
  { id: `${shape}.add.create`, label: 'create a commit with one Add', unit: 'ms', shape },
  { id: `${shape}.add.process`, label: 'process it', unit: 'ms', shape },
  ...(shape === 'full'
    ? [{ id: 'full.join', label: 'join from its Welcome', unit: 'ms', shape } as const]
    : []),
  { id: `${shape}.remove.create`, label: 'create a commit with one Remove', unit: 'ms', shape },
  { id: `${shape}.remove.process`, label: 'process it', unit: 'ms', shape },
];

export const OPS: OpSpec[] = [
  { id: 'build', label: 'build: one commit adding N−1 members', unit: 'ms' },
  { id: 'sparse.join', label: 'join from its Welcome', unit: 'ms', shape: 'sparse' },
  ...commitOps('sparse'),
  { id: 'sparse.state', label: 'serialised state of a member', unit: 'bytes', shape: 'sparse' },
  { id: 'encrypt', label: 'encrypt 1 KiB messages to wire bytes', unit: 'msg/s' },
  { id: 'decrypt', label: 'decode and decrypt them', unit: 'msg/s' },
  // Trellis: N/2 member commits; ts-mls: N external joins (see docs/performance.md).
  {
    id: 'full.build',
    label: 'build the full tree by real commits',
    unit: 'ms',
    shape: 'full',
    noRatio: true,
  },
  ...commitOps('full'),
  { id: 'full.state', label: 'serialised state of a member', unit: 'bytes', shape: 'full' },
];

export type Outcome =
  | { value: number; runs: number }
  | { didNotFinish: { budgetSeconds: number; stoppedAfterSeconds: number; progress?: string } }
  | { notRun: string };

export interface Timing {
  /** Repeat an operation while the runs so far took less than this in total… */
  repeatBudgetMs: number;
  /** …up to this many runs. */
  maxRuns: number;
  /** A first run faster than this is taken as a warm-up and not counted (0: none). */
  warmUpMs: number;
  /** Application messages per round, per library key; and rounds. */
  messages: (sideKey: string) => number;
  messageRounds: number;
  /** The time a budgeted library gets per run of an operation. */
  budgetMs: number;
}

export interface SideResult {
  outcomes: Map<string, Outcome>;
  /** The cryptographic work of each operation (from the side that reports facts). */
  work: Map<string, Work>;
  notes: string[];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const MESSAGE = new Uint8Array(1024).fill(0x5a);
export const MESSAGE_BYTES = MESSAGE.length;

/**
 * Runs every operation of `side` on an N-member group, yielding after each. `kps` holds N+1
 * KeyPackages: kps[0..n-2] are added by the bulk commit (leaves 1..n-1), kps[n-1] is the spare
 * for the one-Add commits, kps[n] the creator's. The creator (leaf 0) observes; the member of
 * leaf n−1 joins and commits (and sends the application messages); Removes remove leaf 1.
 */
export async function* runSide<S, K>(
  side: Side<S, K>,
  n: number,
  kps: K[],
  timing: Timing,
  progress: (text: string) => void,
): AsyncGenerator<void, SideResult> {
  const outcomes = new Map<string, Outcome>();
  const work = new Map<string, Work>();
  const notes: string[] = [];
  const skip = (ids: string[], reason: string) => {
    for (const id of ids) if (!outcomes.has(id)) outcomes.set(id, { notRun: reason });
  };
  const budget = side.budget;

  /**
   * Runs `fn` once under the budget: its result and time, or undefined (and `id` recorded as
   * not finished) if the budget stopped it. `progressNote` says how far it got.
   */
  const attempt = async <T>(
    id: string,
    fn: () => Promise<T>,
    progressNote?: () => string,
  ): Promise<{ result: T; ms: number } | undefined> => {
    const start = performance.now();
    budget?.start(timing.budgetMs);
    try {
      const result = await fn();
      return { result, ms: performance.now() - start };
    } catch (err) {
      if (!(err instanceof BudgetExceeded) && !budget?.exceeded) throw err;
      outcomes.set(id, {
        didNotFinish: {
          budgetSeconds: timing.budgetMs / 1000,
          stoppedAfterSeconds: (performance.now() - start) / 1000,
          ...(progressNote && { progress: progressNote() }),
        },
      });
      await budget?.drain();
      return undefined;
    } finally {
      budget?.stop();
    }
  };

  /** Times `fn`, repeated while cheap; undefined if the budget stopped it. */
  const measure = async <T>(id: string, fn: () => Promise<T>): Promise<T | undefined> => {
    progress(`${side.name} N=${n} ${id}`);
    const times: number[] = [];
    let result!: T;
    let total = 0;
    for (let run = 0; ; run++) {
      const done = await attempt(id, fn);
      if (!done) return undefined;
      result = done.result;
      if (run === 0 && done.ms < timing.warmUpMs) continue;
      times.push(done.ms);
      total += done.ms;
      if (times.length >= timing.maxRuns || total + done.ms >= timing.repeatBudgetMs) break;
    }
    outcomes.set(id, { value: median(times), runs: times.length });
    return result;
  };
  const agree = (a: S, b: S, what: string) => {
    const x = side.epochAuthenticator(a);
    const y = side.epochAuthenticator(b);
    if (x.length !== y.length || x.some((v, i) => v !== y[i])) {
      throw new Error(`${side.name} N=${n} ${what}: the two members disagree`);
    }
  };
  const after = (id: string) => OPS.slice(OPS.findIndex((o) => o.id === id) + 1).map((o) => o.id);

  const creator = await side.createGroup(kps[n]!);
  const built = await measure('build', () => side.commitAdd(creator, kps.slice(0, n - 1)));
  yield;
  if (!built) {
    skip(after('build'), 'needs the group, whose build did not finish');
    return { outcomes, work, notes };
  }
  if (side.commitFacts) work.set('build', createCommitWork(side.commitFacts(creator, built, 0)));
  const observer = built.pending;

  const joined = await measure('sparse.join', () => side.join(built.welcome!, kps[n - 2]!));
  yield;
  if (side.joinFacts && joined)
    work.set('sparse.join', joinWork(side.joinFacts(joined, built.welcome!)));

  /** The commits of one tree shape, created by `committer` and processed by `watcher`. */
  async function* commits(shape: Shape, committer: S, watcher: S): AsyncGenerator<void> {
    const kinds: [string, () => Promise<Committed<S>>][] = [
      ['path', () => side.commitPath(committer)],
      ['add', () => side.commitAdd(committer, [kps[n - 1]!])],
      ['remove', () => side.commitRemove(committer, 1)],
    ];
    for (const [kind, create] of kinds) {
      const made = await measure(`${shape}.${kind}.create`, create);
      yield;
      if (!made) {
        skip([`${shape}.${kind}.process`], 'needs the commit, whose creation did not finish');
        if (kind === 'add' && shape === 'full') {
          skip(['full.join'], 'needs the Add, whose creation did not finish');
        }
        continue;
      }
      const facts = side.commitFacts?.(committer, made, side.leafIndex(watcher));
      if (facts) {
        work.set(`${shape}.${kind}.create`, createCommitWork(facts));
        work.set(`${shape}.${kind}.process`, processCommitWork(facts));
      }
      const processed = await measure(`${shape}.${kind}.process`, () =>
        side.process(watcher, made.commit),
      );
      yield;
      if (processed) agree(processed, made.pending, `${shape} ${kind}`);
      if (kind === 'add' && shape === 'full') {
        // A new member joins the full tree: every leaf and parent hash of it checked.
        const welcome = made.welcome!;
        const newcomer = await measure('full.join', () => side.join(welcome, kps[n - 1]!));
        yield;
        if (newcomer) {
          agree(newcomer, made.pending, 'full join');
          if (side.joinFacts) work.set('full.join', joinWork(side.joinFacts(newcomer, welcome)));
        }
      }
    }
    outcomes.set(`${shape}.state`, { value: side.stateSize(watcher), runs: 1 });
  }

  if (joined) {
    if (side.leafIndex(joined) !== n - 1) throw new Error(`the joiner should be leaf ${n - 1}`);
    agree(observer, joined, 'join');
    yield* commits('sparse', joined, observer);

    // Application messages: the joined member sends, the creator reads.
    progress(`${side.name} N=${n} application messages`);
    const count = timing.messages(side.key);
    const encryptRates: number[] = [];
    const decryptRates: number[] = [];
    let sender: S = joined;
    let receiver: S = observer;
    for (let round = 0; round < timing.messageRounds; round++) {
      const sent = await attempt('encrypt', () => side.encryptMany(sender, MESSAGE, count));
      if (!sent) break;
      encryptRates.push((count * 1000) / sent.ms);
      sender = sent.result.state;
      const read = await attempt('decrypt', () => side.decryptMany(receiver, sent.result.messages));
      if (!read) break;
      decryptRates.push((count * 1000) / read.ms);
      receiver = read.result;
    }
    if (encryptRates.length === timing.messageRounds) {
      outcomes.set('encrypt', { value: median(encryptRates), runs: encryptRates.length });
    }
    if (decryptRates.length === timing.messageRounds) {
      outcomes.set('decrypt', { value: median(decryptRates), runs: decryptRates.length });
    }
    skip(['decrypt'], 'needs the messages, whose encryption did not finish');
    if (side.commitFacts) {
      work.set('encrypt', ENCRYPT_MESSAGE);
      work.set('decrypt', DECRYPT_MESSAGE);
    }
    yield;
  } else {
    skip(
      [...OPS.filter((o) => o.shape === 'sparse').map((o) => o.id), 'encrypt', 'decrypt'],
      'needs the member whose join did not finish',
    );
  }

  // The full tree, by real commits (one run, under one budget).
  progress(`${side.name} N=${n} full tree`);
  const reached = { members: 0 };
  const made = await attempt(
    'full.build',
    () => side.fullTree(observer, kps, n, reached),
    () => `${reached.members} of ${n} members in`,
  );
  yield;
  if (!made) {
    skip(after('full.build'), 'needs the full tree, whose build did not finish');
    return { outcomes, work, notes };
  }
  outcomes.set('full.build', { value: made.ms, runs: 1 });
  const full = made.result;
  notes.push(`full tree: ${full.commits} commits`);
  if (!side.isFull(full.observer)) throw new Error(`${side.name}: the tree is not full`);
  if (side.leafIndex(full.committer) !== n - 1) throw new Error('committer not at leaf N−1');
  agree(full.committer, full.observer, 'full tree');
  yield* commits('full', full.committer, full.observer);
  return { outcomes, work, notes };
}
