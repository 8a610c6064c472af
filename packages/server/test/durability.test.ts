import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Http, enc } from './helpers/client.js';
import { makeKeyPackage } from './helpers/keyPackages.js';
import { databaseArgs, spawnServer } from './helpers/process.js';
import { DB_KINDS, freshDatabase } from './helpers/server.js';

/**
 * The server is killed with SIGKILL in the middle of a load of sends, KeyPackage uploads and
 * backup writes. After a restart on the same database, every request that had been answered
 * with success is there.
 */
for (const kind of DB_KINDS) {
  describe(`durability under SIGKILL on ${kind}`, () => {
    it('keeps every acknowledged send, upload and backup write', async () => {
      const { database, drop } = freshDatabase(kind);
      const args = [...databaseArgs(database), '--claim-burst', '0'];
      try {
        let server = await spawnServer(args);
        let http = new Http(server.url);
        const alice = await http.register('alice', 'pw', 'ALICE');
        const roomId = await http.createRoom(alice.token);
        const version = (
          await http.post(
            '/room_keys/version',
            { algorithm: 'm.dmls_backup.v1.aes-hmac-sha2', auth_data: {} },
            alice.token,
          )
        ).body.version as string;
        const keyPackages = Array.from({ length: 600 }, () =>
          makeKeyPackage({ userId: alice.userId, deviceId: 'ALICE' }),
        );

        const sent: string[] = [];
        const uploaded: string[] = [];
        const backedUp: string[] = [];
        let alive = true;
        let next = 0;
        const worker = async (kind: 'send' | 'upload' | 'backup', w: number) => {
          for (let i = 0; alive; i++) {
            try {
              if (kind === 'send') {
                const r = await http.put(
                  `/rooms/${enc(roomId)}/send/m.room.message/w${w}-${i}`,
                  { body: `${w}/${i}` },
                  alice.token,
                );
                if (r.status === 200) sent.push(r.body.event_id);
              } else if (kind === 'upload') {
                const kp = keyPackages[next++];
                if (!kp) return;
                const r = await http.post(
                  '/keys/upload',
                  { one_time_keys: { [kp.name]: kp.value } },
                  alice.token,
                );
                if (r.status === 200) uploaded.push(kp.name);
              } else {
                const session = `s${w}-${i}`;
                const data = {
                  first_message_index: 0,
                  forwarded_count: 0,
                  is_verified: true,
                  session_data: { n: i },
                };
                const r = await http.put(
                  `/room_keys/keys/${enc(roomId)}/${session}`,
                  data,
                  alice.token,
                  { version },
                );
                if (r.status === 200) backedUp.push(session);
              }
            } catch {
              return; // the connection died with the server
            }
          }
        };
        const workers = [
          ...[0, 1, 2].map((w) => worker('send', w)),
          ...[3, 4, 5].map((w) => worker('upload', w)),
          ...[6, 7].map((w) => worker('backup', w)),
        ];
        // Let the load run, then kill the server without warning while requests are in flight.
        // It runs until each kind has 60 done, however slow the machine, unless it stalls.
        const done = () =>
          `${sent.length} sent, ${uploaded.length} uploaded, ${backedUp.length} backed up`;
        let last = done();
        let changedAt = Date.now();
        while (
          (sent.length < 60 || uploaded.length < 60 || backedUp.length < 60) &&
          Date.now() - changedAt < 60_000
        ) {
          await new Promise((r) => setTimeout(r, 20));
          if (done() !== last) [last, changedAt] = [done(), Date.now()];
        }
        server.child.kill('SIGKILL');
        assert.equal(await server.exited, 'SIGKILL');
        alive = false;
        await Promise.all(workers);
        assert.ok(
          sent.length >= 60 && uploaded.length >= 60 && backedUp.length >= 60,
          `load was under way: ${done()}`,
        );

        server = await spawnServer(args);
        http = new Http(server.url);
        try {
          for (const eventId of sent) {
            const r = await http.get(`/rooms/${enc(roomId)}/event/${enc(eventId)}`, alice.token);
            assert.equal(r.status, 200, `event ${eventId} survived`);
          }
          const keys = await http.get('/room_keys/keys', alice.token, { version });
          const stored = new Set(Object.keys(keys.body.rooms[roomId]?.sessions ?? {}));
          for (const session of backedUp)
            assert.ok(stored.has(session), `backup ${session} survived`);
          assert.equal((await http.get('/room_keys/version', alice.token)).body.count, stored.size);

          const counts = (await http.post('/keys/upload', {}, alice.token)).body
            .one_time_key_counts;
          const algorithm = keyPackages[0]!.algorithm;
          assert.ok(counts[algorithm] >= uploaded.length);
          const claimed = new Set<string>();
          for (let i = 0; i < counts[algorithm]; i++) {
            const r = await http.post(
              '/keys/claim',
              { one_time_keys: { [alice.userId]: { ALICE: algorithm } } },
              alice.token,
            );
            for (const name of Object.keys(r.body.one_time_keys[alice.userId].ALICE))
              claimed.add(name);
          }
          for (const name of uploaded) assert.ok(claimed.has(name), `KeyPackage ${name} survived`);
          process.stdout.write(
            `# ${kind}: killed after ${sent.length} sends, ${uploaded.length} uploads, ${backedUp.length} backup writes acknowledged; all present after restart\n`,
          );
        } finally {
          await server.stop();
        }
      } finally {
        await drop();
      }
    });
  });
}
