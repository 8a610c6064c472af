import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Http, enc, type Session } from './helpers/client.js';
import { DB_KINDS, startServer, type TestServer } from './helpers/server.js';

/** Every endpoint of the API subset, over real HTTP, on SQLite and on PostgreSQL. */
for (const kind of DB_KINDS) {
  describe(`client-server API on ${kind}`, () => {
    let server: TestServer;
    let http: Http;
    let n = 0;
    const unique = (prefix: string) => `${prefix}${++n}`;

    before(async () => {
      server = await startServer(kind);
      http = new Http(server.url);
    });
    after(async () => server.close());

    it('answers versions and login flows', async () => {
      const versions = await http.get('/_matrix/client/versions');
      assert.equal(versions.status, 200);
      assert.ok(versions.body.versions.includes('v1.1'));
      const flows = await http.get('/login');
      assert.deepEqual(flows.body, { flows: [{ type: 'm.login.password' }] });
    });

    it('registers through the m.login.dummy flow', async () => {
      const name = unique('reg');
      const first = await http.post('/register', { username: name, password: 'pw' });
      assert.equal(first.status, 401);
      assert.deepEqual(first.body.flows, [{ stages: ['m.login.dummy'] }]);
      assert.equal(typeof first.body.session, 'string');

      const done = await http.post('/register', {
        username: name,
        password: 'pw',
        device_id: 'PHONE',
        initial_device_display_name: 'Phone',
        auth: { type: 'm.login.dummy', session: first.body.session },
      });
      assert.equal(done.status, 200);
      assert.equal(done.body.user_id, `@${name}:localhost`);
      assert.equal(done.body.device_id, 'PHONE');
      const who = await http.get('/account/whoami', done.body.access_token);
      assert.deepEqual(who.body, {
        user_id: `@${name}:localhost`,
        device_id: 'PHONE',
        is_guest: false,
      });

      const again = await http.post('/register', {
        username: name,
        password: 'pw',
        auth: { type: 'm.login.dummy' },
      });
      assert.deepEqual([again.status, again.body.errcode], [400, 'M_USER_IN_USE']);
      const bad = await http.post('/register', { username: 'Not Valid', password: 'pw' });
      assert.deepEqual([bad.status, bad.body.errcode], [400, 'M_INVALID_USERNAME']);
      const pipe = await http.post('/register', {
        username: unique('p'),
        password: 'pw',
        device_id: 'A|B',
        auth: { type: 'm.login.dummy' },
      });
      assert.deepEqual([pipe.status, pipe.body.errcode], [400, 'M_INVALID_PARAM']);
      const guest = await http.post('/register', { auth: { type: 'm.login.dummy' } }, undefined, {
        kind: 'guest',
      });
      assert.deepEqual([guest.status, guest.body.errcode], [403, 'M_FORBIDDEN']);
      const inhibited = await http.post('/register', {
        username: unique('inh'),
        password: 'pw',
        inhibit_login: true,
        auth: { type: 'm.login.dummy' },
      });
      assert.equal(inhibited.status, 200);
      assert.equal(inhibited.body.access_token, undefined);
      assert.deepEqual(
        (await http.get('/register/available', undefined, { username: name })).body.errcode,
        'M_USER_IN_USE',
      );
      assert.deepEqual(
        (await http.get('/register/available', undefined, { username: unique('free') })).body,
        { available: true },
      );
    });

    it('logs in with m.login.password, reuses a named device and logs out', async () => {
      const name = unique('login');
      const reg = await http.register(name, 'secret', 'DESK');
      const wrong = await http.post('/login', {
        type: 'm.login.password',
        identifier: { type: 'm.id.user', user: name },
        password: 'nope',
      });
      assert.deepEqual([wrong.status, wrong.body.errcode], [403, 'M_FORBIDDEN']);
      const badType = await http.post('/login', { type: 'm.login.token', token: 'x' });
      assert.deepEqual([badType.status, badType.body.errcode], [400, 'M_UNKNOWN']);
      const pipe = await http.post('/login', {
        type: 'm.login.password',
        user: name,
        password: 'secret',
        device_id: 'X|Y',
      });
      assert.deepEqual([pipe.status, pipe.body.errcode], [400, 'M_INVALID_PARAM']);

      // Same device again by full user id: the old token stops working.
      const again = await http.login(`@${name}:localhost`, 'secret', 'DESK');
      assert.equal(again.deviceId, 'DESK');
      assert.equal((await http.get('/account/whoami', reg.token)).body.errcode, 'M_UNKNOWN_TOKEN');
      const other = await http.login(name, 'secret');
      assert.notEqual(other.deviceId, 'DESK');
      assert.equal((await http.get('/devices', other.token)).body.devices.length, 2);

      assert.equal((await http.post('/logout', {}, again.token)).status, 200);
      const gone = await http.get('/account/whoami', again.token);
      assert.deepEqual([gone.status, gone.body.errcode], [401, 'M_UNKNOWN_TOKEN']);
      assert.deepEqual(
        (await http.get('/devices', other.token)).body.devices.map(
          (d: { device_id: string }) => d.device_id,
        ),
        [other.deviceId],
      );

      const third = await http.login(name, 'secret');
      assert.equal((await http.post('/logout/all', {}, third.token)).status, 200);
      assert.equal((await http.get('/account/whoami', other.token)).status, 401);
      assert.equal((await http.get('/account/whoami', third.token)).status, 401);
    });

    it('lists, reads, renames and deletes devices behind a password stage', async () => {
      const name = unique('dev');
      const a = await http.register(name, 'pw', 'AAA');
      const b = await http.login(name, 'pw', 'BBB');
      const list = await http.get('/devices', a.token);
      assert.deepEqual(list.body.devices.map((d: { device_id: string }) => d.device_id).sort(), [
        'AAA',
        'BBB',
      ]);
      assert.equal(
        (await http.put('/devices/BBB', { display_name: 'Laptop' }, a.token)).status,
        200,
      );
      const one = await http.get('/devices/BBB', a.token);
      assert.equal(one.body.display_name, 'Laptop');
      assert.equal(one.body.device_id, 'BBB');
      assert.equal((await http.get('/devices/NOPE', a.token)).status, 404);
      assert.equal((await http.put('/devices/NOPE', { display_name: 'x' }, a.token)).status, 404);

      const challenge = await http.delete('/devices/BBB', {}, a.token);
      assert.equal(challenge.status, 401);
      assert.deepEqual(challenge.body.flows, [{ stages: ['m.login.password'] }]);
      const wrong = await http.delete(
        '/devices/BBB',
        {
          auth: {
            type: 'm.login.password',
            identifier: { type: 'm.id.user', user: name },
            password: 'bad',
            session: challenge.body.session,
          },
        },
        a.token,
      );
      assert.equal(wrong.status, 403);
      const ok = await http.delete(
        '/devices/BBB',
        {
          auth: {
            type: 'm.login.password',
            identifier: { type: 'm.id.user', user: name },
            password: 'pw',
            session: challenge.body.session,
          },
        },
        a.token,
      );
      assert.equal(ok.status, 200);
      assert.equal((await http.get('/account/whoami', b.token)).status, 401);
      assert.equal((await http.get('/devices/BBB', a.token)).status, 404);

      const c = await http.login(name, 'pw', 'CCC');
      const bulk = await http.post(
        '/delete_devices',
        { devices: ['CCC'], auth: { type: 'm.login.password', user: name, password: 'pw' } },
        a.token,
      );
      assert.equal(bulk.status, 200);
      assert.equal((await http.get('/account/whoami', c.token)).status, 401);
    });

    describe('rooms', () => {
      let alice: Session;
      let bob: Session;
      let carol: Session;
      before(async () => {
        alice = await http.register(unique('alice'));
        bob = await http.register(unique('bob'));
        carol = await http.register(unique('carol'));
      });

      it('creates a room with initial_state, name and invites, and serves its state', async () => {
        const encryption = { algorithm: 'm.dmls.v1.dhkemx25519-aes128gcm-sha256-ed25519' };
        const roomId = await http.createRoom(alice.token, {
          name: 'Trellis',
          topic: 'MLS',
          invite: [bob.userId],
          initial_state: [{ type: 'm.room.encryption', state_key: '', content: encryption }],
        });
        assert.match(roomId, /^!.+:localhost$/);
        const state = await http.get(`/rooms/${enc(roomId)}/state`, alice.token);
        assert.equal(state.status, 200);
        const types = state.body.map((e: { type: string }) => e.type);
        for (const t of [
          'm.room.create',
          'm.room.member',
          'm.room.power_levels',
          'm.room.join_rules',
          'm.room.history_visibility',
          'm.room.encryption',
          'm.room.name',
          'm.room.topic',
        ]) {
          assert.ok(types.includes(t), t);
        }
        const create = state.body.find((e: { type: string }) => e.type === 'm.room.create');
        assert.equal(create.depth, 1);
        assert.deepEqual(create.prev_events, []);
        const content = await http.get(
          `/rooms/${enc(roomId)}/state/m.room.encryption/`,
          alice.token,
        );
        assert.deepEqual(content.body, encryption);
        const asEvent = await http.get(
          `/rooms/${enc(roomId)}/state/m.room.encryption`,
          alice.token,
          { format: 'event' },
        );
        assert.equal(asEvent.body.type, 'm.room.encryption');
        assert.equal(typeof asEvent.body.event_id, 'string');
        const missing = await http.get(`/rooms/${enc(roomId)}/state/m.room.avatar/`, alice.token);
        assert.deepEqual([missing.status, missing.body.errcode], [404, 'M_NOT_FOUND']);
        // Bob is only invited: he may not read the room yet.
        assert.equal((await http.get(`/rooms/${enc(roomId)}/state`, bob.token)).status, 403);
        const members = await http.get(`/rooms/${enc(roomId)}/members`, alice.token);
        assert.deepEqual(
          members.body.chunk.map((e: { state_key: string }) => e.state_key).sort(),
          [alice.userId, bob.userId].sort(),
        );
        const invited = await http.get(`/rooms/${enc(roomId)}/members`, alice.token, {
          membership: 'invite',
        });
        assert.deepEqual(
          invited.body.chunk.map((e: { state_key: string }) => e.state_key),
          [bob.userId],
        );
      });

      it('invites, joins, leaves and kicks with the membership rules', async () => {
        const roomId = await http.createRoom(alice.token, { preset: 'private_chat' });
        const path = `/rooms/${enc(roomId)}`;
        const uninvited = await http.post(`${path}/join`, {}, carol.token);
        assert.deepEqual([uninvited.status, uninvited.body.errcode], [403, 'M_FORBIDDEN']);
        assert.equal(
          (await http.post(`${path}/invite`, { user_id: bob.userId }, carol.token)).status,
          403,
        );
        assert.equal(
          (await http.post(`${path}/invite`, { user_id: bob.userId }, alice.token)).status,
          200,
        );
        assert.equal(
          (await http.post(`${path}/invite`, { user_id: bob.userId }, alice.token)).status,
          200,
        );
        const join = await http.post(`/join/${enc(roomId)}`, {}, bob.token);
        assert.deepEqual(join.body, { room_id: roomId });
        const joined = await http.get(`${path}/joined_members`, bob.token);
        assert.deepEqual(Object.keys(joined.body.joined).sort(), [alice.userId, bob.userId].sort());
        assert.equal((await http.get(`${path}/joined_members`, carol.token)).status, 403);
        assert.deepEqual(
          (await http.get('/joined_rooms', bob.token)).body.joined_rooms.includes(roomId),
          true,
        );

        // Bob (power 0) may not kick Alice (100); Alice may kick Bob.
        assert.equal(
          (await http.post(`${path}/kick`, { user_id: alice.userId }, bob.token)).status,
          403,
        );
        assert.equal(
          (await http.post(`${path}/kick`, { user_id: bob.userId, reason: 'bye' }, alice.token))
            .status,
          200,
        );
        const kicked = await http.get(
          `${path}/state/m.room.member/${enc(bob.userId)}`,
          alice.token,
        );
        assert.deepEqual(kicked.body, { membership: 'leave', reason: 'bye' });
        assert.equal(
          (await http.post(`${path}/kick`, { user_id: bob.userId }, alice.token)).status,
          403,
        );
        // Left members read the state as it was when they left; they cannot send.
        assert.equal((await http.get(`${path}/state`, bob.token)).status, 200);
        assert.equal(
          (await http.put(`${path}/send/m.room.message/t1`, { body: 'x' }, bob.token)).status,
          403,
        );

        assert.equal(
          (await http.post(`${path}/invite`, { user_id: carol.userId }, alice.token)).status,
          200,
        );
        assert.equal((await http.post(`${path}/join`, {}, carol.token)).status, 200);
        assert.equal((await http.post(`${path}/leave`, {}, carol.token)).status, 200);
        assert.equal((await http.post(`${path}/leave`, {}, carol.token)).status, 200);
        assert.equal((await http.get(`${path}/joined_members`, carol.token)).status, 403);
        const never = await http.post(
          `${path}/leave`,
          {},
          (await http.register(unique('never'))).token,
        );
        assert.equal(never.status, 403);
        assert.equal(
          (await http.post(`/rooms/${enc('!nope:localhost')}/join`, {}, carol.token)).status,
          404,
        );
      });

      it('joins public rooms and aliases, sets state within power levels, refuses unknown room versions', async () => {
        const alias = unique('lobby');
        const roomId = await http.createRoom(alice.token, {
          preset: 'public_chat',
          room_alias_name: alias,
        });
        const taken = await http.post('/createRoom', { room_alias_name: alias }, alice.token);
        assert.deepEqual([taken.status, taken.body.errcode], [400, 'M_ROOM_IN_USE']);
        const join = await http.post(`/join/${enc(`#${alias}:localhost`)}`, {}, carol.token);
        assert.deepEqual(join.body, { room_id: roomId });
        const path = `/rooms/${enc(roomId)}`;
        const topic = await http.put(
          `${path}/state/m.room.topic/`,
          { topic: 'hello' },
          alice.token,
        );
        assert.equal(topic.status, 200);
        assert.match(topic.body.event_id, /^\$/);
        assert.deepEqual((await http.get(`${path}/state/m.room.topic/`, carol.token)).body, {
          topic: 'hello',
        });
        const denied = await http.put(`${path}/state/m.room.name/`, { name: 'x' }, carol.token);
        assert.deepEqual([denied.status, denied.body.errcode], [403, 'M_FORBIDDEN']);
        const version = await http.post('/createRoom', { room_version: '999' }, alice.token);
        assert.deepEqual(
          [version.status, version.body.errcode],
          [400, 'M_UNSUPPORTED_ROOM_VERSION'],
        );
      });
    });

    describe('events', () => {
      let alice: Session;
      let bob: Session;
      let roomId: string;
      before(async () => {
        alice = await http.register(unique('ea'));
        bob = await http.register(unique('eb'));
        roomId = await http.createRoom(alice.token, { preset: 'public_chat' });
        await http.post(`/rooms/${enc(roomId)}/join`, {}, bob.token);
      });

      it('sends idempotently per device and txnId, and links events into a graph', async () => {
        const path = `/rooms/${enc(roomId)}/send/m.room.message`;
        const first = await http.put(
          `${path}/txn-1`,
          { msgtype: 'm.text', body: 'one' },
          alice.token,
        );
        const retry = await http.put(
          `${path}/txn-1`,
          { msgtype: 'm.text', body: 'one' },
          alice.token,
        );
        assert.equal(first.status, 200);
        assert.equal(retry.body.event_id, first.body.event_id);
        const otherDevice = await http.login(alice.userId.slice(1).split(':')[0]!);
        const third = await http.put(
          `${path}/txn-1`,
          { msgtype: 'm.text', body: 'two' },
          otherDevice.token,
        );
        assert.notEqual(third.body.event_id, first.body.event_id);

        const e1 = await http.get(
          `/rooms/${enc(roomId)}/event/${enc(first.body.event_id)}`,
          bob.token,
        );
        const e2 = await http.get(
          `/rooms/${enc(roomId)}/event/${enc(third.body.event_id)}`,
          bob.token,
        );
        assert.equal(e1.status, 200);
        assert.equal(e1.body.sender, alice.userId);
        assert.equal(e1.body.room_id, roomId);
        assert.equal(typeof e1.body.origin_server_ts, 'number');
        assert.deepEqual(e2.body.prev_events, [first.body.event_id]);
        assert.equal(e2.body.depth, e1.body.depth + 1);
        // The sending device sees its transaction id; others do not.
        const own = await http.get(
          `/rooms/${enc(roomId)}/event/${enc(first.body.event_id)}`,
          alice.token,
        );
        assert.equal(own.body.unsigned.transaction_id, 'txn-1');
        assert.equal(e1.body.unsigned.transaction_id, undefined);

        const missing = await http.get(`/rooms/${enc(roomId)}/event/${enc('$nothing')}`, bob.token);
        assert.deepEqual([missing.status, missing.body.errcode], [404, 'M_NOT_FOUND']);
        const outsider = await http.register(unique('out'));
        assert.equal(
          (
            await http.get(
              `/rooms/${enc(roomId)}/event/${enc(first.body.event_id)}`,
              outsider.token,
            )
          ).status,
          404,
        );
        assert.equal((await http.put(`${path}/x`, { body: 'x' }, outsider.token)).status, 403);
      });

      it('paginates messages backwards and forwards with tokens', async () => {
        const room = await http.createRoom(alice.token);
        const sent: string[] = [];
        for (let i = 0; i < 12; i++)
          sent.push(await http.send(alice.token, room, { msgtype: 'm.text', body: `m${i}` }));

        const backwards: string[] = [];
        let from: string | undefined;
        for (let page = 0; page < 20; page++) {
          const r: { status: number; body: any } = await http.get(
            `/rooms/${enc(room)}/messages`,
            alice.token,
            {
              dir: 'b',
              limit: 5,
              ...(from ? { from } : {}),
            },
          );
          assert.equal(r.status, 200);
          backwards.push(...r.body.chunk.map((e: { event_id: string }) => e.event_id));
          if (!r.body.end) break;
          from = r.body.end;
        }
        // Everything, newest first, ending with the room's creation.
        assert.deepEqual(backwards.slice(0, 12), [...sent].reverse());
        assert.equal(backwards.length, 12 + 6);

        const forwards: string[] = [];
        from = undefined;
        for (let page = 0; page < 20; page++) {
          const r: { status: number; body: any } = await http.get(
            `/rooms/${enc(room)}/messages`,
            alice.token,
            {
              dir: 'f',
              limit: 4,
              ...(from ? { from } : {}),
            },
          );
          forwards.push(...r.body.chunk.map((e: { event_id: string }) => e.event_id));
          if (!r.body.end) break;
          from = r.body.end;
        }
        assert.deepEqual(forwards, [...backwards].reverse());

        // `to` stops the walk; a sync token works as `from`.
        const sync = await http.sync(alice.token);
        const upTo = await http.get(`/rooms/${enc(room)}/messages`, alice.token, {
          dir: 'b',
          from: sync.body.next_batch,
          limit: 3,
        });
        assert.deepEqual(
          upTo.body.chunk.map((e: { event_id: string }) => e.event_id),
          sent.slice(-3).reverse(),
        );
        const bounded = await http.get(`/rooms/${enc(room)}/messages`, alice.token, {
          dir: 'b',
          to: upTo.body.end,
          limit: 50,
        });
        assert.equal(bounded.body.chunk.length, 3);
        assert.equal(bounded.body.end, undefined);
        const filtered = await http.get(`/rooms/${enc(room)}/messages`, alice.token, {
          dir: 'b',
          limit: 50,
          filter: JSON.stringify({ types: ['m.room.create'] }),
        });
        assert.deepEqual(
          filtered.body.chunk.map((e: { type: string }) => e.type),
          ['m.room.create'],
        );
        assert.equal(
          (await http.get(`/rooms/${enc(room)}/messages`, bob.token, { dir: 'b' })).status,
          403,
        );
      });
    });

    describe('sync', () => {
      it('returns the initial snapshot, then long-polls for increments', async () => {
        const alice = await http.register(unique('sa'));
        const bob = await http.register(unique('sb'));
        const roomId = await http.createRoom(alice.token, {
          invite: [bob.userId],
          name: 'sync room',
          initial_state: [
            {
              type: 'm.room.encryption',
              content: { algorithm: 'm.dmls.v1.dhkemx25519-aes128gcm-sha256-ed25519' },
            },
          ],
        });
        const bobInitial = await http.sync(bob.token);
        const invite = bobInitial.body.rooms.invite[roomId];
        assert.ok(invite, 'invite appears');
        const inviteTypes = invite.invite_state.events.map((e: { type: string }) => e.type);
        assert.ok(inviteTypes.includes('m.room.encryption'));
        assert.ok(inviteTypes.includes('m.room.member'));
        assert.deepEqual(bobInitial.body.device_unused_fallback_key_types, []);
        assert.deepEqual(bobInitial.body.device_one_time_keys_count, {});
        await http.post(`/rooms/${enc(roomId)}/join`, {}, bob.token);

        const initial = await http.sync(alice.token);
        assert.equal(initial.status, 200);
        const room = initial.body.rooms.join[roomId];
        assert.ok(room.timeline.events.length > 0);
        assert.equal(
          initial.body.device_lists,
          undefined,
          'device_lists only on incremental syncs',
        );

        // A waiting sync wakes when Bob sends: long before its timeout, which is far from any
        // delay a busy machine adds.
        const started = Date.now();
        const waiting = http.sync(alice.token, { since: initial.body.next_batch, timeout: 60_000 });
        await new Promise((r) => setTimeout(r, 200));
        const eventId = await http.send(bob.token, roomId, { msgtype: 'm.text', body: 'wake up' });
        const woke = await waiting;
        assert.ok(Date.now() - started < 30_000, 'woke before the timeout');
        assert.deepEqual(
          woke.body.rooms.join[roomId].timeline.events.map((e: { event_id: string }) => e.event_id),
          [eventId],
        );
        assert.equal(woke.body.rooms.join[roomId].timeline.events[0].room_id, undefined);
        assert.deepEqual(woke.body.rooms.join[roomId].state.events, []);

        // Nothing new: the timeout passes and the token stays.
        const t0 = Date.now();
        const quiet = await http.sync(alice.token, { since: woke.body.next_batch, timeout: 300 });
        assert.ok(Date.now() - t0 >= 250);
        assert.equal(quiet.body.next_batch, woke.body.next_batch);
        assert.deepEqual(quiet.body.rooms.join, {});

        // More than the timeline limit: limited, with the gap's state changes in `state`.
        await http.put(`/rooms/${enc(roomId)}/state/m.room.topic/`, { topic: 'gap' }, alice.token);
        for (let i = 0; i < 4; i++)
          await http.send(bob.token, roomId, { msgtype: 'm.text', body: `x${i}` });
        const limited = await http.sync(alice.token, {
          since: quiet.body.next_batch,
          filter: JSON.stringify({ room: { timeline: { limit: 2 } } }),
        });
        const lroom = limited.body.rooms.join[roomId];
        assert.equal(lroom.timeline.limited, true);
        assert.equal(lroom.timeline.events.length, 2);
        assert.deepEqual(
          lroom.state.events.map((e: { type: string }) => e.type),
          ['m.room.topic'],
        );
        const before = await http.get(`/rooms/${enc(roomId)}/messages`, alice.token, {
          dir: 'b',
          from: lroom.timeline.prev_batch,
          limit: 2,
        });
        assert.deepEqual(
          before.body.chunk.map((e: { content: { body?: string } }) => e.content.body),
          ['x1', 'x0'],
        );

        // A stored filter works by id.
        const filter = await http.post(
          `/user/${enc(alice.userId)}/filter`,
          { room: { timeline: { limit: 1 } } },
          alice.token,
        );
        assert.equal(
          (
            await http.get(
              `/user/${enc(alice.userId)}/filter/${filter.body.filter_id}`,
              alice.token,
            )
          ).body.room.timeline.limit,
          1,
        );
        const byId = await http.sync(alice.token, { filter: filter.body.filter_id });
        assert.equal(byId.body.rooms.join[roomId].timeline.events.length, 1);

        // Bob leaves: his room moves to `leave`; Alice sees him in device_lists.left.
        await http.post(`/rooms/${enc(roomId)}/leave`, {}, bob.token);
        const bobAfter = await http.sync(bob.token, { since: limited.body.next_batch });
        assert.ok(bobAfter.body.rooms.leave[roomId]);
        assert.equal(bobAfter.body.rooms.join[roomId], undefined);
        const aliceAfter = await http.sync(alice.token, { since: limited.body.next_batch });
        assert.deepEqual(aliceAfter.body.device_lists.left, [bob.userId]);
        const full = await http.sync(alice.token, {
          since: aliceAfter.body.next_batch,
          full_state: true,
        });
        assert.ok(full.body.rooms.join[roomId].state.events.length > 0);
      });

      it('reports device list changes of room-mates', async () => {
        const alice = await http.register(unique('dla'));
        const bob = await http.register(unique('dlb'));
        const roomId = await http.createRoom(alice.token, { preset: 'public_chat' });
        const start = await http.sync(alice.token);
        await http.post(`/rooms/${enc(roomId)}/join`, {}, bob.token);
        const joined = await http.sync(alice.token, { since: start.body.next_batch });
        assert.deepEqual(joined.body.device_lists.changed, [bob.userId]);
        const waiting = http.sync(alice.token, { since: joined.body.next_batch, timeout: 10_000 });
        await http.post('/keys/upload', { device_keys: deviceKeys(bob) }, bob.token);
        const changed = await waiting;
        assert.deepEqual(changed.body.device_lists.changed, [bob.userId]);
        const changes = await http.get('/keys/changes', alice.token, {
          from: start.body.next_batch,
          to: changed.body.next_batch,
        });
        assert.deepEqual(changes.body.changed, [bob.userId]);
        const none = await http.get('/keys/changes', alice.token, {
          from: changed.body.next_batch,
          to: changed.body.next_batch,
        });
        assert.deepEqual(none.body, { changed: [], left: [] });
      });
    });

    describe('to-device', () => {
      it('delivers once per device, in order, until acknowledged', async () => {
        const name = unique('td');
        const alice = await http.register(unique('tda'));
        const bob1 = await http.register(name, 'pw', 'B1');
        const bob2 = await http.login(name, 'pw', 'B2');
        const send = (txn: string, messages: unknown) =>
          http.put(`/sendToDevice/m.test/${txn}`, { messages }, alice.token);
        assert.equal((await send('1', { [bob1.userId]: { B1: { n: 1 } } })).status, 200);
        assert.equal((await send('2', { [bob1.userId]: { '*': { n: 2 } } })).status, 200);
        assert.equal((await send('2', { [bob1.userId]: { '*': { n: 2 } } })).status, 200); // retried txn
        assert.equal(
          (
            await send('3', {
              [bob1.userId]: { B2: { n: 3 }, NOPE: { n: 0 } },
              '@ghost:localhost': { X: {} },
            })
          ).status,
          200,
        );

        const first = await http.sync(bob1.token);
        assert.deepEqual(first.body.to_device.events, [
          { sender: alice.userId, type: 'm.test', content: { n: 1 } },
          { sender: alice.userId, type: 'm.test', content: { n: 2 } },
        ]);
        const b2 = await http.sync(bob2.token);
        assert.deepEqual(
          b2.body.to_device.events.map((e: { content: { n: number } }) => e.content.n),
          [2, 3],
        );
        // Not acknowledged yet: an initial sync gives them again.
        assert.equal((await http.sync(bob1.token)).body.to_device.events.length, 2);
        // The next token acknowledges: they are gone, and stay gone.
        const next = await http.sync(bob1.token, { since: first.body.next_batch });
        assert.deepEqual(next.body.to_device.events, []);
        assert.deepEqual((await http.sync(bob1.token)).body.to_device.events, []);

        // A waiting sync wakes for a to-device message; large queues come 100 at a time.
        const waiting = http.sync(bob1.token, { since: next.body.next_batch, timeout: 10_000 });
        await new Promise((r) => setTimeout(r, 100));
        await send('4', { [bob1.userId]: { B1: { n: 4 } } });
        assert.deepEqual(
          (await waiting).body.to_device.events.map((e: { content: { n: number } }) => e.content.n),
          [4],
        );
        for (let i = 0; i < 150; i++) await send(`bulk${i}`, { [bob2.userId]: { B2: { i } } });
        const page1 = await http.sync(bob2.token, { since: b2.body.next_batch });
        assert.equal(page1.body.to_device.events.length, 100);
        const page2 = await http.sync(bob2.token, { since: page1.body.next_batch });
        assert.deepEqual(
          [...page1.body.to_device.events, ...page2.body.to_device.events].map(
            (e: { content: { i: number } }) => e.content.i,
          ),
          Array.from({ length: 150 }, (_, i) => i),
        );
      });
    });

    describe('keys', () => {
      it('uploads, queries, claims one-time and fallback keys, and counts them', async () => {
        const alice = await http.register(unique('ka'));
        const bob = await http.register(unique('kb'));
        const upload = await http.post(
          '/keys/upload',
          {
            device_keys: deviceKeys(alice),
            one_time_keys: {
              'signed_curve25519:AAAA': {
                key: 'k1',
                signatures: { [alice.userId]: { 'ed25519:X': 's' } },
              },
              'signed_curve25519:AAAB': {
                key: 'k2',
                signatures: { [alice.userId]: { 'ed25519:X': 's' } },
              },
            },
            fallback_keys: {
              'signed_curve25519:FFFF': {
                key: 'kf',
                fallback: true,
                signatures: { [alice.userId]: { 'ed25519:X': 's' } },
              },
            },
          },
          alice.token,
        );
        assert.equal(upload.status, 200);
        assert.deepEqual(upload.body, { one_time_key_counts: { signed_curve25519: 2 } });
        await http.post('/keys/upload', { device_keys: deviceKeys(bob) }, bob.token);
        const sync = await http.sync(alice.token);
        assert.deepEqual(sync.body.device_one_time_keys_count, { signed_curve25519: 2 });
        assert.deepEqual(sync.body.device_unused_fallback_key_types, ['signed_curve25519']);

        const query = await http.post(
          '/keys/query',
          {
            device_keys: {
              [alice.userId]: [],
              [bob.userId]: [bob.deviceId],
              '@nobody:localhost': [],
            },
          },
          bob.token,
        );
        assert.equal(query.status, 200);
        assert.deepEqual(Object.keys(query.body.device_keys[alice.userId]), [alice.deviceId]);
        assert.equal(
          query.body.device_keys[alice.userId][alice.deviceId].keys[`ed25519:${alice.deviceId}`],
          'edkey',
        );
        assert.deepEqual(Object.keys(query.body.device_keys[bob.userId]), [bob.deviceId]);
        assert.deepEqual(query.body.device_keys['@nobody:localhost'], {});

        const claim = () =>
          http.post(
            '/keys/claim',
            { one_time_keys: { [alice.userId]: { [alice.deviceId]: 'signed_curve25519' } } },
            bob.token,
          );
        const claimed = [];
        for (let i = 0; i < 4; i++)
          claimed.push(
            Object.keys((await claim()).body.one_time_keys[alice.userId][alice.deviceId])[0],
          );
        assert.deepEqual(claimed, [
          'signed_curve25519:AAAA',
          'signed_curve25519:AAAB',
          'signed_curve25519:FFFF',
          'signed_curve25519:FFFF',
        ]);
        const after = await http.sync(alice.token);
        assert.deepEqual(after.body.device_one_time_keys_count, {});
        assert.deepEqual(after.body.device_unused_fallback_key_types, []);
        const none = await http.post(
          '/keys/claim',
          { one_time_keys: { [bob.userId]: { [bob.deviceId]: 'signed_curve25519' } } },
          alice.token,
        );
        assert.deepEqual(none.body, { one_time_keys: {}, failures: {} });

        // Same key id, other content: refused; same content: accepted as a retry.
        const clash = await http.post(
          '/keys/upload',
          { one_time_keys: { 'signed_curve25519:AAAC': 'x' } },
          alice.token,
        );
        assert.equal(clash.status, 200);
        const retry = await http.post(
          '/keys/upload',
          { one_time_keys: { 'signed_curve25519:AAAC': 'x' } },
          alice.token,
        );
        assert.deepEqual(retry.body, { one_time_key_counts: { signed_curve25519: 1 } });
        const other = await http.post(
          '/keys/upload',
          { one_time_keys: { 'signed_curve25519:AAAC': 'y' } },
          alice.token,
        );
        assert.deepEqual([other.status, other.body.errcode], [400, 'M_INVALID_PARAM']);
        const wrongDevice = await http.post(
          '/keys/upload',
          { device_keys: { ...deviceKeys(alice), device_id: 'OTHER' } },
          alice.token,
        );
        assert.deepEqual([wrongDevice.status, wrongDevice.body.errcode], [400, 'M_INVALID_PARAM']);
      });
    });

    describe('room_keys', () => {
      it('manages backup versions and keys at three levels with etag, count and the better-key rule', async () => {
        const alice = await http.register(unique('bk'));
        const t = alice.token;
        assert.deepEqual((await http.get('/room_keys/version', t)).body.errcode, 'M_NOT_FOUND');
        const unsupported = await http.post(
          '/room_keys/version',
          { algorithm: 'm.nope', auth_data: {} },
          t,
        );
        assert.deepEqual([unsupported.status, unsupported.body.errcode], [400, 'M_INVALID_PARAM']);
        const created = await http.post(
          '/room_keys/version',
          { algorithm: 'm.dmls_backup.v1.aes-hmac-sha2', auth_data: { check: 'a' } },
          t,
        );
        assert.equal(created.status, 200);
        const v = created.body.version as string;
        const info = await http.get('/room_keys/version', t);
        assert.deepEqual(info.body, {
          algorithm: 'm.dmls_backup.v1.aes-hmac-sha2',
          auth_data: { check: 'a' },
          count: 0,
          etag: '0',
          version: v,
        });
        assert.deepEqual((await http.get(`/room_keys/version/${v}`, t)).body, info.body);

        const key = (fmi: number, fwd: number, verified: boolean, tag: string) => ({
          first_message_index: fmi,
          forwarded_count: fwd,
          is_verified: verified,
          session_data: { ciphertext: tag },
        });
        const q = { version: v };
        const r1 = await http.put(
          '/room_keys/keys',
          {
            rooms: {
              '!a:localhost': {
                sessions: { s1: key(5, 1, false, 'first'), s2: key(0, 0, false, 'two') },
              },
            },
          },
          t,
          q,
        );
        assert.deepEqual(r1.body, { etag: '1', count: 2 });
        const r2 = await http.put(
          `/room_keys/keys/${enc('!b:localhost')}`,
          { sessions: { s3: key(0, 0, true, 'three') } },
          t,
          q,
        );
        assert.deepEqual(r2.body, { etag: '2', count: 3 });
        const session = `/room_keys/keys/${enc('!a:localhost')}/s1`;
        // Worse keys do not replace: unverified with a higher index, same index more forwarded.
        assert.deepEqual((await http.put(session, key(6, 0, false, 'worse'), t, q)).body, {
          etag: '2',
          count: 3,
        });
        assert.deepEqual((await http.put(session, key(5, 2, false, 'worse'), t, q)).body, {
          etag: '2',
          count: 3,
        });
        assert.deepEqual((await http.put(session, key(5, 1, false, 'tie'), t, q)).body, {
          etag: '2',
          count: 3,
        });
        assert.equal((await http.get(session, t, q)).body.session_data.ciphertext, 'first');
        // Better: lower forwarded_count, then lower index, then verified beats everything.
        await http.put(session, key(5, 0, false, 'less forwarded'), t, q);
        assert.equal(
          (await http.get(session, t, q)).body.session_data.ciphertext,
          'less forwarded',
        );
        await http.put(session, key(1, 9, false, 'lower index'), t, q);
        assert.equal((await http.get(session, t, q)).body.session_data.ciphertext, 'lower index');
        const verified = await http.put(session, key(9, 9, true, 'verified'), t, q);
        assert.deepEqual(verified.body, { etag: '5', count: 3 });
        assert.deepEqual((await http.get(session, t, q)).body, key(9, 9, true, 'verified'));
        assert.equal(
          (await http.put(session, key(0, 0, false, 'unverified'), t, q)).body.etag,
          '5',
        );

        const all = await http.get('/room_keys/keys', t, q);
        assert.deepEqual(Object.keys(all.body.rooms).sort(), ['!a:localhost', '!b:localhost']);
        assert.deepEqual(Object.keys(all.body.rooms['!a:localhost'].sessions).sort(), ['s1', 's2']);
        assert.deepEqual(
          Object.keys(
            (await http.get(`/room_keys/keys/${enc('!b:localhost')}`, t, q)).body.sessions,
          ),
          ['s3'],
        );
        assert.deepEqual((await http.get(`/room_keys/keys/${enc('!none:localhost')}`, t, q)).body, {
          sessions: {},
        });
        assert.deepEqual(
          (await http.get(`/room_keys/keys/${enc('!a:localhost')}/nope`, t, q)).body.errcode,
          'M_NOT_FOUND',
        );

        assert.deepEqual((await http.delete(session, undefined, t, q)).body, {
          etag: '6',
          count: 2,
        });
        assert.deepEqual(
          (await http.delete(`/room_keys/keys/${enc('!b:localhost')}`, undefined, t, q)).body,
          { etag: '7', count: 1 },
        );
        assert.deepEqual((await http.delete('/room_keys/keys', undefined, t, q)).body, {
          etag: '8',
          count: 0,
        });
        assert.deepEqual((await http.get('/room_keys/keys', t, q)).body, { rooms: {} });

        // Auth data can change, the algorithm cannot; the body's version must match the path.
        assert.equal(
          (
            await http.put(
              `/room_keys/version/${v}`,
              { algorithm: 'm.dmls_backup.v1.aes-hmac-sha2', auth_data: { check: 'b' } },
              t,
            )
          ).status,
          200,
        );
        assert.deepEqual((await http.get(`/room_keys/version/${v}`, t)).body.auth_data, {
          check: 'b',
        });
        const algo = await http.put(
          `/room_keys/version/${v}`,
          { algorithm: 'm.megolm_backup.v1.curve25519-aes-sha2', auth_data: {} },
          t,
        );
        assert.deepEqual([algo.status, algo.body.errcode], [400, 'M_INVALID_PARAM']);
        const mismatch = await http.put(
          `/room_keys/version/${v}`,
          { algorithm: 'm.dmls_backup.v1.aes-hmac-sha2', auth_data: {}, version: '999' },
          t,
        );
        assert.deepEqual([mismatch.status, mismatch.body.errcode], [400, 'M_INVALID_PARAM']);

        // A newer version takes over: writes to the old one are refused with the current version.
        const v2 = (
          await http.post(
            '/room_keys/version',
            { algorithm: 'm.megolm_backup.v1.curve25519-aes-sha2', auth_data: { public_key: 'x' } },
            t,
          )
        ).body.version;
        const stale = await http.put(session, key(0, 0, false, 'x'), t, q);
        assert.deepEqual(
          [stale.status, stale.body.errcode, stale.body.current_version],
          [403, 'M_WRONG_ROOM_KEYS_VERSION', v2],
        );
        assert.equal((await http.get(`/room_keys/version/${v}`, t)).status, 200);
        assert.equal((await http.delete(`/room_keys/version/${v2}`, undefined, t)).status, 200);
        assert.equal((await http.delete(`/room_keys/version/${v2}`, undefined, t)).status, 200);
        assert.equal((await http.get(`/room_keys/version/${v2}`, t)).status, 404);
        assert.equal((await http.get('/room_keys/version', t)).body.version, v);
        assert.equal((await http.get('/room_keys/keys', t, { version: v2 })).status, 404);
        assert.equal((await http.delete('/room_keys/version/12345', undefined, t)).status, 404);
      });
    });
  });
}

function deviceKeys(s: Session) {
  return {
    user_id: s.userId,
    device_id: s.deviceId,
    algorithms: ['m.dmls.v1.dhkemx25519-aes128gcm-sha256-ed25519'],
    keys: { [`ed25519:${s.deviceId}`]: 'edkey' },
    signatures: { [s.userId]: { [`ed25519:${s.deviceId}`]: 'sig' } },
  };
}
