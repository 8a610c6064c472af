/**
 * A test double of a malicious homeserver: an HTTP proxy in front of the real server that
 * passes everything through, except that it invents a device for one user. `/keys/query`
 * answers list the invented device (self-signed under a key the server made, as any device's
 * keys are), and `/keys/claim` hands out KeyPackages in its name. This is the classic attack
 * on end-to-end encryption that cross-signing answers.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cipherSuite, nodeCrypto } from '@trellis/mls';
import { deviceKeys } from '../../src/devices.js';
import { DEFAULT_STOCK, KeyPackageStock } from '../../src/keyPackages.js';
import type { MatrixHttp } from '../../src/http.js';
import { MemoryStore } from '../../src/store.js';
import type { Json } from '../../src/json.js';

export interface InjectingServer {
  readonly url: string;
  /** `userId|deviceId` of the invented device. */
  readonly identity: string;
  /** KeyPackages of the invented device handed out so far. */
  readonly claimed: number;
  close(): Promise<void>;
}

type Body = Record<string, any>;

/** The invented device's keys and KeyPackages, made as a real device would make them. */
async function inventDevice(userId: string, deviceId: string) {
  const suite = cipherSuite(1, nodeCrypto);
  let uploaded: Body = {};
  const capture = {
    uploadKeys: async (body: Body) => {
      uploaded = body;
      return {};
    },
  } as unknown as MatrixHttp;
  const device = { userId, deviceId, suite, signatureKeyPair: suite.signature.generateKeyPair() };
  const stock = new KeyPackageStock(new MemoryStore(), capture, device, {
    ...DEFAULT_STOCK,
    target: 20,
  });
  await stock.bootstrap(deviceKeys(device));
  return {
    deviceKeys: uploaded.device_keys as Json,
    keyPackages: Object.entries(uploaded.one_time_keys as Record<string, string>),
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A proxy to `upstream` that invents `deviceId` for `userId`. */
export async function injectingServer(
  upstream: string,
  userId: string,
  deviceId = 'INJECTED',
): Promise<InjectingServer> {
  const fake = await inventDevice(userId, deviceId);
  let claimed = 0;
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const path = req.url ?? '/';
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) {
        if (typeof v === 'string' && k !== 'host' && k !== 'content-length') headers[k] = v;
      }
      const answer = await fetch(upstream + path, {
        method: req.method ?? 'GET',
        headers,
        ...(body.length > 0 && { body }),
      });
      let text = await answer.text();
      if (answer.ok && req.method === 'POST' && path.endsWith('/keys/query')) {
        const asked = JSON.parse(body.toString()) as Body;
        if (asked.device_keys?.[userId] !== undefined) {
          const out = JSON.parse(text) as Body;
          (out.device_keys ??= {})[userId] = {
            ...out.device_keys[userId],
            [deviceId]: fake.deviceKeys,
          };
          text = JSON.stringify(out);
        }
      }
      if (answer.ok && req.method === 'POST' && path.endsWith('/keys/claim')) {
        const asked = JSON.parse(body.toString()) as Body;
        if (asked.one_time_keys?.[userId]?.[deviceId] !== undefined) {
          const next = fake.keyPackages[claimed % fake.keyPackages.length]!;
          claimed++;
          const out = JSON.parse(text) as Body;
          (out.one_time_keys ??= {})[userId] = {
            ...out.one_time_keys[userId],
            [deviceId]: { [next[0]]: next[1] },
          };
          text = JSON.stringify(out);
        }
      }
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(text);
    })().catch((error: unknown) => {
      res.writeHead(502);
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    identity: `${userId}|${deviceId}`,
    get claimed() {
      return claimed;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
