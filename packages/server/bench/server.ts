/**
 * `npm run bench:server`: the homeserver measured through its HTTP API from this process, with
 * SQLite (one server process) and PostgreSQL (two server processes on one database) side by side.
 *
 *   claims/s          KeyPackage claims (one key each), 32 in flight, until 2,000 are handed out
 *                     (spread over the processes on PostgreSQL)
 *   5,000-key upload  one /keys/upload of 5,000 one-time KeyPackages (verification included),
 *                     beside node:crypto's time for the signature checks it needs
 *   worst wait        the slowest of the other requests (sends by another user, one after the
 *                     other, to every process) made while that upload was under way
 *   send→sync         time from a send to each of 100 long-polling syncs delivering the event;
 *                     the syncing clients are spread over the processes, the sender uses the
 *                     first, so on PostgreSQL half the wake-ups cross processes
 *   backup keys/s     keys stored through bulk PUT /room_keys/keys, 500 keys per request
 */
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { readBenchOptions } from '../../mls/bench/cli.js';
import { measurePrimitives, workSeconds } from '../../mls/bench/limits.js';
import { Http, enc, type Session } from '../test/helpers/client.js';
import { keyPackageUpload } from '../test/helpers/keyPackages.js';
import type { DbKind } from '../test/helpers/server.js';
import {
  readServerOptions,
  SERVER_OPTIONS,
  serverUsage,
  startServers,
  type ServerOptions,
} from './benchServer.js';

const USAGE = `npm run bench:server -- [options]

KeyPackage claims/s, a 5,000-key upload, send→sync latency with concurrent syncing clients and
backup keys stored/s, on SQLite (one server process) and PostgreSQL (two processes).

  --sizes <list>       numbers of concurrent syncing clients, comma-separated (100)
  --quick              a few claims, keys and messages: checks that the bench works; its
                       figures mean nothing
${serverUsage('both')}
  --json               print the figures as JSON instead of a table
  --help               this text
`;

interface Counts {
  claims: number;
  bulkKeys: number;
  messages: number;
  backupKeys: number;
  backupBatch: number;
}

const FULL: Counts = {
  claims: 2000,
  bulkKeys: 5000,
  messages: 30,
  backupKeys: 10_000,
  backupBatch: 500,
};
const QUICK: Counts = { claims: 20, bulkKeys: 10, messages: 2, backupKeys: 20, backupBatch: 10 };
const CLAIM_CONCURRENCY = 32;

