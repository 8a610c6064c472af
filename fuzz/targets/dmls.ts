/**
 * dMLS targets: hostile room events fed to one honest receiving device (Bob) of a small room
 * with a fork already present (dmlsFixtures.ts), and to a second honest device (Carol) that
 * receives the same events. Both are restored from the fixture's snapshots before every input,
 * so an input means the same thing whatever ran before it.
 *
 * - `dmls-room-event`: JSON of one room event `{event_id, sender, content}` (or a list of up to
 *   four, delivered in order) around valid commits and messages of Alice (a hostile member) and
 *   Dave (a removed device). The engine's JSON mutations and a structure-aware one (a clear
 *   field of the content replaced by another value that means something in this room, events
 *   added, dropped, repeated or swapped) work on it. `event_id` and the Matrix `sender` are the
 *   server's: mutating them models a hostile homeserver.
 * - `dmls-commit-data`: a commit made and signed by Alice or Dave with the engine, on any epoch
 *   the committer holds, whose authenticated data (TrellisCommitData) is the input's, optionally
 *   with Adds of KeyPackages naming other devices, Removes and encryption. The commit data is
 *   mutated by field (base_event, resolves entries, tags, version) as well as by bytes.
 *
 * Invariants, after every event (`violations`) and after the input (`check`):
 *
 * 1. `receive` returns Received values: any exception out of it is a failure, DmlsError and
 *    MlsError included (they must come back as `failed`).
 * 2. Each device's graph only has edges (base, resolves) and aliases to epochs in it, parents
 *    have a smaller generation than their children (no cycle), there is a tip, every tip held
 *    in full has a name commit data can carry (1 to 255 bytes), and a device not removed by
 *    the input holds a tip in full and has a `current()`.
 * 3. A refused event changes a device's snapshot only as its outcome allows (`excessOf`),
 *    checked when `receive` returns that outcome alone (no waiting event was retried):
 *    - `failed`, any code but NOT_A_MEMBER: `refused` gains the event id. EPOCH_EXPIRED and
 *      OWN_COMMIT_LOST may also add the id to `unfollowable` (the base is held as message keys,
 *      or the commit is this device's own and it kept no state for it) and record the event
 *      as an epoch held `none` on its base (receive.ts does both by design);
 *    - `failed` NOT_A_MEMBER (parked): `parked` gains the event, which may be recorded as an
 *      epoch held `none`;
 *    - `queued`: the queue gains the event (an entry of the same id may go);
 *    - `duplicate`: `seen` gains the id, and `aliases` may map it to an epoch in the graph.
 *    An epoch recorded `none` has the event's id, no members, a base (if any) and resolves in
 *    the graph, and sets their `supersededAt` where they had none; nothing else changes. A
 *    `message` read is held to the same standard: `seen` gains the id and only the secrets of
 *    one epoch change. Applied commits (`commit`, `removed`) are held to 2, 4 and 5.
 * 4. The two honest devices agree on events from third parties: both apply a commit (as
 *    `commit` or `removed`) or neither does, and both read a message or neither does; two
 *    applied commits make the same epoch (confirmation tag).
 * 5. After the input, Bob encrypts a message in `current()` and Carol reads it if Bob's view
 *    of that epoch has her as a member, and does not read it if not; the same from Carol to
 *    Bob. If every event was refused, Bob's `current()` is the epoch it was.
 */
import {
  createCommit,
  decode,
  encode,
  MlsError,
  Reader,
  roomAlgorithm,
  welcomeAlgorithm,
  Writer,
  type Codec,
} from '../../packages/mls/src/index.js';
import {
  DmlsGroup,
  encodeCommitData,
  type CommitData,
  type CommitDataInput,
  type DmlsSnapshot,
  type EpochRecord,
  type Received,
  type RoomEvent,
  type RoomEventContent,
} from '../../packages/dmls/src/index.js';
import { roomEventContent } from '../../packages/dmls/src/wire.js';
import {
  InvariantViolation,
  type FuzzTarget,
  type Outcome,
  type TargetInstance,
} from '../engine.js';
import type { Prng } from '../prng.js';
import { traceFields, type FieldMap } from '../trace.js';
import {
  ALICE,
  BOB,
  CAROL,
  DAVE,
  DAVE2,
  dmlsWorld,
  EPOCHS,
  EVE,
  FRANK,
  NOW,
  userOf,
  type DmlsWorld,
} from './dmlsFixtures.js';

const MAX_EVENTS = 4;
/** Event ids of the probes (`check`): no input names them. */
const PROBE_ID = '$fuzz-harness-probe/';
const utf8 = new TextEncoder();
/** An event id or epoch key as messages show it. */
const short = (id: string) => JSON.stringify(id.length > 24 ? `${id.slice(0, 20)}…` : id);
const fromUtf8 = new TextDecoder();

// ---------------------------------------------------------------------------------------------
// Snapshot deltas

