import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  crossSigningKeyJson,
  encodeUnpaddedBase64,
  generateEd25519KeyPair,
  signJson,
  type Ed25519KeyPair,
} from '@trellis/matrix';
import { Http, enc, type Session } from './helpers/client.js';
import { DB_KINDS, startServer, type TestServer } from './helpers/server.js';

/**
 * Cross-signing on the server (api/cross_signing.yaml, the cross-signing members of
 * POST /keys/query in api/keys.yaml) and account data (api/account-data.yaml), over real HTTP,
 * with keys made and signed by @trellis/matrix.
 */

type Json = Record<string, any>;

interface Identity {
  master: Ed25519KeyPair;
  selfSigning: Ed25519KeyPair;
  userSigning: Ed25519KeyPair;
  masterId: string;
  selfSigningId: string;
  userSigningId: string;
  masterJson: Json;
  selfSigningJson: Json;
  userSigningJson: Json;
}

const id = (k: Ed25519KeyPair) => encodeUnpaddedBase64(k.publicKey);

function identity(userId: string): Identity {
  const master = generateEd25519KeyPair();
  const selfSigning = generateEd25519KeyPair();
  const userSigning = generateEd25519KeyPair();
  const masterJson = crossSigningKeyJson(userId, 'master', master.publicKey);
  const sign = (o: object) => signJson(o, userId, id(master), master);
  return {
    master,
    selfSigning,
    userSigning,
    masterId: id(master),
    selfSigningId: id(selfSigning),
    userSigningId: id(userSigning),
    masterJson,
    selfSigningJson: sign(crossSigningKeyJson(userId, 'self_signing', selfSigning.publicKey)),
    userSigningJson: sign(crossSigningKeyJson(userId, 'user_signing', userSigning.publicKey)),
  };
}

/** The spec's members of a CrossSigningKey (definitions/cross_signing_key.yaml). */
const KEY_MEMBERS = ['keys', 'signatures', 'usage', 'user_id'];
const QUERY_MEMBERS = [
  'device_keys',
  'failures',
  'master_keys',
  'self_signing_keys',
  'user_signing_keys',
];

