/**
 * `npm run bench:e2e`: end-to-end numbers for Trellis rooms.
 *
 * 1. Convergence after k concurrent commits (k = 2, 4, 8): k devices commit on the same epoch
 *    at once; rounds until every device sees one tip, rounds until no device has anything left
 *    to commit, resolving commits, and time. Rooms of 10 and 100 devices run over the real
 *    server's HTTP API (in this process, SQLite); 1000 devices run with the dMLS layer alone,
 *    in-process (see the note printed with it for why).
 * 2. Messages per second end to end: one `Client` sends, another receives by sync and decrypts,
 *    both on SQLite stores, through the real server.
 *
 * `npm run bench:e2e -- convergence` (or `-- messages`) runs one part.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildApp,
  DEFAULT_CONFIG,
  NO_AUTH_LIMITS,
  Store,
  type ServerConfig,
} from '@trellis/server';
import { roomAlgorithm } from '@trellis/mls';
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

const KS = [2, 4, 8];
const DEVICES_PER_USER = 10;
const MESSAGES = 300;
/** Devices that run a group in the 1000-device room besides the creator and the committers. */
const OBSERVERS = 16;

const dir = mkdtempSync(join(tmpdir(), 'trellis-bench-'));

async function startServer(): Promise<{ url: string; close(): Promise<void> }> {
  const database = { kind: 'sqlite' as const, path: join(dir, `server-${Date.now()}.db`) };
  const config: ServerConfig = {
    ...DEFAULT_CONFIG,
    port: 0,
    logLevel: 'silent',
    database,
    // The bench claims hundreds of KeyPackages from one account in seconds.
    claimRate: { burst: 0, perSecond: 0 },
    // And registers up to 1000 devices from 127.0.0.1.
    authLimits: NO_AUTH_LIMITS,
  };
  const store = await Store.open(database);
  const app = await buildApp(config, store);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    async close() {
      await app.close();
      await store.close();
    },
  };
}

async function inParallel<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await task(items[next++]!);
    }),
  );
}

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
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
  while (out.length < count) {
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

/** 1000 devices in the group's tree; the creator, the committers and observers run groups. */
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

function row(label: string, n: number, r: ConvergenceResult): string {
  return [
    label.padEnd(22),
    String(n).padStart(6),
    String(r.k).padStart(3),
    String(r.rounds).padStart(7),
    String(r.settleRounds).padStart(7),
    String(r.resolvingCommits).padStart(8),
    r.wallMs.toFixed(0).padStart(9),
    r.deviceMs.toFixed(0).padStart(10),
  ].join(' ');
}

async function convergence(): Promise<void> {
  console.log('Convergence after k concurrent commits');
  console.log(
    `${'transport'.padEnd(22)} ${'devices'.padStart(6)} ${'k'.padStart(3)} ${'rounds'.padStart(7)} ${'settle'.padStart(7)} ${'commits'.padStart(8)} ${'wall ms'.padStart(9)} ${'device ms'.padStart(10)}`,
  );
  for (const n of [10, 100]) {
    const server = await startServer();
    const setup = performance.now();
    const room = await httpRoom(server.url, n);
    const setupMs = performance.now() - setup;
    for (const k of KS) {
      const result = await concurrentCommits(room, pickCommitters(room.devices, k, k * 31 + n));
      console.log(row('HTTP (real server)', n, result));
    }
    console.log(
      `${''.padEnd(22)} (room of ${n} set up over HTTP in ${(setupMs / 1000).toFixed(1)} s)`,
    );
    await server.close();
  }
  const setup = performance.now();
  const { room, pool } = await memoryRoom(1000, Math.max(...KS));
  const setupMs = performance.now() - setup;
  for (const k of KS) {
    const result = await concurrentCommits(room, pool.slice(0, k));
    console.log(row('dMLS only, in-process', 1000, result));
  }
  console.log(
    [
      `${''.padEnd(22)} (1000 devices in the tree; ${room.devices.length} of them run a group: the creator, the 8`,
      `${''.padEnd(22)}  committers and ${OBSERVERS} observers, set up in ${(setupMs / 1000).toFixed(1)} s. Not over HTTP:`,
      `${''.padEnd(22)}  joining a 1000-member group costs ~0.4 s per device, 7 min for all on one machine.)`,
    ].join('\n'),
  );
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
    ].join('\n'),
  );
}

async function messagesPerSecond(): Promise<void> {
  const server = await startServer();
  const options = {
    baseUrl: server.url,
    resolutionSlotMs: 50,
    keyPackages: { target: 5, lowWater: 2 },
  };
  const alice = await Client.register({
    ...options,
    store: new SqliteStore(join(dir, 'alice.db')),
    username: 'alice',
    password: 'pw',
  });
  const bob = await Client.register({
    ...options,
    store: new SqliteStore(join(dir, 'bob.db')),
    username: 'bob',
    password: 'pw',
  });
  alice.start();
  bob.start();
  const roomId = await alice.createRoom({ invite: [bob.userId] });
  await until(() => bob.room(roomId)?.membership === 'invite');
  await bob.joinRoom(roomId);
  await until(() => bob.room(roomId)?.settled() === true && alice.room(roomId)?.settled() === true);
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let received = 0;
  const done = new Promise<void>((resolve) => {
    bob.on('message', (m) => {
      const t = sentAt.get(String(m.content.body));
      if (t === undefined) return;
      latencies.push(performance.now() - t);
      if (++received === MESSAGES) resolve();
    });
  });
  const started = performance.now();
  for (let i = 0; i < MESSAGES; i++) {
    const body = `message ${i}`;
    sentAt.set(body, performance.now());
    await alice.sendText(roomId, body);
  }
  const sentMs = performance.now() - started;
  await done;
  const totalMs = performance.now() - started;
  latencies.sort((a, b) => a - b);
  const p = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(1);
  console.log(
    '\nEnd-to-end messages through the server (Client → HTTP → sync → decrypt, SQLite stores)',
  );
  console.log(
    `  ${MESSAGES} messages, one sender: ${(MESSAGES / (totalMs / 1000)).toFixed(0)} messages/s received and decrypted`,
  );
  console.log(
    `  sending alone: ${(MESSAGES / (sentMs / 1000)).toFixed(0)} messages/s; send→decrypt latency p50 ${p(0.5)} ms, p99 ${p(0.99)} ms`,
  );
  await alice.close();
  await bob.close();
  await server.close();
}

// `npm run bench:e2e -- convergence` or `-- messages` runs one part.
const only = process.argv[2];
try {
  console.log(`Trellis bench:e2e (Node ${process.version})\n`);
  if (only !== 'messages') await convergence();
  if (only !== 'convergence') await messagesPerSecond();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
