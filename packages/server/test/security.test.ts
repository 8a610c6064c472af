import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig, NO_AUTH_LIMITS, type AuthLimits } from '../src/config.js';
import { Http, enc } from './helpers/client.js';
import { keyPackageUpload, makeKeyPackage } from './helpers/keyPackages.js';
import { databaseArgs, spawnServer } from './helpers/process.js';
import { DB_KINDS, freshDatabase, startServer, type TestServer } from './helpers/server.js';

/**
 * The security items of issue 13, each named after its item, on SQLite and on PostgreSQL
 * (items 2 and 6 also across two server processes, or through the CLI's own start).
 */

const countRows = async (server: TestServer, table: 'one_time_keys' | 'events' | 'users') =>
  Number(
    (
      await server.store.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64').replace(/=+$/, '');

const limits = (overrides: Partial<AuthLimits>): AuthLimits => ({
  ...NO_AUTH_LIMITS,
  ...overrides,
});

for (const kind of DB_KINDS) {
  describe(`issue 13 security items on ${kind}`, () => {
    let server: TestServer;
    let http: Http;
    let n = 0;

    before(async () => {
      // 5,000 KeyPackages are about 2.5 MB of JSON.
      server = await startServer(kind, { maxBodyBytes: 8 * 1024 * 1024 });
      http = new Http(server.url);
    });
    after(async () => server.close());

    it('item 1: a claimed KeyPackage uploaded again is refused and never handed out twice', async () => {
      const owner = await http.register(`owner${++n}`, 'pw', 'OWNER');
      const claimer = await http.register(`claimer${++n}`);
      const { oneTime, fallback, body } = keyPackageUpload(owner.userId, 'OWNER', 1);
      const kp = oneTime[0]!;
      assert.equal((await http.post('/keys/upload', body, owner.token)).status, 200);
      const claim = () =>
        http.post(
          '/keys/claim',
          { one_time_keys: { [owner.userId]: { OWNER: kp.algorithm } } },
          claimer.token,
        );
      const first = await claim();
      assert.deepEqual(first.body.one_time_keys[owner.userId].OWNER, { [kp.name]: kp.value });

      const again = await http.post(
        '/keys/upload',
        { one_time_keys: { [kp.name]: kp.value } },
        owner.token,
      );
      assert.deepEqual(
        [again.status, again.body.errcode, again.body['io.trellis.key_package_check']],
        [400, 'M_INVALID_PARAM', 'duplicate_init_key'],
        JSON.stringify(again.body),
      );
      const counts = await http.post('/keys/upload', {}, owner.token);
      assert.deepEqual(counts.body.one_time_key_counts, {}, 'the count stays at 0');
      const second = await claim();
      assert.deepEqual(
        second.body.one_time_keys[owner.userId].OWNER,
        { [fallback.name]: fallback.value },
        'the next claim gets the last-resort KeyPackage, not the claimed one again',
      );
      // The same holds for a replaced fallback KeyPackage.
      const next = makeKeyPackage({ userId: owner.userId, deviceId: 'OWNER', lastResort: true });
      const replace = await http.post(
        '/keys/upload',
        { fallback_keys: { [next.name]: next.value } },
        owner.token,
      );
      assert.equal(replace.status, 200);
      const back = await http.post(
        '/keys/upload',
        { fallback_keys: { [fallback.name]: fallback.value } },
        owner.token,
      );
      assert.deepEqual(
        [back.status, back.body['io.trellis.key_package_check']],
        [400, 'duplicate_init_key'],
      );
    });

    it('item 3: U+0000 in a state_key, txnId, device_id or backup room id is a 400; bad text is M_NOT_JSON', async () => {
      const alice = await http.register(`nul${++n}`, 'pw', 'NULDEV');
      const roomId = await http.createRoom(alice.token);
      const events = await countRows(server, 'events');
      const stateKey = await http.put(
        `/rooms/${enc(roomId)}/state/m.room.topic/${enc('a\0b')}`,
        { topic: 'x' },
        alice.token,
      );
      assert.deepEqual(
        [stateKey.status, stateKey.body.errcode],
        [400, 'M_INVALID_PARAM'],
        JSON.stringify(stateKey.body),
      );
      const txn = await http.put(
        `/rooms/${enc(roomId)}/send/m.room.message/${enc('t\0x')}`,
        { msgtype: 'm.text', body: 'hi' },
        alice.token,
      );
      assert.deepEqual([txn.status, txn.body.errcode], [400, 'M_INVALID_PARAM']);
      const toDevice = await http.put(
        `/sendToDevice/m.x/${enc('t\0y')}`,
        { messages: {} },
        alice.token,
      );
      assert.deepEqual([toDevice.status, toDevice.body.errcode], [400, 'M_INVALID_PARAM']);
      assert.equal(await countRows(server, 'events'), events, 'no event stored');

      const users = await countRows(server, 'users');
      const device = await http.post('/register', {
        username: `nuldev${++n}`,
        password: 'pw',
        device_id: 'D\0EV',
        auth: { type: 'm.login.dummy' },
      });
      assert.deepEqual([device.status, device.body.errcode], [400, 'M_INVALID_PARAM']);
      const login = await http.post('/login', {
        type: 'm.login.password',
        identifier: { type: 'm.id.user', user: alice.userId },
        password: 'pw',
        device_id: 'X\0Y',
      });
      assert.deepEqual([login.status, login.body.errcode], [400, 'M_INVALID_PARAM']);
      assert.equal(await countRows(server, 'users'), users);

      const version = (
        await http.post(
          '/room_keys/version',
          { algorithm: 'm.dmls_backup.v1.aes-hmac-sha2', auth_data: { mac: 'x' } },
          alice.token,
        )
      ).body.version as string;
      const sessionKey = {
        first_message_index: 0,
        forwarded_count: 0,
        is_verified: true,
        session_data: { ciphertext: 'x' },
      };
      const inPath = await http.put(
        `/room_keys/keys/${enc('!r\0:localhost')}/${enc('s1')}`,
        sessionKey,
        alice.token,
        { version },
      );
      assert.deepEqual([inPath.status, inPath.body.errcode], [400, 'M_INVALID_PARAM']);
      const inBody = await http.put(
        '/room_keys/keys',
        { rooms: { '!r\0:localhost': { sessions: { s1: sessionKey } } } },
        alice.token,
        { version },
      );
      assert.deepEqual(
        [inBody.status, inBody.body.errcode],
        [400, 'M_INVALID_PARAM'],
        JSON.stringify(inBody.body),
      );
      const backup = await http.get('/room_keys/version', alice.token);
      assert.equal(backup.body.count, 0, 'no backup key stored');

      // Invalid UTF-8 and lone surrogates are not JSON text, rather than U+FFFD stored.
      const invalidUtf8 = Buffer.concat([
        Buffer.from('{"msgtype":"m.text","body":"'),
        Buffer.from([0xff, 0xfe]),
        Buffer.from('"}'),
      ]);
      const raw = await fetch(
        `${server.url}/_matrix/client/v3/rooms/${enc(roomId)}/send/m.room.message/utf8`,
        {
          method: 'PUT',
          headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
          body: invalidUtf8,
        },
      );
      assert.deepEqual(
        [raw.status, ((await raw.json()) as { errcode: string }).errcode],
        [400, 'M_NOT_JSON'],
      );
      for (const text of ['{"msgtype":"m.text","body":"\\ud800"}', '{"\\udc00":1}']) {
        const lone = await http.request(
          'PUT',
          `/rooms/${enc(roomId)}/send/m.room.message/s${++n}`,
          { raw: text, token: alice.token },
        );
        assert.deepEqual([lone.status, lone.body.errcode], [400, 'M_NOT_JSON'], text);
      }
      // A well-formed pair is fine.
      const pair = await http.request('PUT', `/rooms/${enc(roomId)}/send/m.room.message/p${++n}`, {
        raw: '{"msgtype":"m.text","body":"\\ud83d\\ude00"}',
        token: alice.token,
      });
      assert.equal(pair.status, 200, JSON.stringify(pair.body));
      assert.equal(await countRows(server, 'events'), events + 1);
    });

    it('item 4: uploading 5,000 one-time keys takes a bounded number of statements', async () => {
      const owner = await http.register(`bulk${++n}`, 'pw', 'BULK');
      const { body } = keyPackageUpload(owner.userId, 'BULK', 4999);
      const before = server.store.statementCount;
      const r = await http.post('/keys/upload', body, owner.token);
      const statements = server.store.statementCount - before;
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(Object.values(r.body.one_time_key_counts)[0], 4999);
      // One lookup, one init_key insert and one key insert per 500 keys, plus a handful: the
      // work is batched, not one round trip (or three) per key.
      assert.ok(statements <= 50, `${statements} statements for a 5,000-key upload`);
      // And the same upload again (a retry) is as cheap.
      const retryFrom = server.store.statementCount;
      assert.equal((await http.post('/keys/upload', body, owner.token)).status, 200);
      const retry = server.store.statementCount - retryFrom;
      assert.ok(retry <= 30, `${retry} statements for a retried upload`);
    });

    it('item 5: a claim naming more devices than the limit is a 400 that states the limit', async () => {
      const claimer = await http.register(`big${++n}`);
      const devices = Object.fromEntries(
        Array.from({ length: 201 }, (_, i) => [`DEV${i}`, 'm.dmls.v1.key_package.x']),
      );
      const r = await http.post(
        '/keys/claim',
        { one_time_keys: { '@someone:localhost': devices } },
        claimer.token,
      );
      assert.deepEqual(
        [r.status, r.body.errcode],
        [400, 'M_INVALID_PARAM'],
        JSON.stringify(r.body),
      );
      assert.match(r.body.error, /at most 200\b/);
      assert.equal(r.body['io.trellis.max_keys_per_claim'], 200);
      // 200 is within the limit.
      delete devices.DEV200;
      const ok = await http.post(
        '/keys/claim',
        { one_time_keys: { '@someone:localhost': devices } },
        claimer.token,
      );
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
    });

    it('item 15: a bare KeyPackage is accepted and handed out as an MLSMessage', async () => {
      const owner = await http.register(`bare${++n}`, 'pw', 'BARE');
      const claimer = await http.register(`bareclaimer${++n}`);
      const kp = makeKeyPackage({ userId: owner.userId, deviceId: 'BARE' });
      const bare = b64(Buffer.from(kp.value, 'base64').subarray(4));
      const up = await http.post(
        '/keys/upload',
        { one_time_keys: { [kp.name]: bare } },
        owner.token,
      );
      assert.equal(up.status, 200, JSON.stringify(up.body));
      // Retrying in the other form is the same key, not another.
      const retry = await http.post(
        '/keys/upload',
        { one_time_keys: { [kp.name]: kp.value } },
        owner.token,
      );
      assert.equal(retry.status, 200, JSON.stringify(retry.body));
      assert.deepEqual(retry.body.one_time_key_counts, { [kp.algorithm]: 1 });
      const claim = await http.post(
        '/keys/claim',
        { one_time_keys: { [owner.userId]: { BARE: kp.algorithm } } },
        claimer.token,
      );
      assert.deepEqual(claim.body.one_time_keys[owner.userId].BARE, { [kp.name]: kp.value });

      // The rules hold for the bare form too, with their documented checks.
      const long = makeKeyPackage({
        userId: owner.userId,
        deviceId: 'BARE',
        notAfter: BigInt(Math.floor(Date.now() / 1000)) + 91n * 24n * 3600n,
      });
      const wrongId = makeKeyPackage({ userId: owner.userId, deviceId: 'BARE', wrongKeyId: true });
      for (const [k, check] of [
        [long, 'lifetime_too_long'],
        [wrongId, 'key_id'],
      ] as const) {
        const r = await http.post(
          '/keys/upload',
          { one_time_keys: { [k.name]: b64(Buffer.from(k.value, 'base64').subarray(4)) } },
          owner.token,
        );
        assert.deepEqual(
          [r.status, r.body.errcode, r.body['io.trellis.key_package_check']],
          [400, 'M_INVALID_PARAM', check],
          JSON.stringify(r.body),
        );
      }
    });
  });

  describe(`issue 13 item 2 (login and registration limits) on ${kind}`, () => {
    let server: TestServer;
    let http: Http;

    before(async () => {
      server = await startServer(kind, {
        authLimits: limits({
          loginFailuresPerAccount: { burst: 3, perSecond: 1 / 60 },
          loginPerAddress: { burst: 12, perSecond: 1 / 60 },
          registerPerAddress: { burst: 6, perSecond: 1 / 60 },
        }),
      });
      http = new Http(server.url);
    });
    after(async () => server.close());

    const login = (user: string, password: string) =>
      http.post('/login', {
        type: 'm.login.password',
        identifier: { type: 'm.id.user', user },
        password,
      });

    it('item 2: failed logins per account end in 429 M_LIMIT_EXCEEDED with retry_after_ms', async () => {
      const alice = await http.register('alice', 'right');
      const statuses: number[] = [];
      let limited: { status: number; body: any } | undefined;
      for (let i = 0; i < 5; i++) {
        const r = await login(alice.userId, 'wrong');
        statuses.push(r.status);
        if (r.status === 429) limited ??= r;
      }
      assert.deepEqual(statuses, [403, 403, 403, 429, 429]);
      assert.equal(limited!.body.errcode, 'M_LIMIT_EXCEEDED');
      // One token a minute: the wait is most of a minute, never a token 1 ms.
      assert.ok(limited!.body.retry_after_ms > 50_000 && limited!.body.retry_after_ms <= 60_000);
      // The right password is refused too while the account is limited.
      assert.equal((await login(alice.userId, 'right')).status, 429);
      // An unknown account is limited the same way (no hint that it does not exist).
      const unknown: number[] = [];
      for (let i = 0; i < 4; i++) unknown.push((await login('@nobody:localhost', 'x')).status);
      assert.deepEqual(unknown, [403, 403, 403, 429]);
    });

    it('item 2: the address is limited across accounts, and registration too', async () => {
      // 12 attempts per address, 10 of them used above, on two accounts.
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await login(`@user${i}:localhost`, 'x')).status);
      assert.deepEqual(statuses, [403, 403, 429, 429]);
      const registrations: number[] = [];
      for (let i = 0; i < 7; i++) {
        const r = await http.post('/register', {
          username: `reg${i}`,
          password: 'pw',
          auth: { type: 'm.login.dummy' },
        });
        registrations.push(r.status);
      }
      // One registration above (alice) took one of the six.
      assert.deepEqual(registrations, [200, 200, 200, 200, 200, 429, 429]);
    });

    it('item 2: an unknown user costs the same password hashing as a wrong password', async () => {
      const { passwordWork } = await import('../src/passwords.js');
      const fresh = await startServer(kind);
      try {
        const h = new Http(fresh.url);
        const bob = await h.register('bob', 'right');
        const work = async (user: string, password: string) => {
          const before = passwordWork.derivations;
          const r = await h.post('/login', {
            type: 'm.login.password',
            identifier: { type: 'm.id.user', user },
            password,
          });
          return [r.status, passwordWork.derivations - before];
        };
        assert.deepEqual(await work(bob.userId, 'wrong'), [403, 1]);
        assert.deepEqual(await work('@nobody:localhost', 'wrong'), [403, 1]);
        assert.deepEqual(await work('nobody-either', 'wrong'), [403, 1]);
        assert.deepEqual(await work('@bob:elsewhere.example', 'wrong'), [403, 1]);
        assert.deepEqual(await work(bob.userId, 'right'), [200, 1]);
      } finally {
        await fresh.close();
      }
    });

    it('item 2: retry_after_ms is true: refused 1 ms before it, granted at it', async () => {
      const { takeShared } = await import('../src/sharedRateLimit.js');
      const rate = { burst: 2, perSecond: 0.3 };
      const t0 = 1_000_000;
      assert.deepEqual(await takeShared(server.store, 'test:a', rate, 1, t0), { ok: true });
      assert.deepEqual(await takeShared(server.store, 'test:a', rate, 1, t0), { ok: true });
      const refused = await takeShared(server.store, 'test:a', rate, 1, t0);
      assert.equal(refused.ok, false);
      const wait = (refused as { retryAfterMs: number }).retryAfterMs;
      assert.equal(wait, Math.ceil(1000 / 0.3));
      assert.equal((await takeShared(server.store, 'test:a', rate, 1, t0 + wait - 1)).ok, false);
      assert.deepEqual(await takeShared(server.store, 'test:a', rate, 1, t0 + wait), { ok: true });
    });
  });
}

