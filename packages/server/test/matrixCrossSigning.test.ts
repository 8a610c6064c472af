import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MatrixError as SdkMatrixError, createClient, type MatrixClient } from 'matrix-js-sdk';
import type { AuthDict } from 'matrix-js-sdk/lib/interactive-auth.js';
import { Http } from './helpers/client.js';
import { signedInClient, until } from './helpers/matrixJsSdk.js';
import { DB_KINDS, startServer, type TestServer } from './helpers/server.js';

/**
 * matrix-js-sdk (its Rust crypto) sets up cross-signing against the server: bootstrapCrossSigning
 * uploads the three keys (POST /keys/device_signing/upload, through the UIA callback) and the
 * self-signing key's signature of its device (POST /keys/signatures/upload); a second
 * matrix-js-sdk client, another user's, downloads the keys (POST /keys/query) and finds the
 * device signed by its owner. A reset asks for the password (m.login.password).
 */

for (const kind of DB_KINDS) {
  describe(`matrix-js-sdk cross-signing against the server on ${kind}`, () => {
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
      await createClient({ baseUrl: server.url }).registerRequest({
        username: user,
        password,
        auth: { type: 'm.login.dummy' },
      });
      const client = await signedInClient(server.url, user, password);
      clients.push(client);
      return client;
    }

    it('bootstraps cross-signing; another client sees the keys and the signed device', async () => {
      const alice = await signIn('alice', 'alice-pw');
      const bob = await signIn('bob', 'bob-pw');
      const aliceCrypto = alice.getCrypto()!;
      const password: AuthDict = {
        type: 'm.login.password',
        identifier: { type: 'm.id.user', user: '@alice:localhost' },
        password: 'alice-pw',
      };
      const challenges: unknown[] = [];
      /** The UIA callback: first without auth (the server says what it wants), then the password. */
      const authenticate = async (makeRequest: (auth: AuthDict | null) => Promise<void>) => {
        try {
          await makeRequest(null);
        } catch (err) {
          if (!(err instanceof SdkMatrixError) || err.httpStatus !== 401) throw err;
          challenges.push(err.data.flows);
          await makeRequest({ ...password, session: err.data.session as string });
        }
      };

      await aliceCrypto.bootstrapCrossSigning({ authUploadDeviceSigningKeys: authenticate });
      // The first upload needs no UIA (no master key was stored).
      assert.deepEqual(challenges, []);
      assert.ok(await aliceCrypto.isCrossSigningReady());
      const status = await aliceCrypto.getCrossSigningStatus();
      assert.ok(status.publicKeysOnDevice);
      const ownDevice = await until('alice sees her device cross-signed', async () => {
        const s = await aliceCrypto.getDeviceVerificationStatus(
          '@alice:localhost',
          alice.getDeviceId()!,
        );
        return s?.crossSigningVerified ? s : undefined;
      });
      assert.ok(ownDevice.signedByOwner);

      // The server holds the public keys the client made, and the device's signature.
      const http = new Http(server.url);
      const bobToken = bob.getAccessToken()!;
      const seen = await http.post(
        '/keys/query',
        { device_keys: { '@alice:localhost': [] } },
        bobToken,
      );
      const masterId = await aliceCrypto.getCrossSigningKeyId();
      assert.ok(masterId);
      assert.equal(seen.body.master_keys['@alice:localhost'].keys[`ed25519:${masterId}`], masterId);
      const sskId = await aliceCrypto.getCrossSigningKeyId('self_signing' as never);
      const device = seen.body.device_keys['@alice:localhost'][alice.getDeviceId()!];
      assert.equal(typeof device.signatures['@alice:localhost'][`ed25519:${sskId}`], 'string');
      assert.deepEqual(seen.body.user_signing_keys, {});

      // Bob's client tracks Alice once they share an encrypted room (a one-off download of an untracked
      // user's keys does not reach its crypto store), then finds her device signed by her own
      // identity.
      const { room_id: roomId } = await alice.createRoom({
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
      const bobCrypto = bob.getCrypto()!;
      const bobsView = await until('bob sees alice cross-signed', async () => {
        const s = await bobCrypto.getDeviceVerificationStatus(
          '@alice:localhost',
          alice.getDeviceId()!,
        );
        return s?.signedByOwner ? s : undefined;
      });
      assert.equal(bobsView.crossSigningVerified, false); // Bob has not verified Alice
      const identity = await bobCrypto.getUserVerificationStatus('@alice:localhost');
      assert.equal(identity.isCrossSigningVerified(), false);

      // A reset makes new keys: now the server asks for the password.
      await aliceCrypto.bootstrapCrossSigning({
        setupNewCrossSigning: true,
        authUploadDeviceSigningKeys: authenticate,
      });
      assert.deepEqual(challenges, [[{ stages: ['m.login.password'] }]]);
      const newMasterId = await aliceCrypto.getCrossSigningKeyId();
      assert.notEqual(newMasterId, masterId);
      const after = await http.post(
        '/keys/query',
        { device_keys: { '@alice:localhost': [] } },
        bobToken,
      );
      assert.equal(
        after.body.master_keys['@alice:localhost'].keys[`ed25519:${newMasterId}`],
        newMasterId,
      );
    });
  });
}