interface Result {
  processes: number;
  claimsPerSecond: number;
  bulkUploadMs: number;
  /** node:crypto's time for the upload's signature checks, measured in the same run. */
  bulkUploadLimitMs: number;
  worstConcurrentWaitMs: number;
  concurrentRequests: number;
  /** send→sync latency by number of syncing clients. */
  sync: { clients: number; p50: number; p99: number }[];
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

async function benchClaims(https: Http[], claims: number): Promise<number> {
  const http = https[0]!;
  const owner = await http.register('owner', 'pw', 'OWNER');
  const claimer = await http.register('claimer');
  let algorithm = '';
  for (let i = 0; i < Math.ceil(claims / 500); i++) {
    const { body, fallback } = keyPackageUpload(owner.userId, 'OWNER', Math.min(500, claims));
    algorithm = fallback.algorithm;
    const r = await http.post(
      '/keys/upload',
      i === 0 ? body : { one_time_keys: body.one_time_keys },
      owner.token,
    );
    if (r.status !== 200) throw new Error(`upload failed: ${JSON.stringify(r.body)}`);
  }
  const started = performance.now();
  const claimed = await inParallel(claims, CLAIM_CONCURRENCY, async (i) => {
    const r = await https[i % https.length]!.post(
      '/keys/claim',
      { one_time_keys: { [owner.userId]: { OWNER: algorithm } } },
      claimer.token,
    );
    return Object.keys(r.body.one_time_keys[owner.userId].OWNER)[0]!;
  });
  const seconds = (performance.now() - started) / 1000;
  if (new Set(claimed).size !== claims) throw new Error('a KeyPackage was handed out twice');
  return claims / seconds;
}

/**
 * One upload of 5,000 one-time KeyPackages through the first process while another user sends
 * messages, one at a time, to every process: how long the upload takes and the longest any of
 * those sends waited.
 */
async function benchBulkUpload(
  https: Http[],
  keys: number,
): Promise<{ uploadMs: number; worstWaitMs: number; requests: number }> {
  const uploader = await https[0]!.register('bulk', 'pw', 'BULK');
  const other = await https[0]!.register('bystander');
  const roomId = await https[0]!.createRoom(other.token);
  const { body } = keyPackageUpload(uploader.userId, 'BULK', keys - 1);
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
  if (stored !== keys - 1) throw new Error(`stored ${stored} keys`);
  return { uploadMs, worstWaitMs: Math.max(0, ...waits), requests: waits.length };
}

/**
 * `clients` syncing clients, spread over the processes, long-poll while one sender on the first
 * process sends `messages` events one by one: the time from each send to each client's sync
 * delivering it.
 */
async function benchSendToSync(
  https: Http[],
  clients: number,
  messages: number,
): Promise<{ p50: number; p99: number }> {
  const http = https[0]!;
  const sender = await http.register(`sender${clients}`);
  const roomId = await http.createRoom(sender.token, { preset: 'public_chat' });
  const syncers: Session[] = await inParallel(clients, 4, (i) =>
    http.register(`syncer${clients}_${i}`),
  );
  await inParallel(clients, 8, (i) =>
    http.post(`/rooms/${enc(roomId)}/join`, {}, syncers[i]!.token),
  );
  const via = (i: number) => https[i % https.length]!;

  // Keyed by message number, set before the send: a sync may deliver before the PUT returns.
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  let running = true;
  // A timeline limit above the number of sends, so no sync response is `limited`.
  const filter = JSON.stringify({ room: { timeline: { limit: messages + 20 } } });
  let ready = 0;
  const loops = syncers.map(async (s, i) => {
    const own = via(i);
    let since = (await own.sync(s.token, { filter })).body.next_batch as string;
    ready++;
    const seen = new Set<number>();
    while (running && seen.size < messages) {
      const r = await own.sync(s.token, { since, timeout: 30_000, filter });
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
  while (ready < clients) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 500));
  for (let i = 0; i < messages; i++) {
    sentAt.set(i, performance.now());
    await http.put(
      `/rooms/${enc(roomId)}/send/m.room.message/b${i}`,
      { msgtype: 'm.text', body: `bench ${i}` },
      sender.token,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // Generous: a loaded machine delivers late, and a missing delivery is reported below.
  const deadline = setTimeout(() => (running = false), 300_000);
  await Promise.all(loops);
  clearTimeout(deadline);
  latencies.sort((a, b) => a - b);
  if (latencies.length !== clients * messages) {
    throw new Error(`only ${latencies.length} of ${clients * messages} deliveries in 5 minutes`);
  }
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

async function benchBackup(http: Http, keys: number, batchSize: number): Promise<number> {
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
  for (let batch = 0; batch < keys / batchSize; batch++) {
    const rooms: Record<string, { sessions: Record<string, unknown> }> = {};
    for (let i = 0; i < batchSize; i++) {
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
  if (count !== keys) throw new Error(`stored ${count} keys, expected ${keys}`);
  return keys / seconds;
}

interface Options {
  server: ServerOptions;
  sizes: number[];
  counts: Counts;
  json: boolean;
}

/** node:crypto's time for checking `keys` KeyPackages: two signatures and a reference each. */
function uploadLimitMs(keys: number, quick: boolean): number {
  const primitives = measurePrimitives(quick ? 8 : 200);
  return workSeconds({ verify: 2 * keys, sha256: keys }, primitives) * 1000;
}

async function bench(kind: DbKind, options: Options): Promise<Result> {
  const processes = kind === 'postgres' ? 2 : 1;
  const { counts } = options;
  // SQLite on the first ports, PostgreSQL's two processes on the next.
  const port = options.server.port === 0 ? 0 : options.server.port + (kind === 'postgres' ? 1 : 0);
  const servers = await startServers(kind, processes, { ...options.server, port }, [
    // 5,000 KeyPackages are about 2.5 MB of JSON.
    '--max-body-bytes',
    String(8 * 1024 * 1024),
  ]);
  try {
    const https = servers.urls.map((url) => new Http(url));
    const claimsPerSecond = await benchClaims(https, counts.claims);
    const bulk = await benchBulkUpload(https, counts.bulkKeys);
    const bulkUploadLimitMs = uploadLimitMs(counts.bulkKeys - 1, counts === QUICK);
    const sync = [];
    for (const clients of options.sizes) {
      process.stderr.write(`  ${kind}: ${clients} syncing clients…\n`);
      sync.push({ clients, ...(await benchSendToSync(https, clients, counts.messages)) });
    }
    const backupKeysPerSecond = await benchBackup(https[0]!, counts.backupKeys, counts.backupBatch);
    return {
      processes,
      claimsPerSecond,
      bulkUploadMs: bulk.uploadMs,
      bulkUploadLimitMs,
      worstConcurrentWaitMs: bulk.worstWaitMs,
      concurrentRequests: bulk.requests,
      sync,
      backupKeysPerSecond,
    };
  } finally {
    await servers.close();
  }
}

function readOptions(): Options | 'help' {
  const { values } = parseArgs({
    options: {
      ...SERVER_OPTIONS,
      sizes: { type: 'string' },
      quick: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return 'help';
  const sizes = (values.sizes ?? '100').split(',').map((v) => Number(v.trim()));
  if (sizes.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new Error(`--sizes wants positive integers, not "${values.sizes}"`);
  }
  return {
    server: readServerOptions(values, 'both'),
    sizes,
    counts: values.quick ? QUICK : FULL,
    json: values.json ?? false,
  };
}

const options = readBenchOptions(USAGE, readOptions);

const results = new Map<DbKind, Result>();
for (const kind of options.server.kinds) {
  process.stderr.write(`benchmarking ${kind}…\n`);
  results.set(kind, await bench(kind, options));
}

const { counts } = options;
const cpu = cpus()[0]?.model ?? 'unknown CPU';
if (options.json) {
  console.log(
    JSON.stringify(
      {
        node: process.version,
        cpus: `${cpus().length} × ${cpu}`,
        ...counts,
        claimConcurrency: CLAIM_CONCURRENCY,
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
      `${counts.claims} claims (${CLAIM_CONCURRENCY} in flight), one upload of ${counts.bulkKeys} KeyPackages ` +
      `with sends running beside it, ${counts.messages} sends to each number of syncing clients, ` +
      `${counts.backupKeys} backup keys in PUTs of ${counts.backupBatch}`,
  );
  const rows: [string, (r: Result) => string][] = [
    ['server processes', (r) => String(r.processes)],
    ['KeyPackage claims/s', (r) => r.claimsPerSecond.toFixed(0)],
    [`upload of ${counts.bulkKeys} one-time keys (ms)`, (r) => r.bulkUploadMs.toFixed(0)],
    [
      '  limit: node:crypto checking their signatures (ms)',
      (r) =>
        `${r.bulkUploadLimitMs.toFixed(0)} (${((100 * r.bulkUploadLimitMs) / r.bulkUploadMs).toFixed(0)}%)`,
    ],
    [
      'worst wait of a concurrent request (ms)',
      (r) => `${r.worstConcurrentWaitMs.toFixed(0)} (of ${r.concurrentRequests})`,
    ],
    ...options.sizes.flatMap((clients, i): [string, (r: Result) => string][] => [
      [`send→sync p50, ${clients} clients (ms)`, (r) => r.sync[i]!.p50.toFixed(1)],
      [`send→sync p99, ${clients} clients (ms)`, (r) => r.sync[i]!.p99.toFixed(1)],
    ]),
    ['backup keys stored/s', (r) => r.backupKeysPerSecond.toFixed(0)],
  ];
  const header = ['', ...results.keys()];
  const table = rows.map(([label, cell]) => [label, ...[...results.values()].map(cell)]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  for (const row of table) console.log(line(row));
  console.log(
    'Claims, syncs and backup keys need no cryptography on the server: their limit is the database and HTTP, not node:crypto.',
  );
}
