/**
 * `npm run bench:backup`: what a key backup costs. For groups of 100 and 1000 members (`--sizes`),
 * 100 epochs each (`--epochs`), it reports the bytes the server stores (session ids and their KeyBackupData
 * JSON) with and without member-set deduplication, and how fast epochs are backed up and
 * restored. Every restored epoch is checked by decrypting a message sent in it.
 *
 * The history: one device (the one backing up) commits every epoch, with a path (its own leaf
 * changes), removing one member and adding a new one (another leaf changes). That is about the
 * most churn a large room sees per epoch; quieter epochs deduplicate better.
 */
import { parseArgs } from 'node:util';
import { readBenchOptions } from '../../mls/bench/cli.js';
import {
  basicCredential,
  cipherSuite,
  createCommit,
  createGroup,
  createKeyPackage,
  encryptApplication,
  nodeCrypto,
  type GroupState,
  type KeyPackage,
  type MlsMessage,
} from '@trellis/mls';
import {
  backupEpoch,
  createBackup,
  creatorIdentity,
  restoredEpochFor,
  restoreRoom,
  type BackupKey,
  type EpochCreator,
} from '../src/index.js';

const USAGE = `npm run bench:backup -- [options]

Bytes a key backup stores for a history of epochs, with and without member-set deduplication,
and how fast epochs are backed up and restored (each restored epoch checked by decrypting).

  --sizes <list>     group sizes, comma-separated, each ≥ 2 (100,1000)
  --epochs <n>       epochs of history per group, ≥ 2 (100)
  --json             one JSON object instead of the tables
  --help             this text
`;

function readOptions(): { sizes: number[]; epochs: number; json: boolean } | 'help' {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string' },
      epochs: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return 'help';
  const sizes = (values.sizes ?? '100,1000').split(',').map((v) => Number(v.trim()));
  if (sizes.some((n) => !Number.isInteger(n) || n < 2)) {
    throw new Error(`--sizes wants integers ≥ 2, not "${values.sizes}"`);
  }
  const epochs = Number(values.epochs ?? 100);
  if (!Number.isInteger(epochs) || epochs < 2) throw new Error('--epochs wants an integer ≥ 2');
  return { sizes, epochs, json: values.json ?? false };
}

const options = readBenchOptions(USAGE, readOptions);
const EPOCHS = options.epochs;
const ROOM_ID = '!bench:example.org';
const suite = cipherSuite(1, nodeCrypto);
const now = BigInt(Math.floor(Date.now() / 1000));
const utf8 = (text: string) => new TextEncoder().encode(text);
const creator: EpochCreator = { userId: '@backup:example.org', deviceId: 'BACKUPDEVICE' };

function keyPackage(name: string): KeyPackage {
  const identity = creatorIdentity({ userId: `@${name}:example.org`, deviceId: 'DEVICE' });
  return createKeyPackage(suite, { credential: basicCredential(utf8(identity)), now }).keyPackage;
}

interface Epoch {
  state: GroupState;
  message: MlsMessage;
  text: string;
}

/** EPOCHS epochs of a group of `size` members, as the backing-up device sees them. */
function history(size: number): Epoch[] {
  let state = createGroup(suite, {
    credential: basicCredential(utf8(creatorIdentity(creator))),
    now,
  });
  state = createCommit(state, {
    add: Array.from({ length: size - 1 }, (_, i) => keyPackage(`member${i}`)),
  }).pending;
  const epochs: Epoch[] = [];
  for (let e = 0; e < EPOCHS; e++) {
    const text = `message in epoch ${state.context.epoch}`;
    const sent = encryptApplication(state, utf8(text));
    epochs.push({ state, message: sent.message, text });
    const leaving = 1 + ((e * 7919) % (size - 1));
    state = createCommit(sent.state, {
      remove: [leaving],
      add: [keyPackage(`joiner${e}`)],
      forcePath: true,
    }).pending;
  }
  return epochs;
}

interface Result {
  entries: number;
  bytes: number;
  firstEpochBytes: number;
  backupSeconds: number;
  restoreSeconds: number;
  memberSetsFetched: number;
}

