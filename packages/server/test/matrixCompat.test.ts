import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Http, enc, type Session } from './helpers/client.js';
import { DB_KINDS, startServer, type TestServer } from './helpers/server.js';

/**
 * The Matrix-compatibility items of issue 13 (matrix-nio 0.20.1 as the yardstick): r0 paths,
 * the answers nio insists on, profiles, forget, context, own member updates, and `/messages`
 * with an empty `from`. Over real HTTP, on SQLite and on PostgreSQL.
 */
for (const kind of DB_KINDS) {
  describe(`Matrix compatibility (issue 13) on ${kind}`, () => {
    let server: TestServer;
    let http: Http;
    let n = 0;
    const unique = (prefix: string) => `${prefix}${++n}`;
    const R0 = '/_matrix/client/r0';

    before(async () => {
      server = await startServer(kind);
      http = new Http(server.url);
    });
    after(async () => server.close());

    const stateOf = async (token: string, roomId: string, type: string, key: string) =>
      http.get(`/rooms/${enc(roomId)}/state/${type}/${enc(key)}`, token);

    it('item 7: serves the client API under /_matrix/client/r0 as an alias of v3', async () => {
      const name = unique('rz');
      const registered = await http.post(`${R0}/register`, {
        username: name,
        password: 'pw',
        auth: { type: 'm.login.dummy' },
      });
      assert.equal(registered.status, 200, JSON.stringify(registered.body));
      const login = await http.post(`${R0}/login`, {
        type: 'm.login.password',
        identifier: { type: 'm.id.user', user: name },
        password: 'pw',
      });
      assert.equal(login.status, 200);
      const token = login.body.access_token as string;
      const who = await http.get(`${R0}/account/whoami`, token);
      assert.equal(who.body.user_id, `@${name}:localhost`);

      const created = await http.post(`${R0}/createRoom`, { name: 'r0 room' }, token);
      assert.equal(created.status, 200);
      const roomId = created.body.room_id as string;
      const sent = await http.put(
        `${R0}/rooms/${enc(roomId)}/send/m.room.message/t1`,
        { msgtype: 'm.text', body: 'over r0' },
        token,
      );
      assert.equal(sent.status, 200);
      // The same endpoint under both prefixes: a retried txnId is the same event on v3.
      const again = await http.put(
        `/rooms/${enc(roomId)}/send/m.room.message/t1`,
        { msgtype: 'm.text', body: 'over r0' },
        token,
      );
      assert.equal(again.body.event_id, sent.body.event_id);
      const synced = await http.get(`${R0}/sync`, token);
      const timeline = synced.body.rooms.join[roomId].timeline.events as { event_id: string }[];
      assert.ok(timeline.some((e) => e.event_id === sent.body.event_id));
      const messages = await http.get(`${R0}/rooms/${enc(roomId)}/messages`, token, { dir: 'b' });
      assert.equal(messages.body.chunk[0].event_id, sent.body.event_id);

      // Key backup was added in v1.1: it has no r0 path, so none is invented.
      const v3Backup = await http.get('/room_keys/version', token);
      assert.equal(v3Backup.status, 404);
      assert.equal(v3Backup.body.errcode, 'M_NOT_FOUND'); // no backup yet: the endpoint exists
      for (const path of ['/room_keys/version', '/room%5Fkeys/version']) {
        const r0Backup = await http.get(`${R0}${path}`, token);
        assert.deepEqual([r0Backup.status, r0Backup.body.errcode], [404, 'M_UNRECOGNIZED']);
      }
      const r0BackupPost = await http.post(`${R0}/room_keys/version`, {}, token);
      assert.deepEqual([r0BackupPost.status, r0BackupPost.body.errcode], [404, 'M_UNRECOGNIZED']);
      const wrongMethod = await http.request('DELETE', `${R0}/room_keys/version`, { token });
      assert.deepEqual([wrongMethod.status, wrongMethod.body.errcode], [404, 'M_UNRECOGNIZED']);

      // Unknown paths and methods behave as under v3.
      const unknown = await http.get(`${R0}/no/such/endpoint`, token);
      assert.deepEqual([unknown.status, unknown.body.errcode], [404, 'M_UNRECOGNIZED']);
      const method = await http.request('DELETE', `${R0}/createRoom`, { token });
      assert.deepEqual([method.status, method.body.errcode], [405, 'M_UNRECOGNIZED']);
      // Only the r0 prefix is an alias.
      const other = await http.get('/_matrix/client/r1/account/whoami', token);
      assert.equal(other.status, 404);
    });

    it('item 8: /devices and joined_members send last_seen_ip and display_name; member events and /profile carry display names and avatars', async () => {
      const aliceName = unique('alice');
      const alice = await http.register(aliceName, 'pw', 'ALICE1');
      // A second device that has made no request since it logged in.
      await http.login(aliceName, 'pw', 'ALICE2');
      const devices = await http.get('/devices', alice.token);
      assert.equal(devices.status, 200);
      const byId = new Map(
        (devices.body.devices as Record<string, unknown>[]).map((d) => [d.device_id, d]),
      );
      for (const d of byId.values()) {
        for (const field of ['display_name', 'last_seen_ip', 'last_seen_ts']) {
          assert.ok(field in d, `device ${String(d.device_id)} lacks ${field}`);
        }
      }
      assert.equal(byId.get('ALICE1')!.last_seen_ip, '127.0.0.1');
      assert.equal(typeof byId.get('ALICE1')!.last_seen_ts, 'number');
      assert.equal(byId.get('ALICE2')!.last_seen_ip, null);
      const one = await http.get('/devices/ALICE2', alice.token);
      assert.ok('last_seen_ip' in one.body && 'display_name' in one.body);

      // Every account starts with its localpart as display name.
      assert.deepEqual((await http.get(`/profile/${enc(alice.userId)}`)).body, {
        displayname: aliceName,
      });
      const roomId = await http.createRoom(alice.token, { preset: 'public_chat' });
      const members = await http.get(`/rooms/${enc(roomId)}/joined_members`, alice.token);
      assert.deepEqual(members.body.joined, { [alice.userId]: { display_name: aliceName } });

      // Setting the profile: readable without a token, propagated to the rooms joined.
      const setName = await http.put(
        `/profile/${enc(alice.userId)}/displayname`,
        { displayname: 'Alice A.' },
        alice.token,
      );
      assert.deepEqual([setName.status, setName.body], [200, {}]);
      const setAvatar = await http.put(
        `/profile/${enc(alice.userId)}/avatar_url`,
        { avatar_url: 'mxc://localhost/alice' },
        alice.token,
      );
      assert.equal(setAvatar.status, 200);
      assert.deepEqual((await http.get(`/profile/${enc(alice.userId)}`)).body, {
        displayname: 'Alice A.',
        avatar_url: 'mxc://localhost/alice',
      });
      assert.deepEqual((await http.get(`/profile/${enc(alice.userId)}/displayname`)).body, {
        displayname: 'Alice A.',
      });
      assert.deepEqual((await http.get(`/profile/${enc(alice.userId)}/avatar_url`)).body, {
        avatar_url: 'mxc://localhost/alice',
      });
      const member = await stateOf(alice.token, roomId, 'm.room.member', alice.userId);
      assert.deepEqual(member.body, {
        membership: 'join',
        displayname: 'Alice A.',
        avatar_url: 'mxc://localhost/alice',
      });

      // A new member joins with their profile; joined_members shows both.
      const bob = await http.register(unique('bob'));
      await http.put(`/profile/${enc(bob.userId)}/displayname`, { displayname: 'Bob' }, bob.token);
      assert.equal((await http.post(`/join/${enc(roomId)}`, {}, bob.token)).status, 200);
      const bobMember = await stateOf(bob.token, roomId, 'm.room.member', bob.userId);
      assert.deepEqual(bobMember.body, { membership: 'join', displayname: 'Bob' });
      const both = await http.get(`/rooms/${enc(roomId)}/joined_members`, bob.token);
      assert.deepEqual(both.body.joined, {
        [alice.userId]: { display_name: 'Alice A.', avatar_url: 'mxc://localhost/alice' },
        [bob.userId]: { display_name: 'Bob' },
      });
      // Invites carry the invitee's profile, whether made at creation or later.
      const carol = await http.register(unique('carol'));
      const invitedAtCreation = await http.createRoom(alice.token, { invite: [bob.userId] });
      assert.deepEqual(
        (await stateOf(alice.token, invitedAtCreation, 'm.room.member', bob.userId)).body,
        { membership: 'invite', displayname: 'Bob' },
      );
      await http.post(
        `/rooms/${enc(invitedAtCreation)}/invite`,
        { user_id: carol.userId },
        alice.token,
      );
      assert.deepEqual(
        (await stateOf(alice.token, invitedAtCreation, 'm.room.member', carol.userId)).body,
        { membership: 'invite', displayname: carol.userId.slice(1).split(':')[0] },
      );
      // Bob sees Alice's next profile change in his sync.
      const since = (await http.sync(bob.token)).body.next_batch as string;
      await http.put(
        `/profile/${enc(alice.userId)}/displayname`,
        { displayname: 'Alice B.' },
        alice.token,
      );
      const increment = await http.sync(bob.token, { since, timeout: 10_000 });
      const change = (
        increment.body.rooms.join[roomId].timeline.events as Record<string, any>[]
      ).find((e) => e.type === 'm.room.member' && e.state_key === alice.userId);
      assert.deepEqual(change?.content, {
        membership: 'join',
        displayname: 'Alice B.',
        avatar_url: 'mxc://localhost/alice',
      });
      // Removing the avatar (empty string).
      await http.put(`/profile/${enc(alice.userId)}/avatar_url`, { avatar_url: '' }, alice.token);
      const noAvatar = await http.get(`/profile/${enc(alice.userId)}/avatar_url`);
      assert.deepEqual([noAvatar.status, noAvatar.body.errcode], [404, 'M_NOT_FOUND']);
      assert.deepEqual((await http.get(`/profile/${enc(alice.userId)}`)).body, {
        displayname: 'Alice B.',
      });

      // Bad requests.
      const other = await http.put(
        `/profile/${enc(alice.userId)}/displayname`,
        { displayname: 'Mallory' },
        bob.token,
      );
      assert.deepEqual([other.status, other.body.errcode], [403, 'M_FORBIDDEN']);
      for (const body of [{}, { displayname: 5 }, { displayname: 'x'.repeat(257) }]) {
        const bad = await http.put(`/profile/${enc(bob.userId)}/displayname`, body, bob.token);
        assert.deepEqual([bad.status, bad.body.errcode], [400, 'M_BAD_JSON'], JSON.stringify(body));
      }
      const badAvatar = await http.put(
        `/profile/${enc(bob.userId)}/avatar_url`,
        { avatar_url: 'https://example.org/a.png' },
        bob.token,
      );
      assert.deepEqual([badAvatar.status, badAvatar.body.errcode], [400, 'M_BAD_JSON']);
      const noToken = await http.put(`/profile/${enc(bob.userId)}/displayname`, {
        displayname: 'x',
      });
      assert.deepEqual([noToken.status, noToken.body.errcode], [401, 'M_MISSING_TOKEN']);
      const nobody = await http.get(`/profile/${enc('@nobody:localhost')}`);
      assert.deepEqual([nobody.status, nobody.body.errcode], [404, 'M_NOT_FOUND']);
      const notUser = await http.get('/profile/nobody');
      assert.equal(notUser.status, 400);
      // Nothing of the refused changes stuck.
      assert.deepEqual((await http.get(`/profile/${enc(bob.userId)}`)).body, {
        displayname: 'Bob',
      });
    });

    describe('item 9: forget, context, and a member updating its own m.room.member event', () => {
      let alice: Session;
      let bob: Session;
      let roomId: string;
      const texts: string[] = [];
      const ids: string[] = [];

      before(async () => {
        alice = await http.register(unique('fa'));
        bob = await http.register(unique('fb'));
        roomId = await http.createRoom(alice.token, { preset: 'public_chat' });
        await http.post(`/rooms/${enc(roomId)}/join`, {}, bob.token);
        for (let i = 1; i <= 5; i++) {
          texts.push(`m${i}`);
          ids.push(await http.send(alice.token, roomId, { msgtype: 'm.text', body: `m${i}` }));
        }
      });

      it('item 9: GET /rooms/{roomId}/context/{eventId}', async () => {
        const r = await http.get(`/rooms/${enc(roomId)}/context/${enc(ids[2]!)}`, bob.token, {
          limit: 2,
        });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        const bodies = (events: Record<string, any>[]) => events.map((e) => e.content.body);
        assert.equal(r.body.event.event_id, ids[2]);
        assert.equal(r.body.event.room_id, roomId);
        assert.deepEqual(bodies(r.body.events_before), ['m2']);
        assert.deepEqual(bodies(r.body.events_after), ['m4']);
        const state = r.body.state as Record<string, any>[];
        assert.ok(state.some((e) => e.type === 'm.room.create'));
        assert.deepEqual(
          state
            .filter((e) => e.type === 'm.room.member')
            .map((e) => e.state_key)
            .sort(),
          [alice.userId, bob.userId].sort(),
        );
        // The tokens continue with /messages on either side.
        const earlier = await http.get(`/rooms/${enc(roomId)}/messages`, bob.token, {
          dir: 'b',
          from: r.body.start,
          limit: 1,
        });
        assert.deepEqual(bodies(earlier.body.chunk), ['m1']);
        const later = await http.get(`/rooms/${enc(roomId)}/messages`, bob.token, {
          dir: 'f',
          from: r.body.end,
        });
        assert.deepEqual(bodies(later.body.chunk), ['m5']);

        // The default limit (10) and a filter, which spares the event itself.
        const wide = await http.get(`/rooms/${enc(roomId)}/context/${enc(ids[2]!)}`, bob.token, {
          filter: JSON.stringify({ types: ['m.room.member'] }),
        });
        assert.equal(wide.body.event.event_id, ids[2]);
        assert.ok(
          (wide.body.events_before as Record<string, any>[]).every(
            (e) => e.type === 'm.room.member',
          ),
        );
        assert.deepEqual(wide.body.events_after, []);
        assert.ok(
          (wide.body.state as Record<string, any>[]).every((e) => e.type === 'm.room.member'),
        );
        const zero = await http.get(`/rooms/${enc(roomId)}/context/${enc(ids[0]!)}`, bob.token, {
          limit: 0,
        });
        assert.deepEqual([zero.body.events_before, zero.body.events_after], [[], []]);

        // Refusals: unknown event, event of another room, a user who cannot see it, bad input.
        const outsider = await http.register(unique('fo'));
        const otherRoom = await http.createRoom(outsider.token);
        const cases: [string, string, Record<string, string | number>, number, string][] = [
          [roomId, '$nope', {}, 404, 'M_NOT_FOUND'],
          [otherRoom, ids[2]!, {}, 404, 'M_NOT_FOUND'],
          [roomId, ids[2]!, { limit: -1 }, 400, 'M_INVALID_PARAM'],
          [roomId, ids[2]!, { limit: 'many' }, 400, 'M_INVALID_PARAM'],
          [roomId, ids[2]!, { filter: '{' }, 400, 'M_INVALID_PARAM'],
          [roomId, 'no-dollar', {}, 400, 'M_INVALID_PARAM'],
        ];
        for (const [room, event, query, status, errcode] of cases) {
          const bad = await http.get(
            `/rooms/${enc(room)}/context/${enc(event)}`,
            room === otherRoom ? outsider.token : bob.token,
            query,
          );
          assert.deepEqual([bad.status, bad.body.errcode], [status, errcode], event);
        }
        const stranger = await http.get(
          `/rooms/${enc(roomId)}/context/${enc(ids[2]!)}`,
          outsider.token,
        );
        assert.deepEqual([stranger.status, stranger.body.errcode], [404, 'M_NOT_FOUND']);
      });

      it('item 9: a member updates its own m.room.member event', async () => {
        const path = `/rooms/${enc(roomId)}/state/m.room.member/${enc(bob.userId)}`;
        const set = await http.put(
          path,
          { membership: 'join', displayname: 'Bob here', avatar_url: 'mxc://localhost/b' },
          bob.token,
        );
        assert.equal(set.status, 200, JSON.stringify(set.body));
        assert.match(set.body.event_id, /^\$/);
        assert.deepEqual((await stateOf(alice.token, roomId, 'm.room.member', bob.userId)).body, {
          membership: 'join',
          displayname: 'Bob here',
          avatar_url: 'mxc://localhost/b',
        });
        const members = await http.get(`/rooms/${enc(roomId)}/joined_members`, alice.token);
        assert.deepEqual(members.body.joined[bob.userId], {
          display_name: 'Bob here',
          avatar_url: 'mxc://localhost/b',
        });
        // The per-room name does not change the global profile.
        assert.equal(
          (await http.get(`/profile/${enc(bob.userId)}`)).body.displayname,
          bob.userId.slice(1).split(':')[0],
        );

        // Refused: someone else's event, membership changes through this API, bad fields.
        const refusals: [string, Session, Record<string, unknown>, number, string][] = [
          [alice.userId, bob, { membership: 'join', displayname: 'x' }, 403, 'M_FORBIDDEN'],
          [bob.userId, alice, { membership: 'join', displayname: 'x' }, 403, 'M_FORBIDDEN'],
          [bob.userId, bob, { membership: 'leave' }, 403, 'M_FORBIDDEN'],
          [bob.userId, bob, { membership: 'ban' }, 403, 'M_FORBIDDEN'],
          [bob.userId, bob, { displayname: 'no membership' }, 403, 'M_FORBIDDEN'],
          [bob.userId, bob, { membership: 'join', displayname: 7 }, 400, 'M_BAD_JSON'],
          [bob.userId, bob, { membership: 'join', avatar_url: {} }, 400, 'M_BAD_JSON'],
        ];
        for (const [target, who, body, status, errcode] of refusals) {
          const r = await http.put(
            `/rooms/${enc(roomId)}/state/m.room.member/${enc(target)}`,
            body,
            who.token,
          );
          assert.deepEqual([r.status, r.body.errcode], [status, errcode], JSON.stringify(body));
        }
        assert.equal(
          (await stateOf(alice.token, roomId, 'm.room.member', bob.userId)).body.displayname,
          'Bob here',
        );
        // Someone not in the room cannot set a member event for themselves.
        const outsider = await http.register(unique('fo'));
        const r = await http.put(
          `/rooms/${enc(roomId)}/state/m.room.member/${enc(outsider.userId)}`,
          { membership: 'join' },
          outsider.token,
        );
        assert.deepEqual([r.status, r.body.errcode], [403, 'M_FORBIDDEN']);
      });

      it('item 9: POST /rooms/{roomId}/forget, only after leaving', async () => {
        const forget = (who: Session, room = roomId) =>
          http.post(`/rooms/${enc(room)}/forget`, {}, who.token);
        const joined = await forget(bob);
        assert.deepEqual([joined.status, joined.body.errcode], [400, 'M_UNKNOWN']);
        const unknown = await forget(bob, '!nope:localhost');
        assert.deepEqual([unknown.status, unknown.body.errcode], [404, 'M_NOT_FOUND']);
        const stranger = await http.register(unique('fs'));
        const never = await forget(stranger);
        assert.deepEqual([never.status, never.body.errcode], [404, 'M_NOT_FOUND']);
        // Still readable until forgotten.
        const since = (await http.sync(bob.token)).body.next_batch as string;
        await http.post(`/rooms/${enc(roomId)}/leave`, {}, bob.token);
        const messages = () =>
          http.get(`/rooms/${enc(roomId)}/messages`, bob.token, { dir: 'b', limit: 1 });
        assert.equal((await messages()).status, 200);

        const done = await forget(bob);
        assert.deepEqual([done.status, done.body], [200, {}]);
        assert.deepEqual((await forget(bob)).status, 200); // again: still fine
        const forgotten = await messages();
        assert.deepEqual([forgotten.status, forgotten.body.errcode], [403, 'M_FORBIDDEN']);
        const state = await http.get(`/rooms/${enc(roomId)}/state`, bob.token);
        assert.deepEqual([state.status, state.body.errcode], [403, 'M_FORBIDDEN']);
        const event = await http.get(`/rooms/${enc(roomId)}/event/${enc(ids[0]!)}`, bob.token);
        assert.deepEqual([event.status, event.body.errcode], [404, 'M_NOT_FOUND']);
        const context = await http.get(`/rooms/${enc(roomId)}/context/${enc(ids[0]!)}`, bob.token);
        assert.deepEqual([context.status, context.body.errcode], [404, 'M_NOT_FOUND']);
        // A forgotten room leaves no trace in sync.
        const sync = await http.sync(bob.token, { since });
        assert.equal(sync.body.rooms.leave[roomId], undefined);

        // Joining again remembers it.
        assert.equal((await http.post(`/rooms/${enc(roomId)}/join`, {}, bob.token)).status, 200);
        assert.equal((await messages()).status, 200);
        // And forgetting needs leaving again.
        assert.equal((await forget(bob)).status, 400);
      });
    });

    it('item 10: GET /messages with an empty from is treated as no from', async () => {
      const alice = await http.register(unique('em'));
      const roomId = await http.createRoom(alice.token);
      for (let i = 1; i <= 3; i++) {
        await http.send(alice.token, roomId, { msgtype: 'm.text', body: `e${i}` });
      }
      const path = `/rooms/${enc(roomId)}/messages`;
      const bodies = (r: { body: { chunk: Record<string, any>[] } }) =>
        r.body.chunk.map((e) => e.content.body ?? e.type);
      for (const dir of ['b', 'f']) {
        const without = await http.get(path, alice.token, { dir, limit: 2 });
        const empty = await http.get(path, alice.token, { dir, limit: 2, from: '' });
        assert.equal(empty.status, 200, JSON.stringify(empty.body));
        assert.deepEqual(bodies(empty), bodies(without));
        assert.match(empty.body.start, /^t\d+$/);
        assert.equal(empty.body.end, without.body.end);
        // `end` continues as it does without `from`.
        const next = await http.get(path, alice.token, { dir, limit: 2, from: empty.body.end });
        assert.equal(next.status, 200);
      }
      const latest = await http.get(path, alice.token, { dir: 'b', limit: 2, from: '' });
      assert.deepEqual(bodies(latest), ['e3', 'e2']);
      // A malformed token is still refused.
      const bad = await http.get(path, alice.token, { dir: 'b', from: 'x' });
      assert.deepEqual([bad.status, bad.body.errcode], [400, 'M_INVALID_PARAM']);
    });
  });
}