/** What changed between two snapshots of one group. */
interface Delta {
  epochsAdded: EpochRecord[];
  /** Keys of epochs whose record changed, with the fields that did. */
  epochsChanged: Map<string, string[]>;
  epochsRemoved: string[];
  aliasesAdded: [string, string][];
  aliasesOther: boolean;
  queueAdded: string[];
  queueRemoved: string[];
  parkedAdded: string[];
  parkedRemoved: string[];
  /** Ids each set gained; a set that lost one is listed in `shrank`. */
  gained: { seen: string[]; refused: string[]; unfollowable: string[] };
  shrank: string[];
  /** Other meta fields that changed (pending, joinedAt, ...). */
  meta: string[];
}

type Wait = DmlsSnapshot['meta']['queue'][number];

/**
 * Queue entries by identity: the event object itself (a restored or live group keeps the very
 * object it was given, so content is never serialised here: it may be nested beyond what
 * JSON.stringify can write) and what it waits for.
 */
function waitsDelta(before: readonly Wait[], after: readonly Wait[]) {
  const same = (a: Wait, b: Wait) =>
    a.event === b.event &&
    a.awaiting === b.awaiting &&
    a.since === b.since &&
    JSON.stringify(a.devices ?? []) === JSON.stringify(b.devices ?? []);
  return {
    added: after.filter((a) => !before.some((b) => same(a, b))).map((w) => w.event.eventId),
    removed: before.filter((b) => !after.some((a) => same(a, b))).map((w) => w.event.eventId),
  };
}

function setDelta(before: readonly string[], after: readonly string[]) {
  const b = new Set(before);
  const a = new Set(after);
  return { gained: [...a].filter((x) => !b.has(x)), lost: [...b].some((x) => !a.has(x)) };
}

function snapshotDelta(before: DmlsSnapshot, after: DmlsSnapshot): Delta {
  const byKey = new Map(before.epochs.map((r) => [r.key, r]));
  const afterKeys = new Set(after.epochs.map((r) => r.key));
  const epochsAdded: EpochRecord[] = [];
  const epochsChanged = new Map<string, string[]>();
  for (const record of after.epochs) {
    const old = byKey.get(record.key);
    if (!old) {
      epochsAdded.push(record);
      continue;
    }
    const fields = [
      ...new Set([...Object.keys(old), ...Object.keys(record)] as (keyof EpochRecord)[]),
    ].filter((f) => JSON.stringify(old[f]) !== JSON.stringify(record[f]));
    if (fields.length > 0) epochsChanged.set(record.key, fields);
  }
  const aliasKey = ([e, k]: [string, string]) => `${e}\u0000${k}`;
  const aliasesBefore = new Set(before.meta.aliases.map(aliasKey));
  const aliasesAfter = new Set(after.meta.aliases.map(aliasKey));
  const queue = waitsDelta(before.meta.queue, after.meta.queue);
  const parked = waitsDelta(before.meta.parked, after.meta.parked);
  const sets = {
    seen: setDelta(before.meta.seen, after.meta.seen),
    refused: setDelta(before.meta.refused, after.meta.refused),
    unfollowable: setDelta(before.meta.unfollowable, after.meta.unfollowable),
  };
  const meta = (['version', 'roomId', 'identity', 'suite', 'joinedAt', 'pending'] as const).filter(
    (f) => JSON.stringify(before.meta[f]) !== JSON.stringify(after.meta[f]),
  );
  return {
    epochsAdded,
    epochsChanged,
    epochsRemoved: before.epochs.filter((r) => !afterKeys.has(r.key)).map((r) => r.key),
    aliasesAdded: after.meta.aliases.filter((a) => !aliasesBefore.has(aliasKey(a))),
    aliasesOther: before.meta.aliases.some((a) => !aliasesAfter.has(aliasKey(a))),
    queueAdded: queue.added,
    queueRemoved: queue.removed,
    parkedAdded: parked.added,
    parkedRemoved: parked.removed,
    gained: {
      seen: sets.seen.gained,
      refused: sets.refused.gained,
      unfollowable: sets.unfollowable.gained,
    },
    shrank: Object.entries(sets)
      .filter(([, d]) => d.lost)
      .map(([name]) => name),
    meta: [...meta],
  };
}

const only = (list: readonly string[], id: string) => list.every((x) => x === id);

/** A `none` epoch recorded for an event that was not applied: no members, no merge. */
function isNoneRecord(record: EpochRecord, id: string, keys: ReadonlySet<string>): boolean {
  return (
    record.key === id &&
    record.held === 'none' &&
    record.members.length === 0 &&
    record.resolves.every((k) => keys.has(k)) &&
    (record.base === undefined || keys.has(record.base))
  );
}

/**
 * Why `delta` is more than the outcome of event `id` allows (see the header), or undefined.
 * `result` is the event's own outcome, returned alone.
 */
