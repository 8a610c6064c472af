/**
 * `npm run bench:e2e`: end-to-end numbers for Trellis rooms, against a homeserver run as its own
 * process (port and database from the options or the environment, see `--help`).
 *
 * 1. Convergence after k concurrent commits (k = 2, 4, 8): k devices commit on the same epoch
 *    at once; rounds until every device sees one tip, rounds until no device has anything left
 *    to commit, resolving commits, and time. Rooms of up to `--http-max` devices run over the
 *    server's HTTP API; larger ones with the dMLS layer alone, in-process (see the note printed
 *    with them for why).
 * 2. Messages end to end, `Client`s on SQLite stores through the server: throughput with several
 *    senders sending at once (every message read and decrypted by the reader), and, separately,
 *    the latency of one message at a time from send to decrypted (p50, p99).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readBenchOptions } from '../../mls/bench/cli.js';
import { roomAlgorithm } from '@trellis/mls';
import {
  DECRYPT_SHORT_MESSAGE,
  ENCRYPT_SHORT_MESSAGE,
  measurePrimitives,
  plus,
  times,
  workSeconds,
} from '../../mls/bench/limits.js';
import {
  readServerOptions,
  SERVER_OPTIONS,
  serverUsage,
  startServers,
  type BenchServers,
  type ServerOptions,
} from '../../server/bench/benchServer.js';
import { Client, MatrixHttp } from '../src/index.js';
import { SqliteStore } from '../src/sqliteStore.js';
import {
  BenchDevice,
  buildGroup,
  concurrentCommits,
  seeded,
  type ConvergenceResult,
  type Room,
} from './convergence.js';
import { HttpTransport, MemoryTransport } from './transports.js';

const USAGE = `npm run bench:e2e -- [options]

Convergence after concurrent commits, and end-to-end message throughput and latency, through a
homeserver process.

  --only <part>        convergence or messages (both)
  --sizes <list>       room sizes for convergence, comma-separated, each ≥ 2 (10,100,1000)
  --http-max <n>       rooms up to this size run over HTTP, larger ones in-process (100)
  --ks <list>          numbers of concurrent commits (2,4,8)
  --messages <n>       messages for the throughput run, and again for the latency run (300)
  --senders <n>        clients sending at once in the throughput run (4)
${serverUsage('sqlite')}
  --json               one JSON object instead of the tables
  --help               this text
`;

interface Options {
  server: ServerOptions;
  only: 'convergence' | 'messages' | undefined;
  sizes: number[];
  httpMax: number;
  ks: number[];
  messages: number;
  senders: number;
  json: boolean;
}

const DEVICES_PER_USER = 10;
/** Devices that run a group in an in-process room besides the creator and the committers. */
const OBSERVERS = 16;
/** Waits for a room to form or messages to arrive: far above normal, reported when exceeded. */
const WAIT_MS = 300_000;

const dir = mkdtempSync(join(tmpdir(), 'trellis-bench-'));

async function inParallel<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await task(items[next++]!);
    }),
  );
}

