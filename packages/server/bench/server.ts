/**
 * `npm run bench:server`: the homeserver measured through its HTTP API from this process, with
 * SQLite (one server process) and PostgreSQL (two server processes on one database) side by side.
 *
 *   claims/s          KeyPackage claims (one key each), 32 in flight, until 2,000 are handed out
 *                     (spread over both processes on PostgreSQL)
 *   5,000-key upload  one /keys/upload of 5,000 one-time KeyPackages (verification included)
 *   worst wait        the slowest of the other requests (sends by another user, one after the
 *                     other, to every process) made while that upload was under way
 *   send→sync         time from a send to each of 100 long-polling syncs delivering the event
 *   backup keys/s     keys stored through bulk PUT /room_keys/keys, 500 keys per request
 *
 * Options (or environment): --pg-url [TRELLIS_BENCH_PG_URL] (the tests' database), --sqlite-dir
 * [TRELLIS_BENCH_SQLITE_DIR] (a temporary directory), --port [TRELLIS_BENCH_PORT] (first port; 0
 * = any free ones), --only sqlite|postgres, --json, --help.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Http, enc, type Session } from '../test/helpers/client.js';
import { keyPackageUpload } from '../test/helpers/keyPackages.js';
import { databaseArgs, spawnServer, type ServerProcess } from '../test/helpers/process.js';
import { PG_URL, type DbKind } from '../test/helpers/server.js';

const USAGE = `npm run bench:server -- [options]

  --pg-url <url>       PostgreSQL to use (a fresh schema, dropped after) [TRELLIS_BENCH_PG_URL]
                       (${PG_URL})
  --sqlite-dir <dir>   where the SQLite file goes [TRELLIS_BENCH_SQLITE_DIR] (a temporary directory)
  --port <n>           first port for the servers (n, n+1, n+2), 0 = any free [TRELLIS_BENCH_PORT] (0)
  --only <kind>        sqlite or postgres: bench one database only
  --json               print the figures as JSON instead of a table
  --help               this text
`;

const CLAIMS = 2000;
const CLAIM_CONCURRENCY = 32;
const SYNCERS = 100;
const MESSAGES = 30;
const BACKUP_KEYS = 10_000;
const BACKUP_BATCH = 500;
const BULK_KEYS = 5000;

interface Result {
  processes: number;
  claimsPerSecond: number;
  bulkUploadMs: number;
  worstConcurrentWaitMs: number;
  concurrentRequests: number;
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

async function benchClaims(https: Http[]): Promise<number> {
  const http = https[0]!;
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
  const claimed = await inParallel(CLAIMS, CLAIM_CONCURRENCY, async (i) => {
    const r = await https[i % https.length]!.post(
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

/**
 * One upload of 5,000 one-time KeyPackages through the first process while another user sends
 * messages, one at a time, to every process: how long the upload takes and the longest any of
 * those sends waited.
 */