function excessOf(
  delta: Delta,
  result: Received,
  id: string,
  before: DmlsSnapshot,
): string | undefined {
  const keys = new Set(before.epochs.map((r) => r.key));
  const problems: string[] = [];
  const none = (what: string, list: readonly unknown[]) => {
    if (list.length > 0) problems.push(`${what} ${JSON.stringify(list).slice(0, 200)}`);
  };
  const code = result.kind === 'failed' ? result.code : undefined;
  const recordsNone =
    code === 'NOT_A_MEMBER' || code === 'EPOCH_EXPIRED' || code === 'OWN_COMMIT_LOST';
  none(
    'epochs added',
    delta.epochsAdded.filter((r) => !(recordsNone && isNoneRecord(r, id, keys))),
  );
  if (delta.epochsAdded.length > 1) problems.push('more than one epoch added');
  // A message read moves its epoch's ratchet: that epoch's secrets, and nothing else. An epoch
  // recorded `none` on a base marks the base superseded (graph.add), as any child does.
  const recorded = delta.epochsAdded.find((r) => isNoneRecord(r, id, keys));
  const recordedOn = new Set([
    ...(recorded?.base !== undefined ? [recorded.base] : []),
    ...(recorded?.resolves ?? []),
  ]);
  const changed = [...delta.epochsChanged].filter(
    ([key, fields]) =>
      !(
        (result.kind === 'message' &&
          delta.epochsChanged.size === 1 &&
          fields.every((f) => f === 'secrets')) ||
        (recordsNone &&
          recordedOn.has(key) &&
          fields.every((f) => f === 'supersededAt') &&
          before.epochs.find((r) => r.key === key)?.supersededAt === undefined)
      ),
  );
  none('epochs changed', changed);
  none('epochs removed', delta.epochsRemoved);
  none(
    'aliases added',
    delta.aliasesAdded.filter(
      ([e, k]) => !(result.kind === 'duplicate' && e === id && keys.has(k)),
    ),
  );
  if (delta.aliasesOther) problems.push('aliases removed or changed');
  none(
    'queue gained',
    delta.queueAdded.filter((e) => !(result.kind === 'queued' && e === id)),
  );
  none(
    'queue lost',
    delta.queueRemoved.filter((e) => !(result.kind === 'queued' && e === id)),
  );
  none(
    'parked gained',
    delta.parkedAdded.filter((e) => !(code === 'NOT_A_MEMBER' && e === id)),
  );
  none('parked lost', delta.parkedRemoved);
  const seenOk = result.kind === 'duplicate' || result.kind === 'message';
  if (!(seenOk && only(delta.gained.seen, id))) none('seen gained', delta.gained.seen);
  const refusedOk = result.kind === 'failed' && code !== 'NOT_A_MEMBER';
  if (!(refusedOk && only(delta.gained.refused, id))) none('refused gained', delta.gained.refused);
  // EPOCH_EXPIRED on an epoch held as message keys, or this device's own commit it kept no
  // state for: it can no longer follow that branch (receive.ts), whether or not the event was
  // recorded before.
  const unfollowableOk = code === 'EPOCH_EXPIRED' || code === 'OWN_COMMIT_LOST';
  if (!(unfollowableOk && only(delta.gained.unfollowable, id))) {
    none('unfollowable gained', delta.gained.unfollowable);
  }
  none('sets shrank', delta.shrank);
  none('meta changed', delta.meta);
  return problems.length > 0 ? problems.join('; ') : undefined;
}

// ---------------------------------------------------------------------------------------------
// One input's run: Bob and Carol restored, events delivered to both, invariants checked

const describeResults = (results: readonly Received[]) =>
  results.map((r) => (r.kind === 'failed' ? `failed:${r.code}` : r.kind)).join(',');

/** Whether an outcome applied the event (a commit taken, a message read). */
const applied = (r: Received | undefined) =>
  r?.kind === 'commit' || r?.kind === 'removed' || r?.kind === 'message';

class Session {
  readonly bob: DmlsGroup;
  readonly carol: DmlsGroup;
  readonly violations: string[] = [];
  /** Devices that a commit of this input removed from some branch. */
  readonly removed = new Set<string>();
  readonly startKey: string;
  private beforeBob: DmlsSnapshot;
  private beforeCarol: DmlsSnapshot;
  private readonly outcomes: Received[] = [];

  constructor(readonly w: DmlsWorld) {
    this.bob = DmlsGroup.restore(w.options(BOB), w.receiver);
    this.carol = DmlsGroup.restore(w.options(CAROL), w.witness);
    this.beforeBob = w.receiver;
    this.beforeCarol = w.witness;
    this.startKey = this.bob.current().key;
  }

  /** Delivers one event to both devices; an exception out of `receive` propagates (a failure). */
  deliver(event: RoomEvent): void {
    const toBob = this.bob.receive(event, NOW);
    const toCarol = this.carol.receive(event, NOW);
    const step = `event ${this.outcomes.length + 1} (${short(event.eventId)})`;
    for (const [who, results] of [
      ['bob', toBob],
      ['carol', toCarol],
    ] as const) {
      if (!Array.isArray(results) || results.length === 0) {
        this.violations.push(`${step}: receive gave ${who} no outcome`);
      }
      for (const r of results) {
        if (r.kind === 'removed') this.removed.add(who === 'bob' ? BOB : CAROL);
      }
    }
    const own = toBob[0];
    if (!own) return;
    this.outcomes.push(own);

    const afterBob = this.bob.snapshot();
    const afterCarol = this.carol.snapshot();
    this.refusalDelta('bob', this.beforeBob, afterBob, toBob, event.eventId, step);
    this.refusalDelta('carol', this.beforeCarol, afterCarol, toCarol, event.eventId, step);
    this.beforeBob = afterBob;
    this.beforeCarol = afterCarol;
    this.structure('bob', this.bob, BOB, step, afterBob.meta.aliases);
    this.structure('carol', this.carol, CAROL, step, afterCarol.meta.aliases);

    // Agreement, for events neither device sent itself (a device cannot process its own
    // commit once its echo was taken: a replay of it is refused there and a duplicate elsewhere).
    const sender = event.sender;
    const ours = sender === userOf(BOB) || sender === userOf(CAROL);
    const theirs = toCarol[0];
    if (!ours && theirs && applied(own) !== applied(theirs)) {
      // Legitimate only when an earlier event removed the device that did not apply this one
      // from the epoch it is on.
      const notApplying = applied(own) ? theirs : own;
      const outOfIt =
        this.removed.size > 0 &&
        notApplying.kind === 'failed' &&
        notApplying.code === 'NOT_A_MEMBER';
      if (!outOfIt) {
        this.violations.push(
          `${step}: bob ${describeResults(toBob)} but carol ${describeResults(toCarol)}`,
        );
      }
    }
    if (!ours && own.kind === 'commit' && theirs?.kind === 'commit') {
      const mine = this.bob.epoch(own.eventId);
      const hers = this.carol.epoch(theirs.eventId);
      if (mine?.tag !== hers?.tag) {
        this.violations.push(`${step}: bob and carol made different epochs of one commit`);
      }
    }
  }

