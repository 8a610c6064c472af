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
  { id: 'full.build', label: 'build the full tree by real commits', unit: 'ms', shape: 'full' },
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

  /** Times `fn` (repeated while cheap); undefined if it ran out of budget. */
  const measure = async <T>(id: string, fn: () => Promise<T>): Promise<T | undefined> => {
    progress(`${side.name} N=${n} ${id}`);
    const times: number[] = [];
    let result!: T;
    let total = 0;
    for (let run = 0; ; run++) {
      const start = performance.now();
      budget?.start(timing.budgetMs);
      try {
        result = await fn();
      } catch (err) {
        if (!(err instanceof BudgetExceeded) && !budget?.exceeded) throw err;
        outcomes.set(id, {
          didNotFinish: {
            budgetSeconds: timing.budgetMs / 1000,
            stoppedAfterSeconds: (performance.now() - start) / 1000,
          },
        });
        await budget?.drain();
        return undefined;
      } finally {
        budget?.stop();
      }
      const ms = performance.now() - start;
      if (run === 0 && ms < timing.warmUpMs) continue;
      times.push(ms);
      total += ms;
      if (times.length >= timing.maxRuns || total + ms >= timing.repeatBudgetMs) break;
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
        if (kind === 'add') skip([`${shape}.join`], 'needs the Add, whose creation did not finish');
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
      let start = performance.now();
      const out = await side.encryptMany(sender, MESSAGE, count);
      encryptRates.push((count * 1000) / (performance.now() - start));
      sender = out.state;
      start = performance.now();
      receiver = await side.decryptMany(receiver, out.messages);
      decryptRates.push((count * 1000) / (performance.now() - start));
    }
    outcomes.set('encrypt', { value: median(encryptRates), runs: timing.messageRounds });
    outcomes.set('decrypt', { value: median(decryptRates), runs: timing.messageRounds });
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
  const built2 = { members: 0 };
  const start = performance.now();
  budget?.start(timing.budgetMs);
  let full: Awaited<ReturnType<Side<S, K>['fullTree']>> | undefined;
  try {
    full = await side.fullTree(observer, kps, n, built2);
  } catch (err) {
    if (!(err instanceof BudgetExceeded) && !budget?.exceeded) throw err;
    outcomes.set('full.build', {
      didNotFinish: {
        budgetSeconds: timing.budgetMs / 1000,
        stoppedAfterSeconds: (performance.now() - start) / 1000,
        progress: `${built2.members} of ${n} members in`,
      },
    });
    await budget?.drain();
  } finally {
    budget?.stop();
  }
  if (full) outcomes.set('full.build', { value: performance.now() - start, runs: 1 });
  yield;
  if (!full) {
    skip(after('full.build'), 'needs the full tree, whose build did not finish');
    return { outcomes, work, notes };
  }
  notes.push(`full tree: ${full.commits} commits`);
  if (!side.isFull(full.observer)) throw new Error(`${side.name}: the tree is not full`);
  if (side.leafIndex(full.committer) !== n - 1) throw new Error('committer not at leaf N−1');
  agree(full.committer, full.observer, 'full tree');
  yield* commits('full', full.committer, full.observer);
  return { outcomes, work, notes };
}
