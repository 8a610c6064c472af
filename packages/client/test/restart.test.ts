/**
 * A client killed with SIGKILL (no shutdown of any kind) and started again from its SQLite file
 * loses nothing: the same device, every group with every epoch it held, and the private keys
 * of the KeyPackages it had uploaded (a Welcome made from one of them after the kill is read).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { Client } from '../src/index.js';
import { SqliteStore } from '../src/sqliteStore.js';
import { startServer } from './helpers/server.js';
import { converged, Devices, FAST, membersOf, register, until, watch } from './helpers/clients.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/device.ts', import.meta.url));

interface Line {
  kind: string;
  [field: string]: unknown;
}

test('a client killed with SIGKILL restarts from its store with nothing lost', async () => {
  const server = await startServer();
  const devices = new Devices();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', FIXTURE, server.url, join(server.dir, 'carol.db'), 'carol'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  after(async () => {
    child.kill('SIGKILL');
    await devices.stopAll();
    await server.close();
  });
  const lines: Line[] = [];
  createInterface({ input: child.stdout! }).on('line', (text) =>
    lines.push(JSON.parse(text) as Line),
  );
  const alice = devices.add(await register(server.url, 'alice'));
  alice.client.start();

  // The child prints nothing until it is up: its start-up (loading TypeScript) is the wait.
  await until('the child device is up', () => lines.some((l) => l.kind === 'ready'), {
    quietMs: 180_000,
    state: () => `child: ${JSON.stringify(lines)}`,
  });
  const { userId: carol, deviceId } = lines.find((l) => l.kind === 'ready') as unknown as {
    userId: string;
    deviceId: string;
  };
  const room1 = await alice.client.createRoom({ invite: [carol] });
  await until('carol’s device is added', () =>
    membersOf(room1, alice).includes(`${carol}|${deviceId}`),
  );
  await until('carol has the Welcome', () => lines.some((l) => l.kind === 'welcome'));
  await alice.client.rotateKeys(room1); // one more epoch, so there are several to keep
  await alice.client.sendText(room1, 'm1');
  await until('carol reads m1', () => lines.some((l) => l.kind === 'message' && l.body === 'm1'));
  child.kill('SIGKILL');
  await exited;
  const held = (lines.filter((l) => l.kind === 'message').at(-1)!.epochs as string[]).slice();
  assert.deepEqual(
    lines.filter((l) => l.kind === 'error'),
    [],
  );

  // While carol's device is dead: more in room 1, and a new room whose Welcome uses one of the
  // KeyPackages the dead process uploaded.
  await alice.client.sendText(room1, 'm2');
  const room2 = await alice.client.createRoom({ invite: [carol] });
  const dbPath = join(server.dir, 'carol.db');
  const uploadedBefore = new SqliteStore(dbPath);
  const refsBefore = new Set(uploadedBefore.keyPackages().map((k) => k.ref));
  uploadedBefore.close();

  const restarted = devices.add(
    watch(
      Client.open({ ...FAST, baseUrl: server.url, store: new SqliteStore(dbPath) }),
      'carol again',
    ),
  );
  assert.equal(restarted.client.deviceId, deviceId, 'the same device, no new login');
  const group = restarted.client.room(room1)!.group!;
  assert.deepEqual(
    group
      .epochs()
      .map((n) => `${n.key}=${n.held.kind}`)
      .sort(),
    held,
    'every epoch the killed process held',
  );
  restarted.client.on('invite', ({ roomId }) => void restarted.client.joinRoom(roomId));
  restarted.client.start();
  await until('m2 is read from the restored group', () => restarted.bodies(room1).includes('m2'));
  assert.ok(!restarted.bodies(room1).includes('m1'), 'm1 was read before the kill, not again');

  await until('carol’s device is in room 2', () => converged(room2, [alice, restarted]));
  const refsAfter = new Set(restarted.client.store.keyPackages().map((k) => k.ref));
  const used = [...refsBefore].filter((ref) => !refsAfter.has(ref));
  assert.equal(used.length, 1, 'the Welcome used a KeyPackage made before the kill');
  await alice.client.sendText(room2, 'm3');
  await until('m3 is read in room 2', () => restarted.bodies(room2).includes('m3'));
  assert.deepEqual(restarted.errors, []);
});