  /** Invariant 3 for one device: a refused event changed only what its outcome allows. */
  private refusalDelta(
    who: string,
    before: DmlsSnapshot,
    after: DmlsSnapshot,
    results: readonly Received[],
    id: string,
    step: string,
  ): void {
    const own = results[0];
    if (!own || own.kind === 'commit' || own.kind === 'removed' || results.length > 1) return;
    const excess = excessOf(snapshotDelta(before, after), own, id, before);
    if (excess) {
      this.violations.push(
        `${step}: ${who}'s ${describeResults(results)} changed more than it may: ${excess}`,
      );
    }
  }

  /** Invariant 2 for one device. */
  private structure(
    who: string,
    group: DmlsGroup,
    identity: string,
    step: string,
    aliases: readonly [string, string][],
  ): void {
    const epochs = group.epochs();
    const keys = new Map(epochs.map((n) => [n.key, n]));
    for (const node of epochs) {
      const parents = [...(node.base !== undefined ? [node.base] : []), ...node.resolves];
      for (const key of parents) {
        const parent = keys.get(key);
        if (!parent) {
          this.violations.push(
            `${step}: ${who}'s epoch ${short(node.key)} has an edge to ${short(key)}, not in the graph`,
          );
        } else if (parent.generation >= node.generation) {
          this.violations.push(
            `${step}: ${who}'s epoch ${short(node.key)} (generation ${node.generation}) has parent ${short(key)} (generation ${parent.generation}): a cycle or a stale generation`,
          );
        }
      }
    }
    for (const [event, key] of aliases) {
      if (!keys.has(key)) {
        this.violations.push(
          `${step}: ${who}'s alias ${short(event)} names ${short(key)}, not in the graph`,
        );
      }
    }
    const tips = group.tips();
    if (tips.length === 0) this.violations.push(`${step}: ${who} has no tip at all`);
    // A commit names its base by event id in TrellisCommitData (1 to 255 bytes): a tip that
    // cannot be named there can never be built on or merged.
    for (const tip of tips) {
      const length = utf8.encode(tip.key).length;
      if (tip.held.kind === 'full' && (length === 0 || length > 255)) {
        this.violations.push(
          `${step}: ${who} holds tip ${short(tip.key)} (${length} bytes), which no commit data can name`,
        );
      }
    }
    if (this.removed.has(identity)) return;
    if (!tips.some((t) => t.held.kind === 'full')) {
      this.violations.push(
        `${step}: ${who} holds no tip in full (tips ${tips.map((t) => `${short(t.key)}:${t.held.kind}`).join(', ')})`,
      );
      return;
    }
    try {
      group.current();
    } catch (error) {
      this.violations.push(`${step}: ${who}'s current() threw ${String(error)}`);
    }
  }

  /** The input's outcome, for the report: the last event's own. */
  outcome(): Outcome {
    const last = this.outcomes[this.outcomes.length - 1];
    const path = this.outcomes.map((r) => (r.kind === 'failed' ? r.code : r.kind)).join('>');
    if (!last || applied(last)) return undefined;
    if (last.kind === 'failed') return { refused: last.code, detail: `${path} ${last.reason}` };
    return { refused: last.kind, detail: path };
  }

  /** Invariants after the input: 1-4 as recorded, then 5. */
  finish(): void {
    if (this.violations.length > 0) {
      const more = this.violations.length > 1 ? ` (and ${this.violations.length - 1} more)` : '';
      throw new InvariantViolation(`${this.violations[0]}${more}`);
    }
    const refusedAll = this.outcomes.every((r) => !applied(r));
    if (refusedAll && !this.removed.has(BOB) && this.bob.current().key !== this.startKey) {
      throw new InvariantViolation(
        `every event was refused, yet bob's current epoch moved from ${short(this.startKey)} to ${short(this.bob.current().key)}`,
      );
    }
    this.probe(this.bob, BOB, this.carol, CAROL);
    this.probe(this.carol, CAROL, this.bob, BOB);
  }

