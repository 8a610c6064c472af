import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Http, enc, type Session } from './helpers/client.js';
import { DB_KINDS, startServer, type TestServer } from './helpers/server.js';

/**
 * Bad input and bad access: each answered with the spec's errcode and status, and nothing
 * stored (counted in the database after each refusal).
 */
for (const kind of DB_KINDS) {
  describe(`bad input and access on ${kind}`, () => {
    let server: TestServer;
    let http: Http;
    let alice: Session;
    let bob: Session;
    let roomId: string;

    const count = async (
      table:
        | 'events'
        | 'rooms'
        | 'to_device'
        | 'one_time_keys'
        | 'backup_keys'
        | 'backup_versions'
        | 'device_keys'
        | 'users',
    ) => {
      const row = await server.store.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    };
    /** Runs `request`, expects the error, and checks that no table grew. */
    const refused = async (
      request: () => Promise<{ status: number; body: { errcode?: string } }>,
      status: number,
      errcode: string,
    ) => {
      const tables = [
        'events',
        'rooms',
        'to_device',
        'one_time_keys',
        'backup_keys',
        'backup_versions',
        'device_keys',
        'users',
      ] as const;
      const before = await Promise.all(tables.map(count));
      const r = await request();
      assert.deepEqual([r.status, r.body.errcode], [status, errcode], JSON.stringify(r.body));
      assert.deepEqual(await Promise.all(tables.map(count)), before, 'nothing stored');
      return r;
    };

    before(async () => {
      server = await startServer(kind, { maxBodyBytes: 256 * 1024 });
      http = new Http(server.url);
      alice = await http.register('alice', 'alice-pw', 'ALICE1');
      bob = await http.register('bob', 'bob-pw', 'BOB1');
      roomId = await http.createRoom(alice.token, { preset: 'public_chat' });
      await http.post(`/rooms/${enc(roomId)}/join`, {}, bob.token);
    });
    after(async () => server.close());

    it('answers malformed JSON with M_NOT_JSON', async () => {
      const raw = (method: string, path: string, text: string, token?: string) => () =>
        http.request(method, path, { raw: text, ...(token ? { token } : {}) });
      await refused(raw('POST', '/register', '{"username": "x",'), 400, 'M_NOT_JSON');
      await refused(raw('POST', '/createRoom', 'not json', alice.token), 400, 'M_NOT_JSON');
      await refused(
        raw('PUT', `/rooms/${enc(roomId)}/send/m.room.message/nj1`, '{"body":', alice.token),
        400,
        'M_NOT_JSON',
      );
      await refused(raw('PUT', '/sendToDevice/m.x/nj2', '[1,2', alice.token), 400, 'M_NOT_JSON');
      await refused(raw('POST', '/keys/upload', '', alice.token), 400, 'M_NOT_JSON');
      await refused(raw('PUT', '/room_keys/keys', '{{}}', alice.token), 400, 'M_NOT_JSON');
      // Whatever the Content-Type claims, the body must be JSON.
      await refused(
        () =>
          http.request('POST', '/createRoom', {
            raw: '<xml/>',
            token: alice.token,
            headers: { 'content-type': 'text/xml' },
          }),
        400,
        'M_NOT_JSON',
      );
    });

    it('answers wrong types and missing fields with M_BAD_JSON', async () => {
      await refused(() => http.post('/createRoom', { name: 5 }, alice.token), 400, 'M_BAD_JSON');
      await refused(
        () =>
          http.post('/createRoom', { initial_state: [{ type: 'm.room.encryption' }] }, alice.token),
        400,
        'M_BAD_JSON',
      );
      await refused(
        () => http.post('/createRoom', { invite: ['not-a-user'] }, alice.token),
        400,
        'M_BAD_JSON',
      );
      await refused(
        () => http.put(`/rooms/${enc(roomId)}/send/m.room.message/bj1`, ['array'], alice.token),
        400,
        'M_BAD_JSON',
      );
      await refused(
        () =>
          http.put(
            '/sendToDevice/m.x/bj2',
            { messages: { [bob.userId]: { BOB1: 'text' } } },
            alice.token,
          ),
        400,
        'M_BAD_JSON',
      );
      await refused(() => http.put('/sendToDevice/m.x/bj3', {}, alice.token), 400, 'M_BAD_JSON');
      await refused(
        () =>
          http.post('/keys/upload', { one_time_keys: { 'signed_curve25519:A': 5 } }, alice.token),
        400,
        'M_BAD_JSON',
      );
      await refused(
        () => http.post('/keys/upload', { device_keys: { user_id: alice.userId } }, alice.token),
        400,
        'M_BAD_JSON',
      );
      await refused(
        () =>
          http.post('/keys/claim', { one_time_keys: { [bob.userId]: { BOB1: 7 } } }, alice.token),
        400,
        'M_BAD_JSON',
      );
      await refused(() => http.post('/keys/query', {}, alice.token), 400, 'M_BAD_JSON');
      await refused(
        () =>
          http.post('/register', {
            username: 'carol',
            password: 123,
            auth: { type: 'm.login.dummy' },
          }),
        400,
        'M_BAD_JSON',
      );
      await refused(
        () => http.post('/login', { identifier: { type: 'm.id.user', user: 'alice' } }),
        400,
        'M_BAD_JSON',
      );
      await refused(
        () => http.post(`/rooms/${enc(roomId)}/invite`, {}, alice.token),
        400,
        'M_BAD_JSON',
      );
      const version = (
        await http.post(
          '/room_keys/version',
          { algorithm: 'm.dmls_backup.v1.aes-hmac-sha2', auth_data: {} },
          alice.token,
        )
      ).body.version;
      const keyData = {
        first_message_index: '0',
        forwarded_count: 0,
        is_verified: false,
        session_data: {},
      };
      await refused(
        () =>
          http.put(`/room_keys/keys/${enc('!r:localhost')}/s`, keyData, alice.token, { version }),
        400,
        'M_BAD_JSON',
      );
      await refused(
        () =>
          http.put(
            '/room_keys/keys',
            {
              rooms: {
                '!r:localhost': {
                  sessions: { s: { ...keyData, first_message_index: 0, is_verified: 'yes' } },
                },
              },
            },
            alice.token,
            { version },
          ),
        400,
        'M_BAD_JSON',
      );
      await refused(
        () =>
          http.post(
            '/room_keys/version',
            { algorithm: 'm.dmls_backup.v1.aes-hmac-sha2' },
            alice.token,
          ),
        400,
        'M_BAD_JSON',
      );
    });

    it('answers bad query and path parameters with M_INVALID_PARAM or M_MISSING_PARAM', async () => {
      await refused(
        () => http.get('/sync', alice.token, { timeout: 'soon' }),
        400,
        'M_INVALID_PARAM',
      );
      await refused(
        () => http.get('/sync', alice.token, { since: 'garbage' }),
        400,
        'M_INVALID_PARAM',
      );
      await refused(
        () => http.get('/sync', alice.token, { filter: '{"room":' }),
        400,
        'M_INVALID_PARAM',
      );
      await refused(
        () => http.get(`/rooms/${enc(roomId)}/messages`, alice.token, { dir: 'sideways' }),
        400,
        'M_INVALID_PARAM',
      );
      await refused(
        () => http.get(`/rooms/${enc(roomId)}/messages`, alice.token),
        400,
        'M_MISSING_PARAM',
      );
      await refused(
        () => http.get(`/rooms/${enc(roomId)}/messages`, alice.token, { dir: 'b', from: 'bogus' }),
        400,
        'M_INVALID_PARAM',
      );
      await refused(() => http.get('/room_keys/keys', alice.token), 400, 'M_MISSING_PARAM');
      await refused(
        () => http.get('/keys/changes', alice.token, { from: 'x', to: 'y' }),
        400,
        'M_INVALID_PARAM',
      );
      await refused(
        () => http.put('/rooms/not-a-room/send/m.room.message/p1', {}, alice.token),
        400,
        'M_INVALID_PARAM',
      );
    });

    it('refuses oversized bodies and events with M_TOO_LARGE', async () => {
      const huge = { body: 'x'.repeat(300 * 1024) };
      await refused(
        () => http.put(`/rooms/${enc(roomId)}/send/m.room.message/big1`, huge, alice.token),
        413,
        'M_TOO_LARGE',
      );
      await refused(
        () =>
          http.post(
            '/keys/upload',
            { one_time_keys: { 'a:b': 'x'.repeat(300 * 1024) } },
            alice.token,
          ),
        413,
        'M_TOO_LARGE',
      );
      // Under the body limit but over the 64 KiB event limit.
      await refused(
        () =>
          http.put(
            `/rooms/${enc(roomId)}/send/m.room.message/big2`,
            { body: 'x'.repeat(70 * 1024) },
            alice.token,
          ),
        413,
        'M_TOO_LARGE',
      );
      await refused(
        () =>
          http.put(
            '/sendToDevice/m.x/big3',
            { messages: { [bob.userId]: { BOB1: { body: 'x'.repeat(70 * 1024) } } } },
            alice.token,
          ),
        413,
        'M_TOO_LARGE',
      );
    });

    it('answers missing and wrong access tokens on every authenticated endpoint', async () => {
      const r = enc(roomId);
      const endpoints: [string, string, unknown?][] = [
        ['GET', '/account/whoami'],
        ['POST', '/logout', {}],
        ['POST', '/logout/all', {}],
        ['GET', '/devices'],
        ['GET', '/devices/ALICE1'],
        ['PUT', '/devices/ALICE1', {}],
        ['DELETE', '/devices/ALICE1', {}],
        ['POST', '/delete_devices', { devices: [] }],
        ['POST', '/createRoom', {}],
        ['POST', `/rooms/${r}/invite`, { user_id: bob.userId }],
        ['POST', `/rooms/${r}/join`, {}],
        ['POST', `/join/${r}`, {}],
        ['POST', `/rooms/${r}/leave`, {}],
        ['POST', `/rooms/${r}/kick`, { user_id: bob.userId }],
        ['GET', `/rooms/${r}/state`],
        ['GET', `/rooms/${r}/state/m.room.create/`],
        ['PUT', `/rooms/${r}/state/m.room.topic/`, { topic: 'x' }],
        ['GET', `/rooms/${r}/members`],
        ['GET', `/rooms/${r}/joined_members`],
        ['GET', '/joined_rooms'],
        ['PUT', `/rooms/${r}/send/m.room.message/auth1`, { body: 'x' }],
        ['GET', `/rooms/${r}/event/${enc('$x')}`],
        ['GET', `/rooms/${r}/messages?dir=b`],
        ['GET', '/sync'],
        ['PUT', '/sendToDevice/m.x/auth2', { messages: {} }],
        ['POST', '/keys/upload', {}],
        ['POST', '/keys/query', { device_keys: {} }],
        ['POST', '/keys/claim', { one_time_keys: {} }],
        ['GET', '/keys/changes?from=s0_0&to=s0_0'],
        [
          'POST',
          '/room_keys/version',
          { algorithm: 'm.dmls_backup.v1.aes-hmac-sha2', auth_data: {} },
        ],
        ['GET', '/room_keys/version'],
        ['GET', '/room_keys/version/1'],
        [
          'PUT',
          '/room_keys/version/1',
          { algorithm: 'm.dmls_backup.v1.aes-hmac-sha2', auth_data: {} },
        ],
        ['DELETE', '/room_keys/version/1'],
        ['PUT', '/room_keys/keys?version=1', { rooms: {} }],
        ['GET', '/room_keys/keys?version=1'],
        ['DELETE', '/room_keys/keys?version=1'],
        ['PUT', `/room_keys/keys/${r}?version=1`, { sessions: {} }],
        ['GET', `/room_keys/keys/${r}?version=1`],
        ['DELETE', `/room_keys/keys/${r}?version=1`],
        [
          'PUT',
          `/room_keys/keys/${r}/s?version=1`,
          { first_message_index: 0, forwarded_count: 0, is_verified: false, session_data: {} },
        ],
        ['GET', `/room_keys/keys/${r}/s?version=1`],
        ['DELETE', `/room_keys/keys/${r}/s?version=1`],
        ['POST', `/user/${enc(alice.userId)}/filter`, {}],
        ['GET', '/capabilities'],
      ];
      for (const [method, path, body] of endpoints) {
        const options = body === undefined ? {} : { body };
        await refused(() => http.request(method, path, options), 401, 'M_MISSING_TOKEN');
        await refused(
          () => http.request(method, path, { ...options, token: 'trl_not-a-token' }),
          401,
          'M_UNKNOWN_TOKEN',
        );
        await refused(
          () => http.request(method, path, { ...options, headers: { authorization: 'Basic abc' } }),
          401,
          'M_MISSING_TOKEN',
        );
      }
      // The deprecated query parameter works too.
      assert.equal(
        (await http.get('/account/whoami', undefined, { access_token: alice.token })).body.user_id,
        alice.userId,
      );
    });

    it("keeps other users' devices out of reach", async () => {
      const challenge = {
        type: 'm.login.password',
        identifier: { type: 'm.id.user', user: 'alice' },
        password: 'alice-pw',
      };
      assert.deepEqual((await http.get('/devices/BOB1', alice.token)).body.errcode, 'M_NOT_FOUND');
      assert.deepEqual(
        (await http.put('/devices/BOB1', { display_name: 'mine now' }, alice.token)).body.errcode,
        'M_NOT_FOUND',
      );
      assert.equal(
        (await http.delete('/devices/BOB1', { auth: challenge }, alice.token)).status,
        200,
      );
      assert.equal(
        (await http.post('/delete_devices', { devices: ['BOB1'], auth: challenge }, alice.token))
          .status,
        200,
      );
      // Bob's device and token are untouched.
      assert.equal((await http.get('/account/whoami', bob.token)).body.device_id, 'BOB1');
      assert.equal((await http.get('/devices/BOB1', bob.token)).body.display_name, null);
      // Authenticating as Bob does not let Alice delete her own devices either.
      const asBob = {
        type: 'm.login.password',
        identifier: { type: 'm.id.user', user: 'bob' },
        password: 'bob-pw',
      };
      await refused(
        () => http.delete('/devices/ALICE1', { auth: asBob }, alice.token),
        403,
        'M_FORBIDDEN',
      );
      await refused(
        () => http.post(`/user/${enc(bob.userId)}/filter`, {}, alice.token),
        403,
        'M_FORBIDDEN',
      );
    });

    it("keeps other users' backups out of reach", async () => {
      const bobVersion = (
        await http.post(
          '/room_keys/version',
          { algorithm: 'm.dmls_backup.v1.aes-hmac-sha2', auth_data: { bob: true } },
          bob.token,
        )
      ).body.version;
      const data = {
        first_message_index: 0,
        forwarded_count: 0,
        is_verified: true,
        session_data: { c: 'bob' },
      };
      await http.put(`/room_keys/keys/${enc(roomId)}/s1`, data, bob.token, { version: bobVersion });
      const carol = await http.register('carol');
      const q = { version: bobVersion };
      await refused(
        () => http.get(`/room_keys/version/${bobVersion}`, carol.token),
        404,
        'M_NOT_FOUND',
      );
      await refused(() => http.get('/room_keys/version', carol.token), 404, 'M_NOT_FOUND');
      await refused(
        () =>
          http.put(
            `/room_keys/version/${bobVersion}`,
            { algorithm: 'm.dmls_backup.v1.aes-hmac-sha2', auth_data: {} },
            carol.token,
          ),
        404,
        'M_NOT_FOUND',
      );
      await refused(
        () => http.delete(`/room_keys/version/${bobVersion}`, undefined, carol.token),
        404,
        'M_NOT_FOUND',
      );
      await refused(() => http.get('/room_keys/keys', carol.token, q), 404, 'M_NOT_FOUND');
      await refused(
        () => http.get(`/room_keys/keys/${enc(roomId)}/s1`, carol.token, q),
        404,
        'M_NOT_FOUND',
      );
      await refused(
        () => http.delete('/room_keys/keys', undefined, carol.token, q),
        404,
        'M_NOT_FOUND',
      );
      await refused(
        () =>
          http.put(
            `/room_keys/keys/${enc(roomId)}/s1`,
            { ...data, session_data: { c: 'carol' } },
            carol.token,
            q,
          ),
        404,
        'M_NOT_FOUND',
      );
      // With a backup of her own, Carol is told her version, never Bob's keys.
      const carolVersion = (
        await http.post(
          '/room_keys/version',
          { algorithm: 'm.dmls_backup.v1.aes-hmac-sha2', auth_data: {} },
          carol.token,
        )
      ).body.version;
      const wrong = await refused(
        () => http.put(`/room_keys/keys/${enc(roomId)}/s1`, data, carol.token, q),
        403,
        'M_WRONG_ROOM_KEYS_VERSION',
      );
      assert.equal((wrong.body as { current_version?: string }).current_version, carolVersion);
      assert.deepEqual(
        (await http.get(`/room_keys/keys/${enc(roomId)}/s1`, bob.token, q)).body,
        data,
      );
    });

    it('answers unknown endpoints and methods with M_UNRECOGNIZED', async () => {
      const unknown = await http.get('/no/such/endpoint', alice.token);
      assert.deepEqual([unknown.status, unknown.body.errcode], [404, 'M_UNRECOGNIZED']);
      const method = await http.request('DELETE', '/createRoom', { token: alice.token });
      assert.deepEqual([method.status, method.body.errcode], [405, 'M_UNRECOGNIZED']);
    });

    it('answers a body nested too deeply with M_BAD_JSON (found by fuzzing)', async () => {
      // 20,000 levels in 40 kB used to overflow the stack of whatever handled the body: a 500.
      const deep = `${'['.repeat(20000)}${']'.repeat(20000)}`;
      const raw = (method: string, path: string, text: string) => () =>
        http.request(method, path, { raw: text, token: alice.token });
      await refused(
        raw(
          'PUT',
          `/rooms/${enc(roomId)}/send/m.room.message/deep1`,
          `{"body":"x","deep":${deep}}`,
        ),
        400,
        'M_BAD_JSON',
      );
      await refused(
        raw('POST', '/createRoom', `{"creation_content":{"deep":${deep}}}`),
        400,
        'M_BAD_JSON',
      );
      await refused(
        raw('PUT', '/sendToDevice/m.x/deep2', `{"messages":${deep}}`),
        400,
        'M_BAD_JSON',
      );
      // 128 levels are fine, and brackets inside strings do not count.
      const ok = await http.request('PUT', `/rooms/${enc(roomId)}/send/m.room.message/deep3`, {
        raw: `{"body":"${'[{'.repeat(500)}\\\"","deep":${'['.repeat(127)}${']'.repeat(127)}}`,
        token: alice.token,
      });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      // Deep nesting is refused before JSON.parse, which is slow on it (0.66 s for 2 MB).
      const nested = `{"a":${'['.repeat(120_000)}${']'.repeat(120_000)}}`;
      await refused(raw('POST', '/createRoom', nested), 400, 'M_BAD_JSON');
    });

    it('answers a URL with malformed percent-encoding with a Matrix error (found by fuzzing)', async () => {
      // Refused by the router before any hook; it used to answer with Fastify's own body.
      await refused(
        () =>
          http.put(`/room_keys/keys/${enc(roomId)}/members%%0FAAAA`, {}, alice.token, {
            version: '1',
          }),
        400,
        'M_UNRECOGNIZED',
      );
    });
  });
}