function run(key: BackupKey, epochs: Epoch[], dedupe: boolean, membersPerSet?: number): Result {
  // The server's table: session id to KeyBackupData JSON.
  const server = new Map<string, string>();
  const stored = new Set<string>();
  let bytes = 0;
  let firstEpochBytes = 0;
  const started = performance.now();
  for (const [i, { state }] of epochs.entries()) {
    const backup = backupEpoch(key, state, {
      roomId: ROOM_ID,
      creator,
      dedupe,
      stored,
      ...(membersPerSet !== undefined && { membersPerSet }),
    });
    for (const [sessionId, data] of Object.entries(backup.sessions)) {
      const json = JSON.stringify(data);
      server.set(sessionId, json);
      bytes += Buffer.byteLength(sessionId) + Buffer.byteLength(json);
    }
    for (const id of backup.memberSets) stored.add(id);
    if (i === 0) firstEpochBytes = bytes;
  }
  const backupSeconds = (performance.now() - started) / 1000;

  const restoreStarted = performance.now();
  const sessions: Record<string, unknown> = {};
  for (const [sessionId, json] of server) sessions[sessionId] = JSON.parse(json);
  const restored = restoreRoom(key, ROOM_ID, { sessions });
  const restoreSeconds = (performance.now() - restoreStarted) / 1000;

  if (restored.failures.size > 0 || restored.epochs.size !== epochs.length) {
    throw new Error(`restore failed: ${[...restored.failures.values()].map((e) => e.message)}`);
  }
  for (const { state, message, text } of epochs) {
    const epoch = restoredEpochFor(restored, state.context.epoch, creator);
    const read = epoch?.reader.decrypt(message);
    if (!read || new TextDecoder().decode(read.data) !== text) {
      throw new Error(`epoch ${state.context.epoch} does not read back`);
    }
  }
  return {
    entries: server.size,
    bytes,
    firstEpochBytes,
    backupSeconds,
    restoreSeconds,
    memberSetsFetched: restored.memberSetsFetched,
  };
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`;
const kb = (bytes: number) => `${(bytes / 1e3).toFixed(1)} kB`;
const rate = (count: number, seconds: number) => Math.round(count / seconds);
const laterEpochBytes = (r: Result) => (r.bytes - r.firstEpochBytes) / (EPOCHS - 1);

function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const row of rows) console.log(row.map((cell, c) => cell.padStart(widths[c]!)).join('  '));
}

const { key } = createBackup();
const log = (line: string) => {
  if (!options.json) console.log(line);
};
log(`Key backup (MSC4038): ${EPOCHS} epochs per group, cipher suite 1.`);
log('Each epoch: a commit with a path, one member removed and one added.');
log('Bytes: session ids and KeyBackupData JSON as the server stores them.');
log('Backup: export, split, seal, JSON. Restore: JSON.parse, open, check, build readers.\n');

const histories = new Map<number, Epoch[]>();
const results: { members: number; dedupe: boolean; result: Result }[] = [];
for (const size of options.sizes) {
  const built = performance.now();
  const epochs = history(size);
  histories.set(size, epochs);
  log(`(${size}-member history built in ${((performance.now() - built) / 1000).toFixed(1)} s)`);
  for (const dedupe of [false, true])
    results.push({ members: size, dedupe, result: run(key, epochs, dedupe) });
}

// Leaves per member set, on the largest group.
const largest = Math.max(...options.sizes);
const sweep = [4, 8, 16, 32, 64, 128].map((perSet) => ({
  perSet,
  result: run(key, histories.get(largest)!, true, perSet),
}));

if (options.json) {
  const figures = (r: Result) => ({
    entries: r.entries,
    bytes: r.bytes,
    firstEpochBytes: r.firstEpochBytes,
    laterEpochBytes: Math.round(laterEpochBytes(r)),
    backupEpochsPerSecond: rate(EPOCHS, r.backupSeconds),
    backupEntriesPerSecond: rate(r.entries, r.backupSeconds),
    restoreEpochsPerSecond: rate(EPOCHS, r.restoreSeconds),
    restoreEntriesPerSecond: rate(r.entries, r.restoreSeconds),
    memberSetsFetched: r.memberSetsFetched,
  });
  console.log(
    JSON.stringify({
      node: process.version,
      epochs: EPOCHS,
      groups: results.map(({ members, dedupe, result }) => ({
        members,
        dedupe,
        ...figures(result),
      })),
      membersPerSet: {
        members: largest,
        sweep: sweep.map(({ perSet, result }) => ({ perSet, ...figures(result) })),
      },
    }),
  );
} else {
  console.log();
  table([
    [
      'members',
      'dedupe',
      'entries',
      'stored',
      'first epoch',
      'later epochs',
      'backup epochs/s',
      'backup entries/s',
      'restore epochs/s',
      'restore entries/s',
    ],
    ...results.map(({ members, dedupe, result: r }) => [
      String(members),
      dedupe ? 'yes' : 'no',
      String(r.entries),
      mb(r.bytes),
      kb(r.firstEpochBytes),
      kb(laterEpochBytes(r)) + ' each',
      `${rate(EPOCHS, r.backupSeconds)}/s`,
      `${rate(r.entries, r.backupSeconds)}/s`,
      `${rate(EPOCHS, r.restoreSeconds)}/s`,
      `${rate(r.entries, r.restoreSeconds)}/s`,
    ]),
  ]);
  console.log(`\nLeaves per member set, ${largest} members (the default is 16):`);
  table([
    ['per set', 'entries', 'stored', 'later epochs', 'restore epochs/s'],
    ...sweep.map(({ perSet, result: r }) => [
      String(perSet),
      String(r.entries),
      mb(r.bytes),
      kb(laterEpochBytes(r)) + ' each',
      `${rate(EPOCHS, r.restoreSeconds)}/s`,
    ]),
  ]);
}