async function benchBulkUpload(
  https: Http[],
): Promise<{ uploadMs: number; worstWaitMs: number; requests: number }> {
  const uploader = await https[0]!.register('bulk', 'pw', 'BULK');
  const other = await https[0]!.register('bystander');
  const roomId = await https[0]!.createRoom(other.token);
  const { body } = keyPackageUpload(uploader.userId, 'BULK', BULK_KEYS - 1);
  let uploading = true;
  const waits: number[] = [];
  const bystanders = https.map(async (http, p) => {
    for (let i = 0; uploading; i++) {
      const started = performance.now();
      const r = await http.put(
        `/rooms/${enc(roomId)}/send/m.room.message/w${p}_${i}`,
        { msgtype: 'm.text', body: `during the upload ${i}` },
        other.token,
      );
      if (r.status !== 200) throw new Error(`send failed: ${JSON.stringify(r.body)}`);
      if (uploading) waits.push(performance.now() - started);
    }
  });
  const started = performance.now();
  const r = await https[0]!.post('/keys/upload', body, uploader.token);
  const uploadMs = performance.now() - started;
  uploading = false;
  await Promise.all(bystanders);
  if (r.status !== 200) throw new Error(`bulk upload failed: ${JSON.stringify(r.body)}`);
  const stored = Object.values(r.body.one_time_key_counts as Record<string, number>)[0];
  if (stored !== BULK_KEYS - 1) throw new Error(`stored ${stored} keys`);
  return { uploadMs, worstWaitMs: Math.max(0, ...waits), requests: waits.length };
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

interface Options {
  pgUrl: string;
  sqliteDir: string | undefined;
  port: number;
  only: DbKind | undefined;
  json: boolean;
}

/** A fresh database for the bench: a SQLite file, or a new schema on the PostgreSQL given. */
function benchDatabase(kind: DbKind, options: Options) {
  if (kind === 'sqlite') {
    const dir = options.sqliteDir ?? mkdtempSync(join(tmpdir(), 'trellis-bench-'));
    const path = join(dir, `bench-${randomBytes(4).toString('hex')}.sqlite`);
    return {
      database: { kind: 'sqlite' as const, path },
      drop: async () => {
        if (options.sqliteDir === undefined) rmSync(dir, { recursive: true, force: true });
        else for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
      },
    };
  }
  const schema = `bench_${randomBytes(6).toString('hex')}`;
  return {
    database: { kind: 'postgres' as const, url: options.pgUrl, schema },
    drop: async () => {
      const client = new pg.Client({ connectionString: options.pgUrl });
      await client.connect();
      await client.query(`drop schema if exists "${schema}" cascade`);
      await client.end();
    },
  };
}

async function bench(kind: DbKind, options: Options): Promise<Result> {
  const { database, drop } = benchDatabase(kind, options);
  const processes = kind === 'postgres' ? 2 : 1;
  const firstPort = options.port === 0 ? 0 : options.port + (kind === 'postgres' ? 1 : 0);
  const servers: ServerProcess[] = [];
  try {
    for (let i = 0; i < processes; i++) {
      const port = firstPort === 0 ? 0 : firstPort + i;
      servers.push(
        await spawnServer([
          ...databaseArgs(database),
          '--claim-burst',
          '0',
          // 5,000 KeyPackages are about 2.5 MB of JSON.
          '--max-body-bytes',
          String(8 * 1024 * 1024),
          '--port',
          String(port),
        ]),
      );
    }
    const https = servers.map((s) => new Http(s.url));
    const claimsPerSecond = await benchClaims(https);
    const bulk = await benchBulkUpload(https);
    const { p50, p99 } = await benchSendToSync(https[0]!);
    const backupKeysPerSecond = await benchBackup(https[0]!);
    return {
      processes,
      claimsPerSecond,
      bulkUploadMs: bulk.uploadMs,
      worstConcurrentWaitMs: bulk.worstWaitMs,
      concurrentRequests: bulk.requests,
      p50,
      p99,
      backupKeysPerSecond,
    };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await drop();
  }
}

function readOptions(): Options | 'help' {
  const { values } = parseArgs({
    options: {
      'pg-url': { type: 'string' },
      'sqlite-dir': { type: 'string' },
      port: { type: 'string' },
      only: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return 'help';
  const port = Number(values.port ?? process.env.TRELLIS_BENCH_PORT ?? 0);
  if (!Number.isInteger(port) || port < 0 || port > 65533) throw new Error(`bad --port ${port}`);
  if (values.only !== undefined && values.only !== 'sqlite' && values.only !== 'postgres') {
    throw new Error(`--only must be sqlite or postgres, got ${values.only}`);
  }
  return {
    pgUrl: values['pg-url'] ?? process.env.TRELLIS_BENCH_PG_URL ?? PG_URL,
    sqliteDir: values['sqlite-dir'] ?? process.env.TRELLIS_BENCH_SQLITE_DIR,
    port,
    only: values.only as DbKind | undefined,
    json: values.json ?? false,
  };
}

let options: Options | 'help';
try {
  options = readOptions();
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (options === 'help') {
  process.stdout.write(USAGE);
  process.exit(0);
}

const kinds: DbKind[] = options.only ? [options.only] : ['sqlite', 'postgres'];
const results = new Map<DbKind, Result>();
for (const kind of kinds) {
  process.stderr.write(`benchmarking ${kind}…\n`);
  results.set(kind, await bench(kind, options));
}

const cpu = cpus()[0]?.model ?? 'unknown CPU';
if (options.json) {
  console.log(
    JSON.stringify(
      {
        node: process.version,
        cpus: `${cpus().length} × ${cpu}`,
        claims: CLAIMS,
        bulkKeys: BULK_KEYS,
        results: Object.fromEntries(results),
      },
      null,
      2,
    ),
  );
} else {
  console.log(`Trellis server bench — Node ${process.version}, ${cpus().length} × ${cpu}`);
  console.log(
    `servers on 127.0.0.1 (SQLite: 1 process; PostgreSQL: 2 processes, one database); ` +
      `${CLAIMS} claims (${CLAIM_CONCURRENCY} in flight), one upload of ${BULK_KEYS} KeyPackages ` +
      `with sends running beside it, ${MESSAGES} sends to ${SYNCERS} syncing clients, ` +
      `${BACKUP_KEYS} backup keys in PUTs of ${BACKUP_BATCH}`,
  );
  const rows: [string, (r: Result) => string][] = [
    ['server processes', (r) => String(r.processes)],
    ['KeyPackage claims/s', (r) => r.claimsPerSecond.toFixed(0)],
    [`upload of ${BULK_KEYS} one-time keys (ms)`, (r) => r.bulkUploadMs.toFixed(0)],
    [
      'worst wait of a concurrent request (ms)',
      (r) => `${r.worstConcurrentWaitMs.toFixed(0)} (of ${r.concurrentRequests})`,
    ],
    ['send→sync p50 (ms)', (r) => r.p50.toFixed(1)],
    ['send→sync p99 (ms)', (r) => r.p99.toFixed(1)],
    ['backup keys stored/s', (r) => r.backupKeysPerSecond.toFixed(0)],
  ];
  const header = ['', ...results.keys()];
  const table = rows.map(([label, cell]) => [label, ...[...results.values()].map(cell)]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  for (const row of table) console.log(line(row));
}
