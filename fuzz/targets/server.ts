/**
 * Server targets, through Fastify's `inject` on an app built by the server's test helper over a
 * temporary SQLite database. Every answer must be a success or a Matrix error (a 4xx with an
 * `errcode`); a 5xx, an answer without an errcode, or an exception is a failure.
 *
 * `server-key-upload` uploads mutated KeyPackages (half of them re-signed by the uploading
 * device, so that they get past the signatures to the directory's own rules).
 * `server-json` sends mutated JSON bodies, and mutated request lines, to the endpoints that
 * take a body. Log-in and log-out are left out: the first spends its time in scrypt by design,
 * the second would end the session every later request uses.
 */
import {
  basicCredential,
  cipherSuite,
  createKeyPackage,
  decode,
  encode,
  keyPackageAlgorithm,
  makeKeyPackageRef,
  mlsMessageCodec,
  signWithLabel,
  WireFormat,
  type KeyPackage,
} from '../../packages/mls/src/index.js';
import { Writer } from '../../packages/mls/src/codec/index.js';
import { encodeKeyPackageTbs } from '../../packages/mls/src/messages/keyPackage.js';
import { LeafNodeSource } from '../../packages/mls/src/messages/leafNode.js';
import { signLeafNode } from '../../packages/mls/src/tree/leafNodeValidation.js';
import { startServer, type TestServer } from '../../packages/server/test/helpers/server.js';
import { mutateJson } from '../json.js';
import type { FuzzTarget, Outcome, TargetInstance } from '../engine.js';
import { traceFields } from '../trace.js';
import { seededProvider } from './fixtures.js';

const CLIENT = '/_matrix/client/v3';
const encoder = new TextEncoder();
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64').replace(/=+$/, '');

interface Session {
  server: TestServer;
  token: string;
  userId: string;
  deviceId: string;
  roomId: string;
}

type Inject = (options: {
  method: string;
  url: string;
  payload?: Buffer | string | object;
  headers?: Record<string, string>;
}) => Promise<{ statusCode: number; body: string }>;

const inject = (server: TestServer): Inject =>
  server.app.inject.bind(server.app) as unknown as Inject;

async function call(
  server: TestServer,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
) {
  const response = await inject(server)({
    method,
    url: CLIENT + path,
    ...(body !== undefined && { payload: JSON.stringify(body) }),
    headers: {
      'content-type': 'application/json',
      ...(token && { authorization: `Bearer ${token}` }),
    },
  });
  if (response.statusCode !== 200) {
    throw new Error(`fixture ${method} ${path}: ${response.statusCode} ${response.body}`);
  }
  return JSON.parse(response.body) as Record<string, any>;
}

/** A server with a user, a second user with KeyPackages, a room and a backup version. */
async function startSession(): Promise<Session> {
  const server = await startServer('sqlite', { claimRate: { burst: 0, perSecond: 0 } });
  const register = (username: string, deviceId: string) =>
    call(server, 'POST', '/register', {
      username,
      password: 'fuzz password',
      device_id: deviceId,
      auth: { type: 'm.login.dummy' },
    });
  const fuzz = await register('fuzz', 'FUZZDEV');
  await register('bob', 'BOBDEV');
  const token = fuzz.access_token as string;
  const room = await call(server, 'POST', '/createRoom', { preset: 'public_chat' }, token);
  await call(
    server,
    'POST',
    '/room_keys/version',
    { algorithm: 'm.dmls_backup.v1.aes-hmac-sha2', auth_data: { iv: 'AAAA', mac: 'AAAA' } },
    token,
  );
  return { server, token, userId: fuzz.user_id, deviceId: 'FUZZDEV', roomId: room.room_id };
}

/** Sorts an HTTP answer: success, a Matrix error (refusal), or a failure (thrown). */
function judge(response: { statusCode: number; body: string }): Outcome {
  const { statusCode, body } = response;
  if (statusCode >= 200 && statusCode < 300) return undefined;
  let errcode: unknown;
  let error: unknown;
  let check: unknown;
  let flows: unknown;
  try {
    const json = JSON.parse(body) as Record<string, unknown>;
    errcode = json.errcode;
    error = json.error;
    check = json['io.trellis.key_package_check'];
    flows = json.flows;
  } catch {
    // not JSON: falls through to the failure below
  }
  // User-interactive authentication answers 401 with its flows, and an errcode only when a
  // stage failed.
  if (statusCode === 401 && errcode === undefined && Array.isArray(flows)) {
    return { refused: '401 interactive-auth' };
  }
  if (statusCode >= 500 || typeof errcode !== 'string') {
    throw new Error(`HTTP ${statusCode} is not a Matrix error: ${body.slice(0, 300)}`);
  }
  const code = `${statusCode} ${errcode}${typeof check === 'string' ? ` ${check}` : ''}`;
  return { refused: code, detail: typeof error === 'string' ? error : '' };
}

/** Server targets: a thrown value is always a failure (refusals come back as HTTP answers). */
const classifyServer = (): undefined => undefined;