for (const kind of DB_KINDS) {
  describe(`cross-signing and account data on ${kind}`, () => {
    let server: TestServer;
    let http: Http;
    let n = 0;

    before(async () => {
      server = await startServer(kind);
      http = new Http(server.url);
    });
    after(async () => server.close());

    /** A new user with one device whose keys are uploaded; returns its ed25519 key pair too. */
    async function user(
      prefix: string,
    ): Promise<Session & { device: Ed25519KeyPair; name: string }> {
      const name = `${prefix}${++n}`;
      const session = await http.register(name, 'pw');
      const device = generateEd25519KeyPair();
      const deviceKeys = signJson(
        {
          user_id: session.userId,
          device_id: session.deviceId,
          algorithms: ['m.olm.v1.curve25519-aes-sha2'],
          keys: { [`ed25519:${session.deviceId}`]: id(device) },
        },
        session.userId,
        session.deviceId,
        device,
      );
      const r = await http.post('/keys/upload', { device_keys: deviceKeys }, session.token);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return { ...session, device, name };
    }

    const uploadKeys = (s: Session, body: Json) =>
      http.post('/keys/device_signing/upload', body, s.token);
    const allKeys = (i: Identity) => ({
      master_key: i.masterJson,
      self_signing_key: i.selfSigningJson,
      user_signing_key: i.userSigningJson,
    });
    const query = (s: Session, users: string[]) =>
      http.post(
        '/keys/query',
        { device_keys: Object.fromEntries(users.map((u) => [u, []])) },
        s.token,
      );
    const storedDeviceKeys = async (s: Session) =>
      (await query(s, [s.userId])).body.device_keys[s.userId][s.deviceId] as Json;
    /** Device keys as stored, without what the server adds (`unsigned`). */
    const deviceKeysOf = async (s: Session) => {
      const { unsigned: _unsigned, ...keys } = await storedDeviceKeys(s);
      return keys;
    };

    it('device_signing/upload: first upload without UIA, checks each key, replacing needs the password', async () => {
      const alice = await user('alice');
      const keys = identity(alice.userId);

      // A self-signing key signed by some other master key: M_INVALID_SIGNATURE.
      const stranger = identity(alice.userId);
      const forged = await uploadKeys(alice, {
        master_key: keys.masterJson,
        self_signing_key: stranger.selfSigningJson,
      });
      assert.deepEqual([forged.status, forged.body.errcode], [400, 'M_INVALID_SIGNATURE']);
      const unsignedUsk = await uploadKeys(alice, {
        master_key: keys.masterJson,
        user_signing_key: crossSigningKeyJson(
          alice.userId,
          'user_signing',
          keys.userSigning.publicKey,
        ),
      });
      assert.deepEqual(
        [unsignedUsk.status, unsignedUsk.body.errcode],
        [400, 'M_INVALID_SIGNATURE'],
      );
      // No master key sent nor stored: M_MISSING_PARAM.
      const noMaster = await uploadKeys(alice, { self_signing_key: keys.selfSigningJson });
      assert.deepEqual([noMaster.status, noMaster.body.errcode], [400, 'M_MISSING_PARAM']);
      // Another user's keys, a wrong usage, a member the schema does not have: M_INVALID_PARAM.
      const bob = await user('bob');
      const bobs = await uploadKeys(alice, { master_key: identity(bob.userId).masterJson });
      assert.deepEqual([bobs.status, bobs.body.errcode], [400, 'M_INVALID_PARAM']);
      const usage = await uploadKeys(alice, {
        master_key: { ...keys.masterJson, usage: ['self_signing'] },
      });
      assert.deepEqual([usage.status, usage.body.errcode], [400, 'M_INVALID_PARAM']);
      const extra = await uploadKeys(alice, {
        master_key: { ...keys.masterJson, private_key: 'x' },
      });
      assert.deepEqual([extra.status, extra.body.errcode], [400, 'M_INVALID_PARAM']);
      // A public key that is one of the user's device ids: 403 "Key ID in use".
      const clash = await user('clash');
      const devicePublic = {
        ...crossSigningKeyJson(clash.userId, 'master', generateEd25519KeyPair().publicKey),
      };
      const named = await http.login(
        clash.name,
        'pw',
        Object.values(devicePublic.keys)[0] as string,
      );
      const inUse = await uploadKeys(named, { master_key: devicePublic });
      assert.deepEqual([inUse.status, inUse.body.errcode], [403, 'M_FORBIDDEN']);
      assert.equal((await query(alice, [alice.userId])).body.master_keys[alice.userId], undefined);

      // First upload: no UIA (no master key stored yet).
      const first = await uploadKeys(alice, allKeys(keys));
      assert.deepEqual([first.status, first.body], [200, {}]);
      // The same keys again: no new keys, no UIA (idempotent).
      assert.equal((await uploadKeys(alice, allKeys(keys))).status, 200);

      // New keys: UIA with m.login.password.
      const next = identity(alice.userId);
      const challenge = await uploadKeys(alice, allKeys(next));
      assert.equal(challenge.status, 401);
      assert.deepEqual(challenge.body.flows, [{ stages: ['m.login.password'] }]);
      assert.equal(typeof challenge.body.session, 'string');
      const onlySsk = await uploadKeys(alice, {
        self_signing_key: signJson(
          crossSigningKeyJson(alice.userId, 'self_signing', generateEd25519KeyPair().publicKey),
          alice.userId,
          keys.masterId,
          keys.master,
        ),
      });
      assert.equal(onlySsk.status, 401);
      const password = (pw: string) => ({
        type: 'm.login.password',
        identifier: { type: 'm.id.user', user: alice.userId },
        password: pw,
        session: challenge.body.session,
      });
      const wrong = await uploadKeys(alice, { ...allKeys(next), auth: password('nope') });
      assert.deepEqual([wrong.status, wrong.body.errcode], [403, 'M_FORBIDDEN']);
      assert.equal(
        (await query(alice, [alice.userId])).body.master_keys[alice.userId].keys[
          `ed25519:${keys.masterId}`
        ],
        keys.masterId,
      );

      // Replacing only the master key drops the old self-signing and user-signing keys: they
      // were signed by the old master key.
      const replaced = await uploadKeys(alice, {
        master_key: next.masterJson,
        auth: password('pw'),
      });
      assert.deepEqual([replaced.status, replaced.body], [200, {}]);
      const after = (await query(alice, [alice.userId])).body;
      assert.deepEqual(after.master_keys[alice.userId], next.masterJson);
      assert.equal(after.self_signing_keys[alice.userId], undefined);
      assert.equal(after.user_signing_keys[alice.userId], undefined);
      // A self-signing key now has to be signed by the new master key.
      const old = await uploadKeys(alice, {
        self_signing_key: keys.selfSigningJson,
        auth: password('pw'),
      });
      assert.deepEqual([old.status, old.body.errcode], [400, 'M_INVALID_SIGNATURE']);
      const ok = await uploadKeys(alice, {
        self_signing_key: next.selfSigningJson,
        auth: password('pw'),
      });
      assert.equal(ok.status, 200);
    });

    it('keys/query: master and self-signing keys to anyone, the user-signing key only to its owner, nothing else', async () => {
      const alice = await user('alice');
      const bob = await user('bob');
      const keys = identity(alice.userId);
      assert.equal((await uploadKeys(alice, allKeys(keys))).status, 200);

      const seenByBob = await query(bob, [alice.userId, bob.userId]);
      assert.equal(seenByBob.status, 200);
      assert.deepEqual(Object.keys(seenByBob.body).sort(), QUERY_MEMBERS);
      assert.deepEqual(seenByBob.body.master_keys, { [alice.userId]: keys.masterJson });
      assert.deepEqual(seenByBob.body.self_signing_keys, { [alice.userId]: keys.selfSigningJson });
      assert.deepEqual(seenByBob.body.user_signing_keys, {});

      const own = await query(alice, [alice.userId]);
      assert.deepEqual(own.body.user_signing_keys, { [alice.userId]: keys.userSigningJson });
      for (const member of ['master_keys', 'self_signing_keys', 'user_signing_keys']) {
        for (const key of Object.values(own.body[member]) as Json[]) {
          assert.deepEqual(
            Object.keys(key).filter((k) => !KEY_MEMBERS.includes(k)),
            [],
            `${member} has only the schema's members`,
          );
        }
      }
      // No private key anywhere in the answer.
      const text = JSON.stringify(own.body);
      for (const k of [keys.master, keys.selfSigning, keys.userSigning]) {
        assert.ok(!text.includes(encodeUnpaddedBase64(k.seed)));
      }
    });

    it('signatures/upload: wrong signatures fail per key; checked ones appear in keys/query', async () => {
      const alice = await user('alice');
      const bob = await user('bob');
      const carol = await user('carol');
      const a = identity(alice.userId);
      const b = identity(bob.userId);
      assert.equal((await uploadKeys(alice, allKeys(a))).status, 200);
      assert.equal((await uploadKeys(bob, allKeys(b))).status, 200);

      const device = await deviceKeysOf(alice);
      const { signatures: _s, ...deviceContent } = device;
      const sskSigned = signJson(deviceContent, alice.userId, a.selfSigningId, a.selfSigning);
      // The same signature under the key id, but made by the user-signing key: does not verify.
      const wrongKey = signJson(deviceContent, alice.userId, a.selfSigningId, a.userSigning);
      const tampered = { ...sskSigned, algorithms: ['m.megolm.v1.aes-sha2'] };
      const bobMaster = signJson(b.masterJson, alice.userId, a.userSigningId, a.userSigning);
      const badBobMaster = signJson(b.masterJson, alice.userId, a.userSigningId, a.selfSigning);
      const byDevice = signJson(a.masterJson, alice.userId, alice.deviceId, alice.device);
      const badByDevice = signJson(a.masterJson, alice.userId, alice.deviceId, a.master);

      // Every wrong one is refused, per key, in one request.
      const refused = await http.post(
        '/keys/signatures/upload',
        {
          [alice.userId]: {
            [alice.deviceId]: wrongKey,
            [a.masterId]: badByDevice,
            NOPE: sskSigned,
          },
          [bob.userId]: { [b.masterId]: badBobMaster },
          [carol.userId]: { [carol.deviceId]: sskSigned },
        },
        alice.token,
      );
      assert.equal(refused.status, 200);
      assert.deepEqual(Object.keys(refused.body), ['failures']);
      const f = refused.body.failures;
      assert.equal(f[alice.userId][alice.deviceId].errcode, 'M_INVALID_SIGNATURE');
      assert.equal(f[alice.userId][a.masterId].errcode, 'M_INVALID_SIGNATURE');
      assert.equal(f[alice.userId].NOPE.errcode, 'M_NOT_FOUND');
      assert.equal(f[bob.userId][b.masterId].errcode, 'M_INVALID_SIGNATURE');
      assert.equal(f[carol.userId][carol.deviceId].errcode, 'M_NOT_FOUND');
      const changed = await http.post(
        '/keys/signatures/upload',
        { [alice.userId]: { [alice.deviceId]: tampered } },
        alice.token,
      );
      assert.equal(changed.body.failures[alice.userId][alice.deviceId].errcode, 'M_INVALID_PARAM');
      // Nothing of it was stored.
      assert.deepEqual(await deviceKeysOf(alice), device);
      assert.deepEqual(
        (await query(bob, [alice.userId])).body.master_keys[alice.userId],
        a.masterJson,
      );

      const accepted = await http.post(
        '/keys/signatures/upload',
        {
          [alice.userId]: { [alice.deviceId]: sskSigned, [a.masterId]: byDevice },
          [bob.userId]: { [b.masterId]: bobMaster },
        },
        alice.token,
      );
      assert.deepEqual(accepted.body, { failures: {} });

      // Bob sees Alice's device signed by her self-signing key and her master key signed by
      // her device, but not Alice's signature of his own master key.
      const seenByBob = await query(bob, [alice.userId, bob.userId]);
      const aliceDevice = seenByBob.body.device_keys[alice.userId][alice.deviceId];
      assert.equal(
        aliceDevice.signatures[alice.userId][`ed25519:${a.selfSigningId}`],
        sskSigned.signatures[alice.userId]![`ed25519:${a.selfSigningId}`],
      );
      assert.equal(
        aliceDevice.signatures[alice.userId][`ed25519:${alice.deviceId}`],
        device.signatures[alice.userId][`ed25519:${alice.deviceId}`],
      );
      assert.deepEqual(seenByBob.body.master_keys[alice.userId].signatures, byDevice.signatures);
      assert.deepEqual(seenByBob.body.master_keys[bob.userId], b.masterJson);
      // Alice sees her signature of Bob's master key; Carol does not.
      assert.deepEqual((await query(alice, [bob.userId])).body.master_keys[bob.userId], bobMaster);
      assert.deepEqual(
        (await query(carol, [bob.userId])).body.master_keys[bob.userId],
        b.masterJson,
      );

      // New device keys void the signatures of the old ones.
      const fresh = signJson(
        { ...deviceContent, algorithms: ['m.megolm.v1.aes-sha2'] },
        alice.userId,
        alice.deviceId,
        alice.device,
      );
      assert.equal(
        (await http.post('/keys/upload', { device_keys: fresh }, alice.token)).status,
        200,
      );
      assert.deepEqual(await deviceKeysOf(alice), fresh);
    });

    it('device_lists.changed after cross-signing keys or signatures are uploaded', async () => {
      const alice = await user('alice');
      const bob = await user('bob');
      const roomId = await http.createRoom(alice.token, { invite: [bob.userId] });
      assert.equal((await http.post(`/join/${enc(roomId)}`, {}, bob.token)).status, 200);
      let since = (await http.sync(bob.token)).body.next_batch as string;
      let aliceSince = (await http.sync(alice.token)).body.next_batch as string;

      const a = identity(alice.userId);
      assert.equal((await uploadKeys(alice, allKeys(a))).status, 200);
      const afterKeys = await http.sync(bob.token, { since, timeout: 0 });
      assert.deepEqual(afterKeys.body.device_lists.changed, [alice.userId]);
      since = afterKeys.body.next_batch;

      const { signatures: _s, ...content } = await deviceKeysOf(alice);
      const signed = signJson(content, alice.userId, a.selfSigningId, a.selfSigning);
      await http.post(
        '/keys/signatures/upload',
        { [alice.userId]: { [alice.deviceId]: signed } },
        alice.token,
      );
      const afterSignature = await http.sync(bob.token, { since, timeout: 0 });
      assert.deepEqual(afterSignature.body.device_lists.changed, [alice.userId]);
      since = afterSignature.body.next_batch;

      // Alice signs Bob's master key: Alice is told to re-query Bob; Bob is not told anything.
      const b = identity(bob.userId);
      assert.equal((await uploadKeys(bob, allKeys(b))).status, 200);
      since = (await http.sync(bob.token, { since, timeout: 0 })).body.next_batch;
      aliceSince = (await http.sync(alice.token, { since: aliceSince, timeout: 0 })).body
        .next_batch;
      const bobMaster = signJson(b.masterJson, alice.userId, a.userSigningId, a.userSigning);
      const r = await http.post(
        '/keys/signatures/upload',
        { [bob.userId]: { [b.masterId]: bobMaster } },
        alice.token,
      );
      assert.deepEqual(r.body, { failures: {} });
      const aliceSync = await http.sync(alice.token, { since: aliceSince, timeout: 0 });
      assert.deepEqual(aliceSync.body.device_lists.changed, [bob.userId]);
      const bobSync = await http.sync(bob.token, { since, timeout: 0 });
      assert.deepEqual(bobSync.body.device_lists.changed, []);
    });

    it('account data: round trip, only for oneself, and in /sync when it changed', async () => {
      const alice = await user('alice');
      const bob = await user('bob');
      const path = (u: string, type: string) => `/user/${enc(u)}/account_data/${enc(type)}`;
      const type = 'm.secret_storage.default_key';

      const missing = await http.get(path(alice.userId, type), alice.token);
      assert.deepEqual([missing.status, missing.body.errcode], [404, 'M_NOT_FOUND']);
      const initial = (await http.sync(alice.token)).body;
      assert.deepEqual(initial.account_data, { events: [] });

      const put = await http.put(path(alice.userId, type), { key: 'abc' }, alice.token);
      assert.deepEqual([put.status, put.body], [200, {}]);
      assert.deepEqual((await http.get(path(alice.userId, type), alice.token)).body, {
        key: 'abc',
      });
      // Another user's account data: neither written nor read.
      const write = await http.put(path(alice.userId, type), { key: 'evil' }, bob.token);
      assert.deepEqual([write.status, write.body.errcode], [403, 'M_FORBIDDEN']);
      const read = await http.get(path(alice.userId, type), bob.token);
      assert.deepEqual([read.status, read.body.errcode], [403, 'M_FORBIDDEN']);
      assert.deepEqual((await http.get(path(alice.userId, type), alice.token)).body, {
        key: 'abc',
      });
      const notObject = await http.put(path(alice.userId, type), ['x'], alice.token);
      assert.deepEqual([notObject.status, notObject.body.errcode], [400, 'M_BAD_JSON']);
      const fullyRead = await http.put(path(alice.userId, 'm.fully_read'), {}, alice.token);
      assert.deepEqual([fullyRead.status, fullyRead.body.errcode], [405, 'M_BAD_JSON']);

      // /sync: everything in an initial sync, then only what changed since the token.
      const full = (await http.sync(alice.token)).body;
      assert.deepEqual(full.account_data.events, [{ type, content: { key: 'abc' } }]);
      const quiet = await http.sync(alice.token, { since: full.next_batch, timeout: 0 });
      assert.deepEqual(quiet.body.account_data.events, []);
      // A waiting long poll is woken by a change.
      const waiting = http.sync(alice.token, { since: quiet.body.next_batch, timeout: 60_000 });
      await http.put(path(alice.userId, 'org.example.b'), { n: 1 }, alice.token);
      const woken = (await waiting).body;
      assert.deepEqual(woken.account_data.events, [{ type: 'org.example.b', content: { n: 1 } }]);
      await http.put(path(alice.userId, type), { key: 'def' }, alice.token);
      const changed = (await http.sync(alice.token, { since: woken.next_batch, timeout: 0 })).body;
      assert.deepEqual(changed.account_data.events, [{ type, content: { key: 'def' } }]);
      assert.deepEqual((await http.sync(bob.token)).body.account_data.events, []);

      // Room account data, in the joined room's section.
      const roomId = await http.createRoom(alice.token);
      const since = (await http.sync(alice.token, { since: changed.next_batch, timeout: 0 })).body
        .next_batch;
      const roomPath = `/user/${enc(alice.userId)}/rooms/${enc(roomId)}/account_data/org.example.tag`;
      assert.equal((await http.put(roomPath, { t: 1 }, alice.token)).status, 200);
      assert.deepEqual((await http.get(roomPath, alice.token)).body, { t: 1 });
      const roomSync = (await http.sync(alice.token, { since, timeout: 0 })).body;
      assert.deepEqual(roomSync.rooms.join[roomId].account_data.events, [
        { type: 'org.example.tag', content: { t: 1 } },
      ]);
      assert.deepEqual(roomSync.account_data.events, []);
    });
  });
}