  private probe(from: DmlsGroup, fromId: string, to: DmlsGroup, toId: string): void {
    if (!from.tips().some((t) => t.held.kind === 'full')) {
      if (this.removed.has(fromId)) return;
      throw new InvariantViolation(`${fromId} holds no tip in full`);
    }
    const node = from.current();
    const body = `probe from ${fromId}`;
    let content: RoomEventContent;
    try {
      content = from.encrypt('m.room.message', { body });
    } catch (error) {
      throw new InvariantViolation(
        `${fromId} cannot encrypt in ${short(node.key)}: ${String(error)}`,
      );
    }
    const results = to.receive(
      { eventId: `${PROBE_ID}${fromId}`, sender: userOf(fromId), content },
      NOW,
    );
    const read = results.find((r) => r.kind === 'message');
    const got = read?.kind === 'message' ? read.plaintext.content.body : undefined;
    if (node.members.has(toId)) {
      // Removed and added again by this input: it comes back by the commit's Welcome.
      const readded =
        this.removed.has(toId) &&
        results[0]?.kind === 'failed' &&
        results[0].code === 'NOT_A_MEMBER';
      if (!readded && (got !== body || read?.kind !== 'message' || read.sender !== fromId)) {
        throw new InvariantViolation(
          `${toId} does not read ${fromId}'s message in ${short(node.key)}: ${describeResults(results)}${results[0]?.kind === 'failed' ? ` ${results[0].reason}` : ''}`,
        );
      }
    } else if (got !== undefined) {
      throw new InvariantViolation(
        `${toId} read ${fromId}'s message in ${short(node.key)}, an epoch it is not in`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// dmls-room-event

interface Envelope {
  event_id: unknown;
  sender: unknown;
  content: unknown;
}

const toEnvelope = (e: RoomEvent): Envelope => ({
  event_id: e.eventId,
  sender: e.sender,
  content: e.content,
});

const textOf = (envelopes: Envelope[]) =>
  utf8.encode(JSON.stringify(envelopes.length === 1 ? envelopes[0] : envelopes));

/** The events of an input, or the reason it is not a list of events. */
function parseEvents(input: Uint8Array): RoomEvent[] | string {
  let json: unknown;
  try {
    json = JSON.parse(fromUtf8.decode(input));
  } catch {
    return 'input:json';
  }
  const list = Array.isArray(json) ? json : [json];
  if (list.length === 0 || list.length > MAX_EVENTS) return 'input:count';
  const events: RoomEvent[] = [];
  for (const item of list as unknown[]) {
    // The transport's part of an event: the server names it and its sender.
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return 'input:envelope';
    const { event_id: eventId, sender, content } = item as Envelope;
    if (typeof eventId !== 'string' || typeof sender !== 'string') return 'input:envelope';
    events.push({ eventId, sender, content });
  }
  return events;
}

const DEVICES = [ALICE, BOB, CAROL, DAVE, DAVE2, EVE, FRANK];
const tuple = (identity: string) => [
  userOf(identity),
  identity.slice(identity.lastIndexOf('|') + 1),
];

/** Values that mean something in this room, for the clear fields. */
function roomValues(w: DmlsWorld) {
  const ids = [
    ...EPOCHS,
    ...w.seeds.flatMap((s) => s.events.map((e) => e.eventId)),
    '$unknown',
    // Ids a commit's data cannot name (empty, longer than 255 bytes).
    '',
    `$${'x'.repeat(255)}`,
  ];
  return {
    ids,
    users: [...new Set(DEVICES.map(userOf)), '@bob:test|B1', ''],
    devices: [...DEVICES.map(tuple), ['@bob:test', ''], ['', 'B1'], ['@bob:test|B1', 'B1']],
    resolves: [
      [],
      [[4, tuple(CAROL)]],
      [
        [4, tuple(BOB)],
        [4, tuple(CAROL)],
      ],
      [[1, tuple(ALICE)]],
      [[9007199254740993, tuple(ALICE)]],
    ],
    algorithms: [roomAlgorithm(1), roomAlgorithm(2), roomAlgorithm(3), welcomeAlgorithm(1)],
    ciphertexts: w.seeds.flatMap((s) =>
      s.events.map((e) => (e.content as RoomEventContent).ciphertext),
    ),
  };
}

/**
 * A structure-aware mutation of a `dmls-room-event` input, or undefined for text that is not
 * JSON, or nested too deeply for structuredClone and JSON.stringify (the byte mutators take it).
 */
function mutateRoomEvent(
  input: Uint8Array,
  rng: Prng,
  w: DmlsWorld,
  values: ReturnType<typeof roomValues>,
): Uint8Array | undefined {
  try {
    return mutateEvents(input, rng, w, values);
  } catch (error) {
    if (error instanceof RangeError) return undefined;
    throw error;
  }
}

function mutateEvents(
  input: Uint8Array,
  rng: Prng,
  w: DmlsWorld,
  values: ReturnType<typeof roomValues>,
): Uint8Array | undefined {
  let json: unknown;
  try {
    json = JSON.parse(fromUtf8.decode(input));
  } catch {
    return undefined;
  }
  const list = (Array.isArray(json) ? json : [json]).filter(
    (e): e is Envelope => typeof e === 'object' && e !== null && !Array.isArray(e),
  );
  if (list.length === 0) return undefined;
  const anySeed = () => toEnvelope(rng.pick(rng.pick(w.seeds).events));
  const choice = rng.below(10);
  if (choice === 0 && list.length < MAX_EVENTS) {
    list.splice(rng.below(list.length + 1), 0, anySeed());
  } else if (choice === 1 && list.length > 1) {
    list.splice(rng.below(list.length), 1);
  } else if (choice === 2 && list.length < MAX_EVENTS) {
    const at = rng.below(list.length);
    list.splice(at + 1, 0, structuredClone(list[at]!));
  } else if (choice === 3 && list.length > 1) {
    const a = rng.below(list.length);
    const b = rng.below(list.length);
    [list[a], list[b]] = [list[b]!, list[a]!];
  } else {
    const at = rng.below(list.length);
    const target = list[at]!;
    const field = rng.below(10) - 1;
    if (field <= 0) {
      // The server's id: often one the graph already knows (a replay, a reused name).
      target.event_id = rng.pick(rng.chance(0.5) ? EPOCHS : values.ids);
    } else if (field === 1) target.sender = rng.pick(values.users);
    else {
      const content =
        typeof target.content === 'object' && target.content !== null
          ? { ...(target.content as Record<string, unknown>) }
          : {};
      if (field === 2) content.commit_event = rng.pick(values.ids);
      else if (field === 3) content.epoch_creator = rng.pick(values.devices);
      else if (field === 4) content.sender = rng.pick(values.devices);
      else if (field === 5) {
        if (rng.chance(0.2)) delete content.resolves;
        else content.resolves = rng.pick(values.resolves);
      } else if (field === 6) content.ciphertext = rng.pick(values.ciphertexts);
      else if (field === 7) content.algorithm = rng.pick(values.algorithms);
      else {
        // Another event's content under this event's id and sender.
        Object.assign(content, anySeed().content);
      }
      list[at] = { ...target, content };
    }
  }
  return textOf(list);
}

export const dmlsRoomEvent: FuzzTarget = {
  name: 'dmls-room-event',
  kind: 'processing',
  description: 'mutated room-event JSON (commits, messages) to a dMLS device of a forked room',
  shortRuns: 300,
  async setup(): Promise<TargetInstance> {
    const w = dmlsWorld();
    const values = roomValues(w);
    let session: Session | undefined;
    return {
      seeds: w.seeds.map((s) => textOf(s.events.map(toEnvelope))),
      json: true,
      run(input) {
        session = undefined;
        const events = parseEvents(input);
        if (typeof events === 'string') return { refused: events };
        w.reseed(input);
        session = new Session(w);
        for (const event of events) session.deliver(event);
        return session.outcome();
      },
      // Nothing thrown is expected: refusals come back as `failed` outcomes.
      classify: () => undefined,
      check() {
        session?.finish();
      },
      mutate: (input, rng) => mutateRoomEvent(input, rng, w, values),
    };
  },
};

// ---------------------------------------------------------------------------------------------
// dmls-commit-data

/**
 * A `dmls-commit-data` input:
 *
 *   struct {
 *     uint8 committer;          // 0 Alice (holds every epoch), 1 Dave (removed; $add and $pre)
 *     uint8 base;               // which of the committer's epochs, modulo their number
 *     uint8 flags;              // 1 encrypt, 2 no forced path, 4 clear commit_event is the
 *                               // real base (not the signed base_event), 8 a clear resolves hint
 *     uint8 adds<V>;            // KeyPackages to add, by index (modulo) into the fixture's
 *     uint8 removes<V>;         // leaves to remove
 *     opaque authenticated_data[rest of the input];
 *   } CommitDataInput;
 *
 * The authenticated data runs to the end, so that byte mutations inside it (insertions,
 * deletions, truncations) leave the input well-formed and reach the commit data's decoder.
 */
interface CommitSpec {
  committer: number;
  base: number;
  flags: number;
  adds: number[];
  removes: number[];
  data: Uint8Array;
}

const specCodec: Codec<CommitSpec> = {
  encode(wr, s) {
    wr.u8(s.committer);
    wr.u8(s.base);
    wr.u8(s.flags);
    wr.vector(s.adds, (w2, a) => w2.u8(a));
    wr.vector(s.removes, (w2, a) => w2.u8(a));
    wr.raw(s.data);
  },
  decode(r) {
    return {
      committer: r.u8(),
      base: r.u8(),
      flags: r.u8(),
      adds: r.vector((r2) => r2.u8()),
      removes: r.vector((r2) => r2.u8()),
      data: r.raw(r.remaining),
    };
  },
};

const COMMITTERS = [ALICE, DAVE] as const;

/** The committer's epochs, in a fixed order. */
function basesOf(w: DmlsWorld, committer: string): string[] {
  const held = w.hostile.get(committer)!;
  return EPOCHS.filter((k) => held.has(k));
}

/** TrellisCommitData read leniently (any version), for the field map and mutations. */
function readCommitData(r: Reader): { version: number; data: CommitData } {
  const version = r.u8();
  const baseEvent = fromUtf8.decode(r.opaque());
  const resolves = r.vector((r2) => ({ event: fromUtf8.decode(r2.opaque()), tag: r2.opaque() }));
  const device = (r2: Reader) => fromUtf8.decode(r2.opaque());
  const removed = r.remaining > 0 ? r.vector(device) : [];
  const added = r.remaining > 0 ? r.vector(device) : [];
  r.done();
  return { version, data: { baseEvent, resolves, removed, added } };
}

function writeCommitData(version: number, data: CommitDataInput): Uint8Array {
  const wr = new Writer();
  wr.u8(version);
  wr.opaque(utf8.encode(data.baseEvent));
  wr.vector(data.resolves, (w2, ref) => {
    w2.opaque(utf8.encode(ref.event));
    w2.opaque(ref.tag);
  });
  for (const list of [data.removed ?? [], data.added ?? []]) {
    wr.vector(list, (w2, id) => w2.opaque(utf8.encode(id)));
  }
  return wr.finish();
}

function tryCommitData(bytes: Uint8Array): { version: number; data: CommitData } | undefined {
  try {
    return readCommitData(new Reader(bytes));
  } catch {
    return undefined;
  }
}

/** Where the authenticated data starts: after the fixed fields and the two lists. */
function dataStart(input: Uint8Array): number {
  const r = new Reader(input);
  r.u8();
  r.u8();
  r.u8();
  r.vector((r2) => r2.u8());
  r.vector((r2) => r2.u8());
  return r.offset;
}

/** The outer fields, then the commit data's own (it runs to the end: no length to fix up). */
function commitDataFields(input: Uint8Array): FieldMap {
  const outer = traceFields(input, () => decode(specCodec, input));
  let start: number;
  try {
    start = dataStart(input);
  } catch {
    return outer;
  }
  const data = input.subarray(start);
  const inner = traceFields(data, () => readCommitData(new Reader(data)), start);
  return {
    lengths: [...outer.lengths, ...inner.lengths],
    ints: [...outer.ints, ...inner.ints],
    items: [...outer.items, ...inner.items],
  };
}

/** Tags an attacker would use: an epoch's own, another's, none, the wrong size. */
function tagChoices(w: DmlsWorld): Uint8Array[] {
  const tags = [...w.tags.values()].filter((t) => t !== '').map((t) => Buffer.from(t, 'hex'));
  return [
    ...tags.map((t) => new Uint8Array(t)),
    new Uint8Array(0),
    new Uint8Array(32),
    new Uint8Array(64).fill(0xff),
    new Uint8Array(65),
  ];
}

function mutateCommitSpec(
  input: Uint8Array,
  rng: Prng,
  w: DmlsWorld,
  names: readonly string[],
  tags: readonly Uint8Array[],
): Uint8Array | undefined {
  let spec: CommitSpec;
  try {
    spec = decode(specCodec, input);
  } catch {
    return undefined;
  }
  const choice = rng.below(8);
  if (choice === 0) {
    spec.committer = rng.below(COMMITTERS.length);
    spec.base = rng.below(EPOCHS.length);
  } else if (choice === 1) {
    spec.flags ^= 1 << rng.below(4);
  } else if (choice === 2) {
    if (spec.adds.length > 0 && rng.chance(0.4)) spec.adds.splice(rng.below(spec.adds.length), 1);
    else spec.adds.push(rng.below(w.adds.length));
  } else if (choice === 3) {
    if (spec.removes.length > 0 && rng.chance(0.4)) spec.removes = [];
    else spec.removes.push(rng.below(6));
  } else {
    const parsed = tryCommitData(spec.data) ?? {
      version: 2,
      data: { baseEvent: rng.pick(names), resolves: [], removed: [], added: [] },
    };
    let { version } = parsed;
    const data = { ...parsed.data, resolves: [...parsed.data.resolves] };
    const tagOf = (name: string) => {
      const hex = w.tags.get(name);
      return hex ? new Uint8Array(Buffer.from(hex, 'hex')) : rng.pick(tags);
    };
    const step = rng.below(8);
    if (step === 0) data.baseEvent = rng.pick(names);
    else if (step <= 2) {
      const name = rng.pick(names);
      data.resolves.splice(rng.below(data.resolves.length + 1), 0, {
        event: name,
        tag: rng.chance(0.7) ? tagOf(name) : rng.pick(tags),
      });
    } else if (step === 3 && data.resolves.length > 0) {
      data.resolves.splice(rng.below(data.resolves.length), 1);
    } else if (step === 4 && data.resolves.length > 0) {
      const at = rng.below(data.resolves.length);
      data.resolves[at] = { ...data.resolves[at]!, tag: rng.pick(tags) };
    } else if (step === 5 && data.resolves.length > 0) {
      const at = rng.below(data.resolves.length);
      data.resolves.splice(at, 0, data.resolves[at]!);
    } else if (step === 6) {
      version = rng.pick([0, 1, 3, 255]);
    } else {
      // Base and a resolved epoch swapped.
      const at = rng.below(data.resolves.length + 1);
      const ref = data.resolves[at];
      if (ref) {
        data.resolves[at] = { event: data.baseEvent, tag: tagOf(data.baseEvent) };
        data.baseEvent = ref.event;
      } else data.baseEvent = rng.pick(names);
    }
    spec.data = writeCommitData(version, data);
  }
  return encode(specCodec, spec);
}

/** Runs `build`; an MlsError there is the committer's own engine refusing: `build:<code>`. */
function built<T>(build: () => T): T | Outcome {
  try {
    return build();
  } catch (error) {
    if (error instanceof MlsError) return { refused: `build:${error.code}`, detail: error.message };
    throw error;
  }
}

const FORGED_EVENT = '$forged';

export const dmlsCommitData: FuzzTarget = {
  name: 'dmls-commit-data',
  kind: 'processing',
  description: 'commits re-signed by a hostile member or removed device with mutated commit data',
  shortRuns: 300,
  async setup(): Promise<TargetInstance> {
    const w = dmlsWorld();
    const names = [
      ...EPOCHS,
      FORGED_EVENT,
      '$unknown',
      '',
      'x'.repeat(255),
      'x'.repeat(256),
      '$b4\u0000',
    ];
    const tags = tagChoices(w);
    const tag = (key: string) => new Uint8Array(Buffer.from(w.tags.get(key)!, 'hex'));
    const spec = (
      committer: number,
      baseKey: string,
      data: CommitDataInput,
      more: Partial<CommitSpec> = {},
    ): Uint8Array =>
      encode(specCodec, {
        committer,
        base: basesOf(w, COMMITTERS[committer]!).indexOf(baseKey),
        flags: 0,
        adds: [],
        removes: [],
        data: encodeCommitData(data),
        ...more,
      });
    const on = (key: string): CommitDataInput => ({ baseEvent: key, resolves: [] });
    const merging = (key: string, ...others: string[]): CommitDataInput => ({
      baseEvent: key,
      resolves: others.map((k) => ({ event: k, tag: tag(k) })),
    });
    const leaf = (key: string, id: string) => w.hostile.get(ALICE)!.get(key)!.node.members.get(id)!;
    const seeds = [
      ...EPOCHS.map((k) => spec(0, k, on(k))),
      spec(0, '$b4', on('$b4'), { flags: 1 }),
      spec(0, '$b4', merging('$b4', '$c4')),
      spec(0, '$c4', merging('$c4', '$b4'), { flags: 1 }),
      spec(0, '$b4', merging('$b4', '$c4', '$old')),
      spec(0, '$rm', merging('$rm', '$old')),
      spec(0, '$b4', merging('$b4', '$c4'), { flags: 2 }),
      spec(0, '$b4', merging('$b4', '$rm')),
      spec(0, '$b4', on('$b4'), { removes: [leaf('$b4', CAROL)] }),
      spec(0, '$c4', on('$c4'), { removes: [leaf('$c4', BOB)] }),
      spec(0, '$c4', merging('$c4', '$b4'), { removes: [leaf('$c4', BOB)] }),
      ...w.adds.map((_, i) => spec(0, '$b4', on('$b4'), { adds: [i] })),
      spec(0, '$b4', on('$b4'), { adds: [0, 13] }),
      spec(0, '$c4', merging('$c4', '$b4'), { adds: [1] }),
      spec(1, '$pre', on('$pre')),
      spec(1, '$add', on('$add')),
      spec(1, '$pre', merging('$pre', '$old')),
      spec(1, '$pre', merging('$pre', '$b4')),
      spec(1, '$pre', on('$pre'), { adds: [2], flags: 1 }),
    ];
    let session: Session | undefined;
    return {
      seeds,
      run(input) {
        session = undefined;
        let s: CommitSpec;
        try {
          s = decode(specCodec, input);
        } catch (error) {
          if (error instanceof MlsError) return { refused: `input:${error.code}` };
          throw error;
        }
        w.reseed(input);
        const committer = COMMITTERS[s.committer % COMMITTERS.length]!;
        const bases = basesOf(w, committer);
        const key = bases[s.base % bases.length]!;
        const { state, node } = w.hostile.get(committer)!.get(key)!;
        const created = built(() =>
          createCommit(state, {
            forcePath: (s.flags & 2) === 0,
            pending: 'none',
            authenticatedData: s.data,
            add: s.adds.map((i) => w.adds[i % w.adds.length]!.bundle.keyPackage),
            remove: s.removes,
            encrypt: (s.flags & 1) !== 0,
          }),
        );
        if (created === undefined || 'refused' in created) return created;
        const signed = tryCommitData(s.data)?.data;
        const commitEvent = (s.flags & 4) !== 0 || !signed?.baseEvent ? key : signed.baseEvent;
        const hint =
          (s.flags & 8) !== 0 && signed
            ? signed.resolves.map((ref) => w.hostile.get(ALICE)!.get(ref.event)?.node.id ?? node.id)
            : undefined;
        const content = roomEventContent(1, created.commit, node.id, committer, commitEvent, hint);
        session = new Session(w);
        session.deliver({ eventId: FORGED_EVENT, sender: userOf(committer), content });
        return session.outcome();
      },
      classify: () => undefined,
      check() {
        session?.finish();
      },
      fields: commitDataFields,
      mutate: (input, rng) => mutateCommitSpec(input, rng, w, names, tags),
    };
  },
};

export const DMLS_TARGETS: readonly FuzzTarget[] = [dmlsRoomEvent, dmlsCommitData];