/** The device's signature key, so that mutated KeyPackages can be signed as it would. */
function uploader(identity: string) {
  const suite = cipherSuite(1, seededProvider('trellis fuzz uploader'));
  const now = BigInt(Math.floor(Date.now() / 1000));
  const credential = basicCredential(encoder.encode(identity));
  const signatureKeyPair = suite.signature.generateKeyPair();
  const bundles = [false, false, true].map((lastResort) =>
    createKeyPackage(suite, { credential, signatureKeyPair, now, lastResort }),
  );
  const resign = (kp: KeyPackage): KeyPackage => {
    const leaf = kp.leafNode;
    const leafNode =
      leaf.leafNodeSource === LeafNodeSource.key_package ||
      leaf.leafNodeSource === LeafNodeSource.commit
        ? signLeafNode(suite, signatureKeyPair.privateKey, leaf)
        : signLeafNode(suite, signatureKeyPair.privateKey, leaf, new Uint8Array([1]), 0);
    const tbs = new Writer();
    encodeKeyPackageTbs(tbs, { ...kp, leafNode });
    const signature = signWithLabel(
      suite,
      signatureKeyPair.privateKey,
      'KeyPackageTBS',
      tbs.finish(),
    );
    return { ...kp, leafNode, signature };
  };
  return { suite, bundles, resign };
}

/**
 * `server-key-upload` inputs: a mode byte (bit 0: re-sign, bit 1: upload as a fallback key,
 * bit 2: keep a wrong key id), then an MLSMessage that should hold a KeyPackage.
 */
export const serverKeyUpload: FuzzTarget = {
  name: 'server-key-upload',
  kind: 'processing',
  description: 'POST /keys/upload of a mutated KeyPackage (half re-signed by the device)',
  async setup(): Promise<TargetInstance> {
    const session = await startSession();
    const { suite, bundles, resign } = uploader(`${session.userId}|${session.deviceId}`);
    const message = (kp: KeyPackage) =>
      encode(mlsMessageCodec, { wireFormat: WireFormat.mls_key_package, keyPackage: kp });
    const seeds = bundles.flatMap((b, i) => {
      const mode = i === 2 ? 2 : 0;
      return [
        Uint8Array.of(mode, ...message(b.keyPackage)),
        Uint8Array.of(mode | 1, ...message(b.keyPackage)),
      ];
    });
    return {
      seeds,
      async run(input) {
        if (input.length === 0) return { refused: 'empty' };
        const mode = input[0]!;
        let bytes = input.subarray(1);
        if (mode & 1) {
          try {
            const decoded = decode(mlsMessageCodec, bytes);
            if (decoded.wireFormat === WireFormat.mls_key_package) {
              bytes = message(resign(decoded.keyPackage));
            }
          } catch {
            // Not a KeyPackage the engine can read: upload the bytes as they are.
          }
        }
        const keyId = mode & 4 ? 'AAAA' : b64(makeKeyPackageRef(suite, bytes.subarray(4)));
        const name = `${keyPackageAlgorithm(1)}:${keyId}`;
        const body = { [mode & 2 ? 'fallback_keys' : 'one_time_keys']: { [name]: b64(bytes) } };
        return judge(
          await inject(session.server)({
            method: 'POST',
            url: `${CLIENT}/keys/upload`,
            payload: JSON.stringify(body),
            headers: {
              'content-type': 'application/json',
              authorization: `Bearer ${session.token}`,
            },
          }),
        );
      },
      classify: classifyServer,
      fields: (input) =>
        traceFields(input.subarray(1), () => decode(mlsMessageCodec, input.subarray(1)), 1),
      async close() {
        await session.server.close();
      },
    };
  },
};

