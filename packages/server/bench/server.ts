/**
 * `npm run bench:server`: for each database, a server process on loopback measured from this
 * process through its HTTP API.
 *
 *   claims/s          KeyPackage claims (one key each), 32 in flight, until 2,000 are handed out
 *   send→sync         time from a send to each of 100 long-polling syncs delivering the event
 *   backup keys/s     keys stored through bulk PUT /room_keys/keys, 500 keys per request
 */
import { cpus } from 'node:os';
import { Http, enc, type Session } from '../test/helpers/client.js';
import { keyPackageUpload } from '../test/helpers/keyPackages.js';
import { databaseArgs, spawnServer } from '../test/helpers/process.js';
import { DB_KINDS, freshDatabase, type DbKind } from '../test/helpers/server.js';

const CLAIMS = 2000;
const CLAIM_CONCURRENCY = 32;
const SYNCERS = 100;
const MESSAGES = 30;
const BACKUP_KEYS = 10_000;
const BACKUP_BATCH = 500;

interface Result {
  claimsPerSecond: number;
  p50: number;
  p99: number;
  backupKeysPerSecond: number;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

async function inParallel<T>(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<T>,
): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

async function benchClaims(http: Http): Promise<number> {
  const owner = await http.register('owner', 'pw', 'OWNER');
  const claimer = await http.register('claimer');
  let algorithm = '';
  for (let i = 0; i < CLAIMS / 500; i++) {
    const { body, fallback } = keyPackageUpload(owner.userId, 'OWNER', 500);
    algorithm = fallback.algorithm;
    const r = await http.post(
      '/keys/upload',
      i === 0 ? body : { one_time_keys: body.one_time_keys },
      owner.token,
    );
    if (r.status !== 200) throw new Error(`upload failed: ${JSON.stringify(r.body)}`);
  }
  const started = performance.now();
  const claimed = await inParallel(CLAIMS, CLAIM_CONCURRENCY, async () => {
    const r = await http.post(
      '/keys/claim',
      { one_time_keys: { [owner.userId]: { OWNER: algorithm } } },
      claimer.token,
    );
    return Object.keys(r.body.one_time_keys[owner.userId].OWNER)[0]!;
  });
  const seconds = (performance.now() - started) / 1000;
  if (new Set(claimed).size !== CLAIMS) throw new Error('a KeyPackage was handed out twice');
  return CLAIMS / seconds;
}

async function benchSendToSync(http: Http): Promise<{ p50: number; p99: number }> {
  const sender = await http.register('sender');
  const roomId = await http.createRoom(sender.token, { preset: 'public_chat' });
  const syncers: Session[] = await inParallel(SYNCERS, 4, (i) => http.register(`syncer${i}`));
  await inParallel(SYNCERS, 8, (i) =>
    http.post(`/rooms/${enc(roomId)}/join`, {}, syncers[i]!.token),
  );

  // Keyed by message number, set before the send: a sync may deliver before the PUT returns.
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  let running = true;
  // A timeline limit above the number of sends, so no sync response is `limited`.
  const filter = JSON.stringify({ room: { timeline: { limit: 50 } } });
  let ready = 0;
  const loops = syncers.map(async (s) => {
    let since = (await http.sync(s.token, { filter })).body.next_batch as string;
    ready++;
    const seen = new Set<number>();
    while (running && seen.size < MESSAGES) {
      const r = await http.sync(s.token, { since, timeout: 30_000, filter });
      const now = performance.now();
      since = r.body.next_batch;
      for (const e of r.body.rooms.join[roomId]?.timeline.events ?? []) {
        const n = Number(/^bench (\d+)$/.exec(e.content?.body ?? '')?.[1]);
        const t = sentAt.get(n);
        if (t !== undefined && !seen.has(n)) {
          seen.add(n);
          latencies.push(now - t);
        }
      }
    }
  });
  // Every client has its starting token and a long-poll waiting before the first send.
  while (ready < SYNCERS) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 500));
  for (let i = 0; i < MESSAGES; i++) {
    sentAt.set(i, performance.now());
    await http.put(
      `/rooms/${enc(roomId)}/send/m.room.message/b${i}`,
      { msgtype: 'm.text', body: `bench ${i}` },
      sender.token,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const deadline = setTimeout(() => (running = false), 60_000);
  await Promise.all(loops);
  clearTimeout(deadline);
  latencies.sort((a, b) => a - b);
  if (latencies.length !== SYNCERS * MESSAGES)
    throw new Error(`only ${latencies.length} deliveries`);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

async function benchBackup(http: Http): Promise<number> {
  const user = await http.register('backer');
  const version = (
    await http.post(
      '/room_keys/version',
      { algorithm: 'm.dmls_backup.v1.aes-hmac-sha2', auth_data: { mac: 'x' } },
      user.token,
    )
  ).body.version;
  const sessionData = { encrypted: 'A'.repeat(240), iv: 'B'.repeat(24), mac: 'C'.repeat(44) };
  const started = performance.now();
  for (let batch = 0; batch < BACKUP_KEYS / BACKUP_BATCH; batch++) {
    const rooms: Record<string, { sessions: Record<string, unknown> }> = {};
    for (let i = 0; i < BACKUP_BATCH; i++) {
      const room = `!room${batch}_${i % 10}:localhost`;
      (rooms[room] ??= { sessions: {} }).sessions[`${i}|session`] = {
        first_message_index: 0,
        forwarded_count: 0,
        is_verified: true,
        session_data: sessionData,
      };
    }
    const r = await http.put('/room_keys/keys', { rooms }, user.token, { version });
    if (r.status !== 200) throw new Error(`backup failed: ${JSON.stringify(r.body)}`);
  }
  const seconds = (performance.now() - started) / 1000;
  const count = (await http.get('/room_keys/version', user.token)).body.count;
  if (count !== BACKUP_KEYS) throw new Error(`stored ${count} keys, expected ${BACKUP_KEYS}`);
  return BACKUP_KEYS / seconds;
}

async function bench(kind: DbKind): Promise<Result> {
  const { database, drop } = freshDatabase(kind);
  const server = await spawnServer([...databaseArgs(database), '--claim-burst', '0']);
  try {
    const http = new Http(server.url);
    const claimsPerSecond = await benchClaims(http);
    const { p50, p99 } = await benchSendToSync(http);
    const backupKeysPerSecond = await benchBackup(http);
    return { claimsPerSecond, p50, p99, backupKeysPerSecond };
  } finally {
    await server.stop();
    await drop();
  }
}

const results = new Map<DbKind, Result>();
for (const kind of DB_KINDS) {
  process.stderr.write(`benchmarking ${kind}…\n`);
  results.set(kind, await bench(kind));
}

const cpu = cpus()[0]?.model ?? 'unknown CPU';
console.log(`Trellis server bench — Node ${process.version}, ${cpus().length} × ${cpu}`);
console.log(
  `server in its own process on 127.0.0.1; ${CLAIMS} claims (${CLAIM_CONCURRENCY} in flight), ` +
    `${MESSAGES} sends to ${SYNCERS} syncing clients, ${BACKUP_KEYS} backup keys in PUTs of ${BACKUP_BATCH}`,
);
const header = [
  'database',
  'KeyPackage claims/s',
  'send→sync p50 (ms)',
  'send→sync p99 (ms)',
  'backup keys stored/s',
];
const rows = [...results].map(([kind, r]) => [
  kind,
  r.claimsPerSecond.toFixed(0),
  r.p50.toFixed(1),
  r.p99.toFixed(1),
  r.backupKeysPerSecond.toFixed(0),
]);
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
const line = (cells: string[]) =>
  cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
console.log(line(header));
for (const row of rows) console.log(line(row));