async function until(what: string, condition: () => boolean, state: () => string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${state()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function pickCommitters(
  devices: readonly BenchDevice[],
  count: number,
  seed: number,
): BenchDevice[] {
  const random = seeded(seed);
  const pool = devices.slice(1);
  const out: BenchDevice[] = [];
  while (out.length < count && pool.length > 0) {
    const d = pool.splice(Math.floor(random() * pool.length), 1)[0]!;
    out.push(d);
  }
  return out;
}

/** A room of `n` devices on the real server, every device running a group. */
async function httpRoom(url: string, n: number): Promise<Room> {
  const users = Math.ceil(n / DEVICES_PER_USER);
  const sessions: { http: MatrixHttp; userId: string; deviceId: string }[] = [];
  await inParallel([...Array(users).keys()], 8, async (u) => {
    const name = `bench${n}u${u}`;
    const count = Math.min(DEVICES_PER_USER, n - u * DEVICES_PER_USER);
    for (let d = 0; d < count; d++) {
      const http = new MatrixHttp({ baseUrl: url });
      const s =
        d === 0 ? await http.register(name, 'pw', `D${d}`) : await http.login(name, 'pw', `D${d}`);
      http.accessToken = s.accessToken;
      sessions.push({ http, userId: s.userId, deviceId: s.deviceId });
    }
  });
  sessions.sort((a, b) => (a.userId + a.deviceId < b.userId + b.deviceId ? -1 : 1));
  const creator = sessions[0]!;
  const others = [...new Set(sessions.map((s) => s.userId))].filter((u) => u !== creator.userId);
  const roomId = await creator.http.createRoom({
    preset: 'private_chat',
    invite: others,
    initial_state: [
      { type: 'm.room.encryption', state_key: '', content: { algorithm: roomAlgorithm(1) } },
    ],
  });
  for (const userId of others) await sessions.find((s) => s.userId === userId)!.http.join(roomId);
  const createEventId = (await creator.http.roomState(roomId)).find(
    (e) => e.type === 'm.room.create',
  )!.event_id;

  const transport = new HttpTransport(roomId);
  const devices = sessions.map((s) => {
    const device = new BenchDevice(`${s.userId}|${s.deviceId}`, roomId);
    transport.register(device, s.http);
    return device;
  });
  await inParallel(devices, 8, (d) => transport.uploadKeyPackage(d));
  const room: Room = { transport, roomDevices: devices.map((d) => d.identity), devices };
  // Fifty devices per commit keep commits under the 64 KiB event limit.
  await buildGroup(room, devices[0]!, createEventId, 50);
  return room;
}

/** `n` devices in the group's tree; the creator, the committers and observers run groups. */
async function memoryRoom(
  n: number,
  committers: number,
): Promise<{ room: Room; pool: BenchDevice[] }> {
  const roomId = '!bench:memory';
  const all = Array.from(
    { length: n },
    (_, i) => new BenchDevice(`@u${Math.floor(i / DEVICES_PER_USER)}:bench|D${i}`, roomId),
  );
  const byId = new Map(all.map((d) => [d.identity, d]));
  const pool = pickCommitters(all, committers + OBSERVERS, 7);
  const running = [all[0]!, ...pool];
  const room: Room = {
    transport: new MemoryTransport(byId),
    roomDevices: all.map((d) => d.identity),
    devices: running,
  };
  await buildGroup(room, all[0]!, '$create', n);
  return { room, pool: pool.slice(0, committers) };
}

interface ConvergenceRow extends ConvergenceResult {
  transport: 'http' | 'in-process';
  devices: number;
  setupMs: number;
}

async function convergence(options: Options, start: () => Promise<BenchServers>) {
  const rows: ConvergenceRow[] = [];
  const maxK = Math.max(...options.ks);
  for (const n of options.sizes) {
    const setup = performance.now();
    if (n <= options.httpMax) {
      const server = await start();
      try {
        const room = await httpRoom(server.urls[0]!, n);
        const setupMs = performance.now() - setup;
        for (const k of options.ks) {
          const result = await concurrentCommits(room, pickCommitters(room.devices, k, k * 31 + n));
          rows.push({ transport: 'http', devices: n, setupMs, ...result });
        }
      } finally {
        await server.close();
      }
    } else {
      const { room, pool } = await memoryRoom(n, maxK);
      const setupMs = performance.now() - setup;
      for (const k of options.ks) {
        const result = await concurrentCommits(room, pool.slice(0, k));
        rows.push({ transport: 'in-process', devices: n, setupMs, ...result });
      }
    }
  }
  return rows;
}

function printConvergence(rows: ConvergenceRow[]): void {
  console.log('Convergence after k concurrent commits');
  const header = [
    'transport',
    'devices',
    'k',
    'rounds',
    'settle',
    'commits',
    'wall ms',
    'device ms',
    'set-up s',
  ];
  const cells = rows.map((r) => [
    r.transport === 'http' ? 'HTTP (server process)' : 'dMLS only, in-process',
    String(r.devices),
    String(r.k),
    String(r.rounds),
    String(r.settleRounds),
    String(r.resolvingCommits),
    r.wallMs.toFixed(0),
    r.deviceMs.toFixed(0),
    (r.setupMs / 1000).toFixed(1),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  for (const c of cells) console.log(line(c));
  console.log(
    [
      '',
      'rounds:  resolution waves until every device sees one and the same tip',
      'settle:  waves until no device has a commit left (a device whose own update was merged away',
      '         updates again, one rank at a time)',
      'commits: resolving commits sent in those waves (k concurrent commits not counted)',
      'wall:    the whole phase with every device processed in turn on this machine (HTTP included)',
      'device:  the most time one device spent (its syncs, decryption, commits): the phase as it',
      '         runs when every device has its own machine',
      `in-process rooms: every device is in the tree, but only the creator, the committers and ${OBSERVERS}`,
      '         observers run a group; joining a 1000-member group over HTTP costs ~0.4 s per device,',
      '         minutes for all of them on one machine.',
    ].join('\n'),
  );
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;

interface MessageFigures {
  senders: number;
  messages: number;
  /** Messages read and decrypted by the reader per second, all senders sending at once. */
  receivedPerSecond: number;
  /** Messages the senders got accepted by the server per second in that run. */
  sentPerSecond: number;
  /**
   * node:crypto's rate for the cryptography every message costs this process (one client
   * encrypts it, every other member decrypts it), measured in the same run.
   */
  limitPerSecond: number;
  /** One message at a time, from the send call to the reader's decrypted message event. */
  latencyMs: { p50: number; p99: number };
}

async function messages(
  options: Options,
  start: () => Promise<BenchServers>,
): Promise<MessageFigures> {
  const server = await start();
  const clients: Client[] = [];
  try {
    const client = async (name: string) => {
      const c = await Client.register({
        baseUrl: server.urls[0]!,
        resolutionSlotMs: 50,
        keyPackages: { target: 5, lowWater: 2 },
        store: new SqliteStore(join(dir, `${name}-${Date.now()}.db`)),
        username: name,
        password: 'pw',
      });
      clients.push(c);
      c.start();
      return c;
    };
    const reader = await client('reader');
    const senders: Client[] = [];
    for (let i = 0; i < options.senders; i++) senders.push(await client(`sender${i}`));
    const roomId = await reader.createRoom({ invite: senders.map((s) => s.userId) });
    for (const s of senders) {
      await until(
        `${s.userId}'s invite`,
        () => s.room(roomId)?.membership === 'invite',
        () => 'no invite',
      );
      await s.joinRoom(roomId);
    }
    const everyone = [reader, ...senders];
    await until(
      'every client in the group',
      () => everyone.every((c) => c.room(roomId)?.settled() === true),
      () =>
        everyone
          .map((c) => `${c.userId}: ${c.room(roomId)?.settled() ? 'settled' : 'not settled'}`)
          .join(', '),
    );

    // Every message the reader decrypts, by body.
    const arrived = new Map<string, number>();
    const waiting = new Map<string, () => void>();
    reader.on('message', (m) => {
      const body = String(m.content.body);
      arrived.set(body, performance.now());
      waiting.get(body)?.();
    });
    const arrival = (body: string) =>
      new Promise<void>((resolve, reject) => {
        if (arrived.has(body)) return resolve();
        const timer = setTimeout(
          () => reject(new Error(`"${body}" not decrypted in ${WAIT_MS / 1000} s`)),
          WAIT_MS,
        );
        waiting.set(body, () => {
          clearTimeout(timer);
          resolve();
        });
      });

    // Latency: one message at a time.
    const latencies: number[] = [];
    for (let i = 0; i < options.messages; i++) {
      const body = `latency ${i}`;
      const sent = performance.now();
      const done = arrival(body);
      await senders[0]!.sendText(roomId, body);
      await done;
      latencies.push(arrived.get(body)! - sent);
    }
    latencies.sort((a, b) => a - b);

    // Throughput: every sender sends its share back to back, all at once.
    const bodies = Array.from({ length: options.messages }, (_, i) => `throughput ${i}`);
    const all = Promise.all(bodies.map(arrival));
    const started = performance.now();
    await Promise.all(
      senders.map(async (s, i) => {
        for (let m = i; m < bodies.length; m += senders.length)
          await s.sendText(roomId, bodies[m]!);
      }),
    );
    const sentMs = performance.now() - started;
    await all;
    const totalMs = Math.max(...bodies.map((b) => arrived.get(b)!)) - started;

    const primitives = measurePrimitives(200);
    const perMessage = plus(ENCRYPT_SHORT_MESSAGE, times(senders.length, DECRYPT_SHORT_MESSAGE));
    return {
      senders: senders.length,
      messages: options.messages,
      receivedPerSecond: (options.messages * 1000) / totalMs,
      sentPerSecond: (options.messages * 1000) / sentMs,
      limitPerSecond: 1 / workSeconds(perMessage, primitives),
      latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99) },
    };
  } finally {
    for (const c of clients) await c.close();
    await server.close();
  }
}

function printMessages(db: string, m: MessageFigures): void {
  console.log(
    `\nEnd-to-end messages through the server (${db}; Clients on SQLite stores, in this process)`,
  );
  console.log(
    `  throughput: ${m.senders} senders at once, ${m.messages} messages: ${m.receivedPerSecond.toFixed(0)} messages/s read and decrypted by the reader (${m.sentPerSecond.toFixed(0)}/s accepted by the server)`,
  );
  console.log(
    `    limit: ${m.limitPerSecond.toFixed(0)} messages/s, node:crypto alone doing what each message costs this process (1 encryption + ${m.senders} decryptions: every other member reads it)`,
  );
  console.log(
    `  latency: one message at a time, send → decrypted by the reader: p50 ${m.latencyMs.p50.toFixed(1)} ms, p99 ${m.latencyMs.p99.toFixed(1)} ms (${m.messages} messages)`,
  );
}

function list(value: string | undefined, fallback: string, min: number, name: string): number[] {
  const out = (value ?? fallback).split(',').map((v) => Number(v.trim()));
  if (out.some((n) => !Number.isInteger(n) || n < min)) {
    throw new Error(`--${name} wants integers ≥ ${min}, not "${value}"`);
  }
  return out;
}

function readOptions(): Options | 'help' {
  const { values } = parseArgs({
    options: {
      ...SERVER_OPTIONS,
      only: { type: 'string' },
      sizes: { type: 'string' },
      'http-max': { type: 'string' },
      ks: { type: 'string' },
      messages: { type: 'string' },
      senders: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return 'help';
  if (values.only !== undefined && values.only !== 'convergence' && values.only !== 'messages') {
    throw new Error(`--only wants convergence or messages, not "${values.only}"`);
  }
  return {
    server: readServerOptions(values, 'sqlite'),
    only: values.only,
    sizes: list(values.sizes, '10,100,1000', 2, 'sizes'),
    httpMax: list(values['http-max'], '100', 0, 'http-max')[0]!,
    ks: list(values.ks, '2,4,8', 1, 'ks'),
    messages: list(values.messages, '300', 1, 'messages')[0]!,
    senders: list(values.senders, '4', 1, 'senders')[0]!,
    json: values.json ?? false,
  };
}

async function main(): Promise<void> {
  const options = readBenchOptions(USAGE, readOptions);
  const out: { db: string; convergence?: ConvergenceRow[]; messages?: MessageFigures }[] = [];
  for (const kind of options.server.kinds) {
    const start = () => startServers(kind, 1, options.server);
    const result: (typeof out)[number] = { db: kind };
    if (options.only !== 'messages') result.convergence = await convergence(options, start);
    if (options.only !== 'convergence') result.messages = await messages(options, start);
    out.push(result);
  }
  if (options.json) {
    console.log(
      JSON.stringify({
        node: process.version,
        cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
        results: out,
      }),
    );
    return;
  }
  console.log(
    `Trellis bench:e2e (Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'unknown'})`,
  );
  for (const r of out) {
    console.log(`\nDatabase: ${r.db}\n`);
    if (r.convergence) printConvergence(r.convergence);
    if (r.messages) printMessages(r.db, r.messages);
  }
}

try {
  await main();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