/** The request line and body of each endpoint `server-json` starts from. */
function requestSeeds(): string[] {
  const requests: [string, unknown][] = [
    ['PUT /rooms/{room}/send/m.room.message/{txn}', { msgtype: 'm.text', body: 'hello' }],
    [
      'PUT /rooms/{room}/send/m.room.encrypted/{txn}',
      { algorithm: 'm.dmls.v1.1', ciphertext: 'AAEC', epoch: [3, ['@fuzz:localhost', 'FUZZDEV']] },
    ],
    ['PUT /rooms/{room}/state/m.room.topic/', { topic: 'fuzzing' }],
    ['PUT /rooms/{room}/state/m.room.name', { name: 'fuzz' }],
    [
      'POST /createRoom',
      { preset: 'private_chat', name: 'r', topic: 't', invite: ['@bob:localhost'] },
    ],
    [
      'POST /createRoom',
      {
        visibility: 'private',
        room_version: '10',
        initial_state: [
          { type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.dmls.v1.1' } },
        ],
        creation_content: { 'm.federate': false },
        power_level_content_override: { users_default: 10 },
      },
    ],
    ['POST /rooms/{room}/invite', { user_id: '@bob:localhost', reason: 'fuzz' }],
    ['POST /join/{room}', {}],
    ['POST /rooms/{room}/join', { reason: 'again' }],
    [
      'PUT /sendToDevice/m.dmls.welcome/{txn}',
      {
        messages: {
          '@bob:localhost': { BOBDEV: { ciphertext: 'AAEC', algorithm: 'm.dmls.v1.1' } },
        },
      },
    ],
    [
      'POST /keys/upload',
      {
        device_keys: {
          user_id: '@fuzz:localhost',
          device_id: 'FUZZDEV',
          algorithms: ['m.dmls.v1.1'],
          keys: { 'ed25519:FUZZDEV': 'AAAA' },
          signatures: { '@fuzz:localhost': { 'ed25519:FUZZDEV': 'AAAA' } },
        },
        one_time_keys: { 'signed_curve25519:AAAAAQ': { key: 'AAAA', signatures: {} } },
      },
    ],
    ['POST /keys/query', { device_keys: { '@bob:localhost': [], '@fuzz:localhost': ['FUZZDEV'] } }],
    [
      'POST /keys/claim',
      { one_time_keys: { '@bob:localhost': { BOBDEV: keyPackageAlgorithm(1) } } },
    ],
    [
      'POST /room_keys/version',
      {
        algorithm: 'm.dmls_backup.v1.aes-hmac-sha2',
        auth_data: {
          iv: 'AAAA',
          mac: 'AAAA',
          passphrase: { algorithm: 'm.pbkdf2', salt: 'x', iterations: 1 },
        },
      },
    ],
    [
      'PUT /room_keys/version/1',
      {
        algorithm: 'm.dmls_backup.v1.aes-hmac-sha2',
        auth_data: { iv: 'AA', mac: 'AA' },
        version: '1',
      },
    ],
    [
      'PUT /room_keys/keys?version=1',
      {
        rooms: {
          '{roomId}': {
            sessions: {
              '1|QGZ1eno6bG9jYWxob3N0fEZVWlpERVY': {
                first_message_index: 0,
                forwarded_count: 0,
                is_verified: false,
                session_data: { iv: 'AAAA', ciphertext: 'AAAA', mac: 'AAAA' },
              },
            },
          },
        },
      },
    ],
    [
      'PUT /room_keys/keys/{room}/members%7CAAAA?version=1',
      {
        first_message_index: 1,
        forwarded_count: 0,
        is_verified: true,
        session_data: { iv: 'AAAA', ciphertext: 'AAAA', mac: 'AAAA' },
      },
    ],
    [
      'POST /user/@fuzz:localhost/filter',
      { room: { timeline: { limit: 10, types: ['m.room.message'] } } },
    ],
    ['PUT /devices/FUZZDEV', { display_name: 'fuzzing device' }],
    ['POST /register', { username: 'fuzz', password: 'x', auth: { type: 'm.login.dummy' } }],
    ['POST /register', { username: 'newcomer', password: 'x' }],
  ];
  return requests.map(([line, body]) => `${line}\n${JSON.stringify(body)}`);
}

const METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS']);

export const serverJson: FuzzTarget = {
  name: 'server-json',
  kind: 'processing',
  description: 'mutated JSON bodies and request lines to every endpoint that takes a body',
  async setup(): Promise<TargetInstance> {
    const session = await startSession();
    let txn = 0;
    const split = (input: Uint8Array) => {
      const newline = input.indexOf(0x0a);
      return newline < 0
        ? undefined
        : {
            line: Buffer.from(input.subarray(0, newline)).toString('utf8'),
            body: input.subarray(newline + 1),
          };
    };
    return {
      seeds: requestSeeds().map((s) => encoder.encode(s)),
      async run(input) {
        const parts = split(input);
        if (!parts) return { refused: 'no-request-line' };
        const [method, path, ...rest] = parts.line.split(' ');
        if (rest.length > 0 || !method || !METHODS.has(method) || !path?.startsWith('/')) {
          return { refused: 'bad-request-line' };
        }
        const url =
          CLIENT +
          path
            .replaceAll('{room}', encodeURIComponent(session.roomId))
            .replaceAll('{txn}', `t${txn++}`);
        const payload = Buffer.from(
          Buffer.from(parts.body).toString('latin1').replaceAll('{roomId}', session.roomId),
          'latin1',
        );
        let response;
        try {
          response = await inject(session.server)({
            method,
            url,
            payload,
            headers: {
              'content-type': 'application/json',
              authorization: `Bearer ${session.token}`,
            },
          });
        } catch (error) {
          // light-my-request refuses some URLs before the server sees them (not the server's
          // doing): only those count as refusals.
          if (error instanceof TypeError && /url|URL|path/.test(error.message)) {
            return { refused: 'client-refused-url', detail: error.message };
          }
          throw error;
        }
        return judge(response);
      },
      classify: classifyServer,
      mutate(input, rng) {
        const parts = split(input);
        if (!parts) return undefined;
        const body = mutateJson(parts.body, rng);
        return body && Buffer.concat([encoder.encode(`${parts.line}\n`), body]);
      },
      async close() {
        await session.server.close();
      },
    };
  },
};

export const SERVER_TARGETS: readonly FuzzTarget[] = [serverKeyUpload, serverJson];
