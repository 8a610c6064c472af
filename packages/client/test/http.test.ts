/**
 * The HTTP layer and the sync loop against the real server: Matrix errors become typed errors,
 * rate limits are waited out as the server asks, refused connections are retried with back-off,
 * and the sync loop lives through a server restart.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { keyPackageAlgorithm } from '@trellis/mls';
import { backoffDelay, ClientError, MatrixHttp, type RetryInfo } from '../src/index.js';
import { startServer } from './helpers/server.js';
import { converged, Devices, register, until } from './helpers/clients.js';

describe('HTTP', () => {
  test('a Matrix error is a typed ClientError with its errcode and status, not retried', async () => {
    const server = await startServer();
    after(() => server.close());
    const retries: RetryInfo[] = [];
    const http = new MatrixHttp({ baseUrl: server.url, onRetry: (r) => retries.push(r) });
    await http.register('alice', 'pw');
    const error = await http.login('alice', 'wrong').catch((e: unknown) => e);
    assert.ok(error instanceof ClientError);
    assert.equal(error.code, 'HTTP');
    assert.equal(error.errcode, 'M_FORBIDDEN');
    assert.equal(error.status, 403);
    assert.match(error.serverError ?? '', /password/i, 'the server’s own words, apart');
    assert.deepEqual(retries, []);
  });

  test('429 is retried after the server’s retry_after_ms', async () => {
    const server = await startServer({ claimRate: { burst: 1, perSecond: 4 } });
    after(() => server.close());
    const alice = new MatrixHttp({ baseUrl: server.url });
    const session = await alice.register('alice', 'pw');
    alice.accessToken = session.accessToken;
    const retries: RetryInfo[] = [];
    const bob = new MatrixHttp({ baseUrl: server.url, onRetry: (r) => retries.push(r) });
    bob.accessToken = (await bob.register('bob', 'pw')).accessToken;
    const wanted = { [session.userId]: { [session.deviceId]: keyPackageAlgorithm(1) } };
    await bob.claimKeys(wanted);
    const started = Date.now();
    await bob.claimKeys(wanted); // over the limit: 429, then it passes
    assert.equal(retries.length, 1);
    assert.equal(retries[0]!.error.errcode, 'M_LIMIT_EXCEEDED');
    const asked = retries[0]!.error.details.retryAfterMs!;
    assert.ok(asked > 0 && retries[0]!.delayMs >= asked);
    assert.ok(Date.now() - started >= asked);
  });

  test('a refused connection is retried with back-off, then reported as NETWORK', async () => {
    const server = await startServer();
    await server.close();
    const retries: RetryInfo[] = [];
    const http = new MatrixHttp({
      baseUrl: server.url,
      retry: { attempts: 4, baseDelayMs: 10, maxDelayMs: 40 },
      onRetry: (r) => retries.push(r),
    });
    const error = await http.register('alice', 'pw').catch((e: unknown) => e);
    assert.ok(error instanceof ClientError);
    assert.equal(error.code, 'NETWORK');
    assert.equal(retries.length, 3, 'four attempts in all');
    assert.deepEqual(
      retries.map((r) => r.attempt),
      [1, 2, 3],
    );
    // Exponential with jitter: each delay within [ceiling/2, ceiling].
    retries.forEach((r, i) => {
      const ceiling = Math.min(40, 10 * 2 ** i);
      assert.ok(r.delayMs >= ceiling / 2 && r.delayMs <= ceiling, `delay ${r.delayMs}`);
    });
    assert.equal(
      backoffDelay({ attempts: 9, baseDelayMs: 100, maxDelayMs: 1000 }, 10, () => 1),
      1000,
    );
  });
});

describe('the sync loop', () => {
  test('survives a server restart and carries on where it was', async () => {
    const server = await startServer();
    const devices = new Devices();
    after(async () => {
      await devices.stopAll();
      await server.close();
    });
    const alice = devices.add(await register(server.url, 'alice'));
    const bob = devices.add(await register(server.url, 'bob'));
    alice.client.start();
    bob.client.start();
    const roomId = await alice.client.createRoom({ invite: [bob.client.userId] });
    await until('bob invited', () => (bob.seen.invite?.length ?? 0) > 0);
    await bob.client.joinRoom(roomId);
    await until('one group', () => converged(roomId, [alice, bob]));
    await bob.client.sendText(roomId, 'before the restart');
    await until('read', () => alice.bodies(roomId).includes('before the restart'));

    await server.stop();
    await until('the loop sees the server gone', () => (alice.seen.syncError?.length ?? 0) >= 2);
    const sendWhileDown = await bob.client.sendText(roomId, 'lost').catch((e: unknown) => e);
    assert.ok(sendWhileDown instanceof ClientError && sendWhileDown.code === 'NETWORK');
    // A commit that cannot be sent is kept (the server may have stored it or not) ...
    const commitWhileDown = await bob.client.rotateKeys(roomId).catch((e: unknown) => e);
    assert.ok(commitWhileDown instanceof ClientError && commitWhileDown.code === 'NETWORK');
    assert.ok(bob.client.room(roomId)!.group!.commitInFlight);
    const epochBefore = alice.client.room(roomId)!.current()!.epoch.epoch;
    await server.start();
    // ... and sent again, with the same transaction id, once the server is back.
    await until('the kept commit arrives', () =>
      (alice.seen.commit ?? []).some(
        (c) => c.epoch.creator === bob.client.identity && c.epoch.epoch === epochBefore + 1n,
      ),
    );
    assert.ok(!bob.client.room(roomId)!.group!.commitInFlight);

    await bob.client.sendText(roomId, 'after the restart');
    await until('the loop is back', () => alice.bodies(roomId).includes('after the restart'));
    assert.ok(alice.client.running);
    assert.deepEqual(alice.errors, []);
    assert.ok(!alice.bodies(roomId).includes('lost'));
  });
});