describe('issue 13 item 2: limits shared by two server processes on one PostgreSQL', () => {
  it('item 2: failed logins spread over two processes share one account limit', async () => {
    const db = freshDatabase('postgres');
    if (db.database.kind !== 'postgres') throw new Error('unreachable');
    const args = [...databaseArgs(db.database), '--login-limit-account', '4:1'];
    const servers = [await spawnServer(args)];
    try {
      servers.push(await spawnServer(args));
      const [a, b] = servers.map((s) => new Http(s.url)) as [Http, Http];
      const carol = await a.register('carol', 'right');
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const r = await (i % 2 ? b : a).post('/login', {
          type: 'm.login.password',
          identifier: { type: 'm.id.user', user: carol.userId },
          password: 'wrong',
        });
        statuses.push(r.status);
        if (r.status === 429) assert.ok(r.body.retry_after_ms > 0);
      }
      assert.deepEqual(statuses, [403, 403, 403, 403, 429, 429]);
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
      await db.drop();
    }
  });
});

describe('issue 13 item 6: registration modes', () => {
  it('item 6: open by default only on loopback; token and closed on request', () => {
    const mode = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
      const config = loadConfig(argv, env);
      if (config === 'help') throw new Error('unexpected help');
      return config.registration;
    };
    assert.deepEqual(mode([]), { mode: 'open', tokens: [] });
    assert.deepEqual(mode(['--host', '::1']).mode, 'open');
    assert.deepEqual(mode(['--host', '0.0.0.0']).mode, 'closed');
    assert.deepEqual(mode(['--host', '192.0.2.1']).mode, 'closed');
    assert.deepEqual(mode(['--host', '0.0.0.0', '--registration-token', 'abc']), {
      mode: 'token',
      tokens: ['abc'],
    });
    assert.deepEqual(mode([], { TRELLIS_REGISTRATION_TOKENS: 'a,b' }), {
      mode: 'token',
      tokens: ['a', 'b'],
    });
    assert.equal(mode(['--host', '0.0.0.0', '--registration', 'open']).mode, 'open');
    assert.equal(mode(['--no-registration']).mode, 'closed');
    assert.equal(mode([], { TRELLIS_REGISTRATION: 'false' }).mode, 'closed');
    assert.throws(() => mode(['--registration', 'token']), /needs at least one/);
    assert.throws(() => mode(['--registration', 'maybe']), /open, token or closed/);
    assert.throws(() => mode(['--registration-token', 'has space']), /registration token/);
  });

  for (const kind of DB_KINDS) {
    it(`item 6: m.login.registration_token flow and validity on ${kind}`, async () => {
      const server = await startServer(kind, {
        registration: { mode: 'token', tokens: ['let-me-in'] },
      });
      try {
        const http = new Http(server.url);
        const first = await http.post('/register', { username: 'tok', password: 'pw' });
        assert.equal(first.status, 401);
        assert.deepEqual(first.body.flows, [{ stages: ['m.login.registration_token'] }]);
        const session = first.body.session as string;
        const dummy = await http.post('/register', {
          username: 'tok',
          password: 'pw',
          auth: { type: 'm.login.dummy', session },
        });
        assert.equal(dummy.status, 401, 'the dummy stage does not register without a token');
        const wrong = await http.post('/register', {
          username: 'tok',
          password: 'pw',
          auth: { type: 'm.login.registration_token', token: 'guess', session },
        });
        assert.deepEqual([wrong.status, wrong.body.errcode], [401, 'M_FORBIDDEN']);
        assert.deepEqual(wrong.body.flows, [{ stages: ['m.login.registration_token'] }]);
        const validity = (token: string) =>
          http.get('/_matrix/client/v1/register/m.login.registration_token/validity', undefined, {
            token,
          });
        assert.deepEqual((await validity('guess')).body, { valid: false });
        assert.deepEqual((await validity('let-me-in')).body, { valid: true });
        const right = await http.post('/register', {
          username: 'tok',
          password: 'pw',
          auth: { type: 'm.login.registration_token', token: 'let-me-in', session },
        });
        assert.equal(right.status, 200, JSON.stringify(right.body));
        assert.equal(right.body.user_id, '@tok:localhost');
        assert.equal(await countRows(server, 'users'), 1);
      } finally {
        await server.close();
      }

      const closed = await startServer(kind, { registration: { mode: 'closed', tokens: [] } });
      try {
        const http = new Http(closed.url);
        const r = await http.post('/register', {
          username: 'shut',
          password: 'pw',
          auth: { type: 'm.login.dummy' },
        });
        assert.deepEqual([r.status, r.body.errcode], [403, 'M_FORBIDDEN']);
        const v = await http.get(
          '/_matrix/client/v1/register/m.login.registration_token/validity',
          undefined,
          { token: 'x' },
        );
        assert.deepEqual([v.status, v.body.errcode], [403, 'M_FORBIDDEN']);
        assert.equal(await countRows(closed, 'users'), 0);
      } finally {
        await closed.close();
      }
    });
  }

  it('item 6: the server says at start which registration mode is in force', async () => {
    const db = freshDatabase('sqlite');
    if (db.database.kind !== 'sqlite') throw new Error('unreachable');
    for (const [args, said] of [
      [[], 'registration open'],
      [['--registration', 'closed'], 'registration closed'],
      [['--registration-token', 'abc'], 'registration by registration token (1 configured)'],
    ] as const) {
      const server = await spawnServer([...databaseArgs(db.database), ...args]);
      try {
        assert.ok(server.startMessage.includes(said), server.startMessage);
      } finally {
        await server.stop();
      }
    }
    await db.drop();
  });
});
