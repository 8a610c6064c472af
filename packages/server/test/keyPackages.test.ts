import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sweepExpiredKeyPackages } from '../src/keyPackages/store.js';
import { Http, type Session } from './helpers/client.js';
import { keyPackageUpload, makeKeyPackage, type KeyPackageOptions } from './helpers/keyPackages.js';
import { DB_KINDS, startServer, type TestServer } from './helpers/server.js';

/** The KeyPackage directory: verified uploads, one-time claims, last resort, stock, expiry, limits. */
for (const kind of DB_KINDS) {
  describe(`KeyPackage directory on ${kind}`, () => {
    let server: TestServer;
    let http: Http;
    let alice: Session;
    let bob: Session;
    let n = 0;

    const storedCount = async () =>
      Number(
        (
          await server.store.db
            .selectFrom('one_time_keys')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      ) +
      Number(
        (
          await server.store.db
            .selectFrom('fallback_keys')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );

    before(async () => {
      server = await startServer(kind, {
        keyPackageMaxLifetimeSeconds: 30 * 24 * 3600,
        // A token every 4 s: the six claims of the rate-limit test fit in that on a busy machine.
        claimRate: { burst: 5, perSecond: 0.25 },
      });
      http = new Http(server.url);
      alice = await http.register('alice', 'pw', 'ALICE');
      bob = await http.register('bob', 'pw', 'BOB');
    });
    after(async () => server.close());

    it('accepts valid KeyPackages and reports the stock in upload and sync', async () => {
      const user = await http.register(`stock${++n}`, 'pw', 'DEV');
      const { oneTime, fallback, body } = keyPackageUpload(user.userId, 'DEV', 5);
      const r = await http.post('/keys/upload', body, user.token);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body.one_time_key_counts, { [fallback.algorithm]: 5 });
      assert.equal(
        fallback.algorithm,
        'm.dmls.v1.key_package.dhkemx25519-aes128gcm-sha256-ed25519',
      );
      const sync = await http.sync(user.token);
      assert.deepEqual(sync.body.device_one_time_keys_count, { [fallback.algorithm]: 5 });
      assert.deepEqual(sync.body.device_unused_fallback_key_types, [fallback.algorithm]);
      // The exact same upload again is a retry, not a duplicate.
      const retry = await http.post('/keys/upload', body, user.token);
      assert.equal(retry.status, 200);
      assert.deepEqual(retry.body.one_time_key_counts, { [fallback.algorithm]: 5 });
      assert.equal(oneTime.length, 5);
    });

    describe('refuses KeyPackages that break a rule, storing nothing', () => {
      const cases: [string, Partial<KeyPackageOptions>, string, boolean?][] = [
        ['a bad KeyPackage signature', { badKeyPackageSignature: true }, 'signature'],
        ['a bad leaf node signature', { badLeafSignature: true }, 'signature'],
        ['a leaf node that is not from a KeyPackage', { leafSource: 'update' }, 'leaf_node'],
        [
          'a credential for another user',
          { identity: '@bob:localhost|ALICE' },
          'credential_identity',
        ],
        [
          'a credential for another device',
          { identity: '@alice:localhost|OTHER' },
          'credential_identity',
        ],
        [
          'a credential without the separator',
          { identity: '@alice:localhost' },
          'credential_identity',
        ],
        ['a suite other than the algorithm names', { suite: 3 }, 'cipher_suite'],
        ['an expired lifetime', { notBefore: 1000n, notAfter: 2000n }, 'lifetime'],
        [
          'a lifetime that has not begun',
          {
            notBefore: BigInt(Math.floor(Date.now() / 1000) + 86400),
            notAfter: BigInt(Math.floor(Date.now() / 1000) + 2 * 86400),
          },
          'lifetime',
        ],
        [
          'a lifetime longer than allowed',
          { notAfter: BigInt(Math.floor(Date.now() / 1000) + 60 * 86400) },
          'lifetime_too_long',
        ],
        ['last_resort on a one-time KeyPackage', { lastResort: true }, 'last_resort_unexpected'],
        [
          'no last_resort on a fallback KeyPackage',
          { lastResort: false },
          'last_resort_missing',
          true,
        ],
        ['a key id that is not its KeyPackageRef', { wrongKeyId: true }, 'key_id'],
        ['init_key equal to encryption_key', { initKeyIsEncryptionKey: true }, 'invalid'],
      ];
      for (const [what, fault, check, asFallback] of cases) {
        it(`refuses ${what}`, async () => {
          const kp = makeKeyPackage({ userId: alice.userId, deviceId: 'ALICE', ...fault });
          // Under the suite-1 algorithm name even when the KeyPackage says otherwise.
          const name = fault.suite
            ? `m.dmls.v1.key_package.dhkemx25519-aes128gcm-sha256-ed25519:${kp.keyId}`
            : kp.name;
          const good = makeKeyPackage({ userId: alice.userId, deviceId: 'ALICE' });
          const body = asFallback
            ? { one_time_keys: { [good.name]: good.value }, fallback_keys: { [name]: kp.value } }
            : { one_time_keys: { [good.name]: good.value, [name]: kp.value } };
          const before = await storedCount();
          const r = await http.post('/keys/upload', body, alice.token);
          assert.deepEqual(
            [r.status, r.body.errcode, r.body['io.trellis.key_package_check']],
            [400, 'M_INVALID_PARAM', check],
            JSON.stringify(r.body),
          );
          assert.equal(
            await storedCount(),
            before,
            'the valid KeyPackage beside it was not stored either',
          );
        });
      }

      it('refuses malformed and non-KeyPackage values', async () => {
        const alg = 'm.dmls.v1.key_package.dhkemx25519-aes128gcm-sha256-ed25519';
        const welcomeish = Buffer.from([0, 1, 0, 3, 0, 0]).toString('base64').replace(/=+$/, '');
        for (const [value, check] of [
          ['not base64!', 'encoding'],
          ['AAAA====', 'encoding'],
          [{ key: 'abc', signatures: {} }, 'encoding'],
          ['AAEABQ', 'malformed'],
          [welcomeish, 'malformed'],
        ] as const) {
          const before = await storedCount();
          const r = await http.post(
            '/keys/upload',
            { one_time_keys: { [`${alg}:x`]: value } },
            alice.token,
          );
          assert.deepEqual(
            [r.status, r.body['io.trellis.key_package_check']],
            [400, check],
            JSON.stringify(r.body),
          );
          assert.equal(await storedCount(), before);
        }
        const unknownSuite = await http.post(
          '/keys/upload',
          { one_time_keys: { 'm.dmls.v1.key_package.nosuch:x': 'AAAA' } },
          alice.token,
        );
        assert.equal(
          unknownSuite.status,
          200,
          'an unknown algorithm is not a KeyPackage algorithm: stored as given',
        );
      });

      it('refuses a duplicate init_key, within an upload and across all stored KeyPackages', async () => {
        const first = makeKeyPackage({ userId: alice.userId, deviceId: 'ALICE' });
        const twin = makeKeyPackage({
          userId: alice.userId,
          deviceId: 'ALICE',
          initKey: first.initKey,
        });
        const together = await http.post(
          '/keys/upload',
          { one_time_keys: { [first.name]: first.value, [twin.name]: twin.value } },
          alice.token,
        );
        assert.deepEqual(
          [together.status, together.body['io.trellis.key_package_check']],
          [400, 'duplicate_init_key'],
        );
        assert.equal(
          (
            await http.post(
              '/keys/upload',
              { one_time_keys: { [first.name]: first.value } },
              alice.token,
            )
          ).status,
          200,
        );
        const later = await http.post(
          '/keys/upload',
          { one_time_keys: { [twin.name]: twin.value } },
          alice.token,
        );
        assert.deepEqual(
          [later.status, later.body['io.trellis.key_package_check']],
          [400, 'duplicate_init_key'],
        );
        // Another device (even another user) cannot reuse it either, nor as a fallback.
        const bobsTwin = makeKeyPackage({
          userId: bob.userId,
          deviceId: 'BOB',
          initKey: first.initKey,
          lastResort: true,
        });
        const cross = await http.post(
          '/keys/upload',
          { fallback_keys: { [bobsTwin.name]: bobsTwin.value } },
          bob.token,
        );
        assert.deepEqual(
          [cross.status, cross.body['io.trellis.key_package_check']],
          [400, 'duplicate_init_key'],
        );
        // Handed out is not forgotten: after a claim the init_key is still taken.
        const claimer = await http.register(`dup${++n}`);
        await http.post(
          '/keys/claim',
          { one_time_keys: { [alice.userId]: { ALICE: first.algorithm } } },
          claimer.token,
        );
        assert.equal(
          (
            await http.post(
              '/keys/upload',
              { one_time_keys: { [twin.name]: twin.value } },
              alice.token,
            )
          ).status,
          400,
        );
      });

      it('refuses device ids containing "|" at registration and login', async () => {
        const r = await http.post('/register', {
          username: `pipe${++n}`,
          password: 'pw',
          device_id: 'A|B',
          auth: { type: 'm.login.dummy' },
        });
        assert.deepEqual([r.status, r.body.errcode], [400, 'M_INVALID_PARAM']);
        const l = await http.post('/login', {
          type: 'm.login.password',
          identifier: { type: 'm.id.user', user: 'alice' },
          password: 'pw',
          device_id: 'X|',
        });
        assert.deepEqual([l.status, l.body.errcode], [400, 'M_INVALID_PARAM']);
      });
    });

    it('claims one-time KeyPackages oldest first, then the last-resort one, which sync reports used', async () => {
      const owner = await http.register(`own${++n}`, 'pw', 'OWN');
      const claimer = await http.register(`cl${n}`);
      const { oneTime, fallback, body } = keyPackageUpload(owner.userId, 'OWN', 2);
      await http.post('/keys/upload', body, owner.token);
      const claim = async () => {
        const r = await http.post(
          '/keys/claim',
          { one_time_keys: { [owner.userId]: { OWN: fallback.algorithm } } },
          claimer.token,
        );
        assert.equal(r.status, 200, JSON.stringify(r.body));
        return Object.entries(r.body.one_time_keys[owner.userId].OWN as Record<string, string>)[0]!;
      };
      const got = [await claim(), await claim(), await claim(), await claim()];
      assert.deepEqual(
        got
          .map(([name]) => name)
          .slice(0, 2)
          .sort(),
        oneTime.map((k) => k.name).sort(),
      );
      assert.deepEqual(got.slice(2), [
        [fallback.name, fallback.value],
        [fallback.name, fallback.value],
      ]);
      const sync = await http.sync(owner.token);
      assert.deepEqual(sync.body.device_one_time_keys_count, {});
      assert.deepEqual(sync.body.device_unused_fallback_key_types, []);
      // A new last-resort KeyPackage replaces the used one.
      const fresh = makeKeyPackage({ userId: owner.userId, deviceId: 'OWN', lastResort: true });
      assert.equal(
        (
          await http.post(
            '/keys/upload',
            { fallback_keys: { [fresh.name]: fresh.value } },
            owner.token,
          )
        ).status,
        200,
      );
      assert.deepEqual((await http.sync(owner.token)).body.device_unused_fallback_key_types, [
        fresh.algorithm,
      ]);
      assert.deepEqual(await claim(), [fresh.name, fresh.value]);
    });

    it('deletes expired KeyPackages and never hands them out', async () => {
      const owner = await http.register(`exp${++n}`, 'pw', 'EXP');
      const claimer = await http.register(`ex${n}`);
      const now = BigInt(Math.floor(Date.now() / 1000));
      const soon = makeKeyPackage({
        userId: owner.userId,
        deviceId: 'EXP',
        notBefore: now - 60n,
        notAfter: now + 2n,
      });
      const last = makeKeyPackage({
        userId: owner.userId,
        deviceId: 'EXP',
        notBefore: now - 60n,
        notAfter: now + 2n,
        lastResort: true,
      });
      await http.post(
        '/keys/upload',
        { one_time_keys: { [soon.name]: soon.value }, fallback_keys: { [last.name]: last.value } },
        owner.token,
      );
      assert.deepEqual((await http.sync(owner.token)).body.device_one_time_keys_count, {
        [soon.algorithm]: 1,
      });
      await new Promise((r) => setTimeout(r, 3100));
      // Past not_after: not counted, not claimable, and the sweep removes them.
      assert.deepEqual((await http.sync(owner.token)).body.device_one_time_keys_count, {});
      assert.deepEqual((await http.sync(owner.token)).body.device_unused_fallback_key_types, []);
      const r = await http.post(
        '/keys/claim',
        { one_time_keys: { [owner.userId]: { EXP: soon.algorithm } } },
        claimer.token,
      );
      assert.deepEqual(r.body.one_time_keys, {});
      assert.ok((await sweepExpiredKeyPackages(server.store, Date.now())) >= 2);
      const left = await server.store.db
        .selectFrom('one_time_keys')
        .select('key_id')
        .where('user_id', '=', owner.userId)
        .execute();
      assert.deepEqual(left, []);
    });

    it('rate-limits claims per claimer with 429 M_LIMIT_EXCEEDED and retry_after_ms', async () => {
      const owner = await http.register(`rl${++n}`, 'pw', 'RL');
      const { fallback, body } = keyPackageUpload(owner.userId, 'RL', 10);
      await http.post('/keys/upload', body, owner.token);
      const greedy = await http.register(`greedy${n}`);
      const patient = await http.register(`patient${n}`);
      const claim = (who: Session) =>
        http.post(
          '/keys/claim',
          { one_time_keys: { [owner.userId]: { RL: fallback.algorithm } } },
          who.token,
        );
      for (let i = 0; i < 5; i++) assert.equal((await claim(greedy)).status, 200);
      const limited = await claim(greedy);
      assert.deepEqual([limited.status, limited.body.errcode], [429, 'M_LIMIT_EXCEEDED']);
      assert.ok(limited.body.retry_after_ms > 0 && limited.body.retry_after_ms <= 4000);
      // Nothing was claimed by the refused request; other claimers are not affected.
      assert.deepEqual((await http.sync(owner.token)).body.device_one_time_keys_count, {
        [fallback.algorithm]: 5,
      });
      assert.equal((await claim(patient)).status, 200);
      await new Promise((r) => setTimeout(r, limited.body.retry_after_ms + 50));
      assert.equal((await claim(greedy)).status, 200);
    });
  });
}
