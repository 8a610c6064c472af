/**
 * The KeyPackage stock against the real server: a new device uploads one-time KeyPackages and a
 * last-resort one (their private keys stored first), refills when others claimed the stock low,
 * and replaces its fallback once it was handed out.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { keyPackageAlgorithm } from '@trellis/mls';
import { MatrixHttp } from '../src/index.js';
import { startServer } from './helpers/server.js';
import { Devices, register, until } from './helpers/clients.js';

const ALGORITHM = keyPackageAlgorithm(1);

test('the stock is uploaded, refilled when low, and a used fallback is replaced', async () => {
  const server = await startServer();
  const devices = new Devices();
  after(async () => {
    await devices.stopAll();
    await server.close();
  });
  const alice = devices.add(await register(server.url, 'alice'));
  const { userId, deviceId } = alice.client;
  const bob = new MatrixHttp({ baseUrl: server.url });
  bob.accessToken = (await bob.register('bob', 'pw')).accessToken;

  /** What the server says about alice's stock (a fresh sync acknowledges nothing). */
  const stock = async () => {
    const body = await alice.client.http.sync({ timeout: 0 });
    return {
      oneTime: (body.device_one_time_keys_count as Record<string, number>)[ALGORITHM] ?? 0,
      fallbackUnused: (body.device_unused_fallback_key_types as string[]).includes(ALGORITHM),
    };
  };
  /** Claims one of alice's KeyPackages as bob; returns its key id and whether it was the fallback. */
  const claim = async () => {
    const answer = await bob.claimKeys({ [userId]: { [deviceId]: ALGORITHM } });
    const keys = (answer[userId] as Record<string, Record<string, string>>)[deviceId]!;
    const name = Object.keys(keys)[0]!;
    return name.slice(ALGORITHM.length + 1);
  };

  assert.deepEqual(await stock(), { oneTime: 5, fallbackUnused: true });
  const records = alice.client.store.keyPackages();
  assert.equal(records.length, 6);
  assert.equal(records.filter((r) => r.lastResort).length, 1);

  // Every KeyPackage handed out is one whose private keys alice holds.
  const claimed = [await claim(), await claim(), await claim(), await claim()];
  for (const ref of claimed) assert.ok(alice.client.store.keyPackage(ref), `alice holds ${ref}`);
  assert.deepEqual(await stock(), { oneTime: 1, fallbackUnused: true });

  alice.client.start();
  await until('refilled', () => alice.client.store.keyPackages().length === 6 + 4);
  assert.deepEqual(await stock(), { oneTime: 5, fallbackUnused: true });

  // Empty the stock and take the fallback: the server reports it used, alice replaces it.
  const firstFallback = alice.client.store.keyPackages().find((r) => r.lastResort)!;
  await alice.client.stop();
  for (let i = 0; i < 5; i++) await claim();
  assert.equal(await claim(), firstFallback.ref, 'with the stock gone, the fallback is handed out');
  assert.deepEqual(await stock(), { oneTime: 0, fallbackUnused: false });
  alice.client.start();
  await until(
    'replaced',
    () => alice.client.store.keyPackages().filter((r) => r.lastResort).length === 2,
  );
  assert.deepEqual(await stock(), { oneTime: 5, fallbackUnused: true });
  const fallbacks = alice.client.store.keyPackages().filter((r) => r.lastResort);
  // The replaced one stays a while: a Welcome made from it may still be on its way.
  assert.ok(fallbacks.find((r) => r.ref === firstFallback.ref)!.retiredAt !== undefined);
  assert.equal(fallbacks.filter((r) => r.retiredAt === undefined).length, 1);
});
