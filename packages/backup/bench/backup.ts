/**
 * `npm run bench:backup`: what a key backup costs. For groups of 100 and 1000 members, 100
 * epochs each, it reports the bytes the server stores (session ids and their KeyBackupData
 * JSON) with and without member-set deduplication, and how fast epochs are backed up and
 * restored. Every restored epoch is checked by decrypting a message sent in it.
 *
 * The history: one device (the one backing up) commits every epoch, with a path (its own leaf
 * changes), removing one member and adding a new one (another leaf changes). That is about the
 * most churn a large room sees per epoch; quieter epochs deduplicate better.
 */
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

const EPOCHS = 100;
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
const rate = (count: number, seconds: number) => `${Math.round(count / seconds)}/s`;

function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const row of rows) console.log(row.map((cell, c) => cell.padStart(widths[c]!)).join('  '));
}

const { key } = createBackup();
console.log(`Key backup (MSC4038): ${EPOCHS} epochs per group, cipher suite 1.`);
console.log('Each epoch: a commit with a path, one member removed and one added.');
console.log('Bytes: session ids and KeyBackupData JSON as the server stores them.');
console.log(
  'Backup: export, split, seal, JSON. Restore: JSON.parse, open, check, build readers.\n',
);

const histories = new Map<number, Epoch[]>();
const rows = [
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
];
for (const size of [100, 1000]) {
  const built = performance.now();
  const epochs = history(size);
  histories.set(size, epochs);
  console.log(
    `(${size}-member history built in ${((performance.now() - built) / 1000).toFixed(1)} s)`,
  );
  for (const dedupe of [false, true]) {
    const r = run(key, epochs, dedupe);
    rows.push([
      String(size),
      dedupe ? 'yes' : 'no',
      String(r.entries),
      mb(r.bytes),
      kb(r.firstEpochBytes),
      kb((r.bytes - r.firstEpochBytes) / (EPOCHS - 1)) + ' each',
      rate(EPOCHS, r.backupSeconds),
      rate(r.entries, r.backupSeconds),
      rate(EPOCHS, r.restoreSeconds),
      rate(r.entries, r.restoreSeconds),
    ]);
  }
}
console.log();
table(rows);

console.log('\nLeaves per member set, 1000 members (the default is 16):');
const sweep = [['per set', 'entries', 'stored', 'later epochs', 'restore epochs/s']];
for (const perSet of [4, 8, 16, 32, 64, 128]) {
  const r = run(key, histories.get(1000)!, true, perSet);
  sweep.push([
    String(perSet),
    String(r.entries),
    mb(r.bytes),
    kb((r.bytes - r.firstEpochBytes) / (EPOCHS - 1)) + ' each',
    rate(EPOCHS, r.restoreSeconds),
  ]);
}
table(sweep);
