import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Http, type Session } from './helpers/client.js';
import { keyPackageUpload } from './helpers/keyPackages.js';
import { databaseArgs, spawnServer, type ServerProcess } from './helpers/process.js';
import { freshDatabase } from './helpers/server.js';

/**
 * 2,000 concurrent claims against one device holding 1,000 one-time KeyPackages, spread over
 * two server processes sharing one PostgreSQL database: each one-time KeyPackage is handed out
 * exactly once, every other claim gets the last-resort KeyPackage.
 */
describe('concurrent KeyPackage claims on two server processes (PostgreSQL)', () => {
  const ONE_TIME = 1000;
  const CLAIMS = 2000;
  let drop: () => Promise<void>;
  let servers: ServerProcess[] = [];

  before(async () => {
    const db = freshDatabase('postgres');
    drop = db.drop;
    if (db.database.kind !== 'postgres') throw new Error('unreachable');
    // No claim rate limit here: the point is the race, not the limiter.
    const args = [...databaseArgs(db.database), '--claim-burst', '0', '--db-pool-size', '20'];
    servers = [await spawnServer(args)];
    servers.push(await spawnServer(args));
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    await drop();
  });

  it('hands out every one-time KeyPackage once and the last-resort one to the rest', async () => {
    const [a, b] = servers.map((s) => new Http(s.url)) as [Http, Http];
    const target = await a.register('target', 'pw', 'TARGET');
    const { oneTime, fallback, body } = keyPackageUpload(target.userId, target.deviceId, ONE_TIME);
    const upload = await a.post('/keys/upload', body, target.token);
    assert.equal(upload.status, 200, JSON.stringify(upload.body));
    assert.equal(upload.body.one_time_key_counts[oneTime[0]!.algorithm], ONE_TIME);

    const claimers: Session[] = [];
    for (let i = 0; i < 10; i++) claimers.push(await (i % 2 ? b : a).register(`claimer${i}`));
    const algorithm = fallback.algorithm;

    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: CLAIMS }, async (_, i) => {
        const http = i % 2 === 0 ? a : b;
        const claimer = claimers[i % claimers.length]!;
        const r = await http.post(
          '/keys/claim',
          { one_time_keys: { [target.userId]: { TARGET: algorithm } } },
          claimer.token,
        );
        assert.equal(r.status, 200, JSON.stringify(r.body));
        const keys = Object.entries(
          r.body.one_time_keys[target.userId].TARGET as Record<string, string>,
        );
        assert.equal(keys.length, 1);
        return keys[0]!;
      }),
    );
    const elapsed = Date.now() - started;

    const uploaded = new Map(oneTime.map((k) => [k.name, k.value]));
    const handedOut = new Map<string, number>();
    let lastResort = 0;
    for (const [name, value] of results) {
      if (name === fallback.name) {
        assert.equal(value, fallback.value);
        lastResort++;
        continue;
      }
      assert.equal(value, uploaded.get(name), `claimed ${name} is one we uploaded, with its value`);
      handedOut.set(name, (handedOut.get(name) ?? 0) + 1);
    }
    const twice = [...handedOut].filter(([, n]) => n > 1);
    assert.deepEqual(twice, [], 'no one-time KeyPackage handed out twice');
    assert.equal(handedOut.size, ONE_TIME, 'every one-time KeyPackage handed out');
    assert.equal(lastResort, CLAIMS - ONE_TIME, 'every other claim got the last-resort KeyPackage');

    // The device learns through sync: no one-time keys left, fallback used.
    const sync = await b.sync(target.token);
    assert.deepEqual(sync.body.device_one_time_keys_count, {});
    assert.deepEqual(sync.body.device_unused_fallback_key_types, []);
    process.stdout.write(
      `# ${CLAIMS} claims over 2 processes in ${elapsed} ms: ${handedOut.size} one-time, ${lastResort} last-resort\n`,
    );
  });

  it('wakes a sync waiting on one process when the other stores an event or to-device message for it', async () => {
    const [a, b] = servers.map((s) => new Http(s.url)) as [Http, Http];
    const alice = await a.register('wake-alice');
    const bob = await b.register('wake-bob');
    const roomId = await a.createRoom(alice.token, { invite: [bob.userId] });
    await b.post(`/rooms/${encodeURIComponent(roomId)}/join`, {}, bob.token);
    const start = await b.sync(bob.token);

    // Woken by the other process, not by the timeout: 60 s, far from any delay a busy machine
    // adds to a wake-up.
    let t0 = Date.now();
    const waiting = b.sync(bob.token, { since: start.body.next_batch, timeout: 60_000 });
    await new Promise((r) => setTimeout(r, 300));
    const eventId = await a.send(alice.token, roomId, {
      msgtype: 'm.text',
      body: 'across processes',
    });
    const woke = await waiting;
    const eventLatency = Date.now() - t0 - 300;
    assert.deepEqual(
      woke.body.rooms.join[roomId].timeline.events.map((e: { event_id: string }) => e.event_id),
      [eventId],
    );
    assert.ok(eventLatency < 30_000, `woke ${eventLatency} ms after the send`);

    t0 = Date.now();
    const again = b.sync(bob.token, { since: woke.body.next_batch, timeout: 60_000 });
    await new Promise((r) => setTimeout(r, 300));
    await a.put(
      '/sendToDevice/m.test/x1',
      { messages: { [bob.userId]: { [bob.deviceId]: { hi: 1 } } } },
      alice.token,
    );
    const toDevice = await again;
    assert.deepEqual(toDevice.body.to_device.events, [
      { sender: alice.userId, type: 'm.test', content: { hi: 1 } },
    ]);
    assert.ok(Date.now() - t0 - 300 < 30_000, 'woke before the timeout');
  });
});
