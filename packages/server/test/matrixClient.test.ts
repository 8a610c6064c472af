import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  ClientEvent,
  MatrixError as SdkMatrixError,
  Method,
  createClient,
  type MatrixClient,
  type MatrixEvent,
} from 'matrix-js-sdk';
import { signedInClient, until } from './helpers/matrixJsSdk.js';
import { DB_KINDS, startServer, type TestServer } from './helpers/server.js';

/**
 * matrix-js-sdk, a real Matrix client with its Rust end-to-end encryption, drives the server:
 * register (interactive m.login.dummy), log in, create an encrypted room, send and sync
 * messages (Olm sessions from claimed one-time keys, Megolm keys over to-device), plain
 * to-device messages, and a key backup that a new device restores old keys from.
 */

for (const kind of DB_KINDS) {
  describe(`matrix-js-sdk against the server on ${kind}`, () => {
    let server: TestServer;
    const clients: MatrixClient[] = [];

    before(async () => {
      server = await startServer(kind);
    });
    after(async () => {
      for (const c of clients) c.stopClient();
      await server.close();
    });

    async function signIn(user: string, password: string): Promise<MatrixClient> {
      const client = await signedInClient(server.url, user, password);
      clients.push(client);
      return client;
    }

    it('registers, logs in, talks in an encrypted room, sends to-device and restores keys from backup', async () => {
      // Registration: the first attempt is answered with the interactive flow.
      const anonymous = createClient({ baseUrl: server.url });
      let session: string | undefined;
      await assert.rejects(
        anonymous.registerRequest({ username: 'alice', password: 'alice-pw' }),
        (err: unknown) => {
          assert.ok(err instanceof SdkMatrixError);
          assert.equal(err.httpStatus, 401);
          assert.deepEqual(err.data.flows, [{ stages: ['m.login.dummy'] }]);
          session = err.data.session as string;
          return true;
        },
      );
      const registered = await anonymous.registerRequest({
        username: 'alice',
        password: 'alice-pw',
        auth: { type: 'm.login.dummy', session: session! },
      });
      assert.equal(registered.user_id, '@alice:localhost');
      await anonymous.registerRequest({
        username: 'bob',
        password: 'bob-pw',
        auth: { type: 'm.login.dummy' },
      });

      const alice = await signIn('alice', 'alice-pw');
      const bob = await signIn('bob', 'bob-pw');
      assert.equal((await alice.whoami()).user_id, '@alice:localhost');

      // Alice makes a key backup before any room key exists, so every key gets backed up.
      const aliceCrypto = alice.getCrypto()!;
      await aliceCrypto.resetKeyBackup();
      const version = await until('active backup', () =>
        aliceCrypto.getActiveSessionBackupVersion(),
      );
      const info = await alice.http.authedRequest<{ version: string; algorithm: string }>(
        Method.Get,
        '/room_keys/version',
      );
      assert.equal(info.version, version);
      assert.equal(info.algorithm, 'm.megolm_backup.v1.curve25519-aes-sha2');

      // An encrypted room: initial_state m.room.encryption, Bob invited, Bob joins.
      const { room_id: roomId } = await alice.createRoom({
        name: 'sdk room',
        invite: ['@bob:localhost'],
        initial_state: [
          {
            type: 'm.room.encryption',
            state_key: '',
            content: { algorithm: 'm.megolm.v1.aes-sha2' },
          },
        ],
      });
      await until('bob sees the invite', () => bob.getRoom(roomId));
      await bob.joinRoom(roomId);
      await until(
        'alice sees bob join',
        () => alice.getRoom(roomId)?.getMember('@bob:localhost')?.membership === 'join',
      );
      assert.ok(alice.getRoom(roomId)!.hasEncryptionStateEvent());

      // Send: Alice's client claims Bob's one-time keys, shares the room key over to-device,
      // and Bob's sync brings the event, which his client decrypts.
      const sent = await alice.sendTextMessage(roomId, 'hello bob');
      const received = await until('bob decrypts the message', () => {
        const event = bob.getRoom(roomId)?.findEventById(sent.event_id);
        return event && !event.isBeingDecrypted() && event.getType() === 'm.room.message'
          ? event
          : undefined;
      });
      assert.equal(received.getContent().body, 'hello bob');
      assert.equal(received.getWireType(), 'm.room.encrypted');
      const plain = await bob.sendTextMessage(roomId, 'hi alice');
      const reply = await until('alice decrypts the reply', () => {
        const event = alice.getRoom(roomId)?.findEventById(plain.event_id);
        return event?.getType() === 'm.room.message' ? event : undefined;
      });
      assert.equal(reply.getContent().body, 'hi alice');

      // A plain to-device message.
      const toDevice = new Promise<MatrixEvent>((resolve) =>
        bob.on(ClientEvent.ToDeviceEvent, (e: MatrixEvent) => {
          if (e.getType() === 'org.trellis.ping') resolve(e);
        }),
      );
      await alice.sendToDevice(
        'org.trellis.ping',
        new Map([['@bob:localhost', new Map([[bob.getDeviceId()!, { n: 42 }]])]]),
      );
      const ping = await toDevice;
      assert.equal(ping.getSender(), '@alice:localhost');
      assert.deepEqual(ping.getContent(), { n: 42 });

      // The backup fills up with Alice's room key; a new device restores it and reads history.
      await until('room key in the backup', async () => {
        const current = await alice.http.authedRequest<{ count: number }>(
          Method.Get,
          '/room_keys/version',
        );
        return current.count > 0;
      });
      const stored = await alice.http.authedRequest<{
        rooms: Record<string, { sessions: Record<string, unknown> }>;
      }>(Method.Get, '/room_keys/keys', { version: version! });
      assert.ok(Object.keys(stored.rooms[roomId]!.sessions).length >= 1);

      const backupKey = await aliceCrypto.getSessionBackupPrivateKey();
      assert.ok(backupKey);
      const laptop = await signIn('alice', 'alice-pw');
      const laptopCrypto = laptop.getCrypto()!;
      await laptopCrypto.storeSessionBackupPrivateKey(backupKey, version!);
      const restored = await laptopCrypto.restoreKeyBackup();
      assert.ok(restored.imported >= 1, `imported ${restored.imported} of ${restored.total}`);
      const history = await until('laptop reads the old message', async () => {
        const room = laptop.getRoom(roomId);
        const event = room?.findEventById(sent.event_id);
        if (!event) {
          if (room) await laptop.scrollback(room, 20);
          return undefined;
        }
        if (event.isDecryptionFailure())
          await event.attemptDecryption(laptop.getCrypto() as never, { isRetry: true });
        return event.getType() === 'm.room.message' ? event : undefined;
      });
      assert.equal(history.getContent().body, 'hello bob');
    });
  });
}
