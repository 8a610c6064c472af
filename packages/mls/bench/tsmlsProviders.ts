/**
 * The two crypto providers ts-mls runs on in `npm run bench`, and the time budget that stops it.
 *
 *  - `default`: ts-mls's own default (WebCrypto and @hpke/core, every call a promise).
 *  - `node`: a `CiphersuiteImpl` on Trellis's `nodeCrypto` provider, i.e. the same synchronous
 *    node:crypto calls, key caches included, that Trellis runs on, so that a ratio between the
 *    two libraries compares the engines and not their primitives. HPKE keys are kept raw (the
 *    `PublicKey`/`PrivateKey` types of ts-mls are only handed back to this provider).
 *
 * Both are wrapped by `guarded`, which makes every primitive call check a deadline: ts-mls has no
 * way to cancel an operation, and its operations call primitives constantly, so an operation past
 * its budget is stopped at its next call instead of running for hours.
 */
import {
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  type CiphersuiteImpl,
  type PrivateKey,
  type PublicKey,
} from 'ts-mls';
import { cipherSuite, nodeCrypto } from '../src/index.js';
import { openBase, sealBase, setupBaseR, setupBaseS } from '../src/hpke.js';
import { EMPTY, bytesEqual } from '../src/util/bytes.js';

export const SUITE_NAME = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';

export type TsProviderName = 'node' | 'default';

/** An HPKE key as this provider hands it to ts-mls: the raw bytes. */
interface RawKey {
  readonly raw: Uint8Array;
}
const wrap = <K>(raw: Uint8Array): K => ({ raw }) as RawKey as unknown as K;
const unwrap = (key: PublicKey | PrivateKey): Uint8Array => (key as unknown as RawKey).raw;

/** Ed25519 private keys reach ts-mls either raw (32 bytes) or as PKCS#8 ending in the seed. */
const seedOf = (key: Uint8Array): Uint8Array => (key.length === 32 ? key : key.subarray(-32));

function nodeImpl(): CiphersuiteImpl {
  const suite = cipherSuite(1, nodeCrypto);
  return {
    name: SUITE_NAME,
    rng: { randomBytes: (n) => nodeCrypto.randomBytes(n) },
    hash: {
      digest: async (data) => suite.hash.digest(data),
      mac: async (key, data) => suite.hash.mac(key, data),
      verifyMac: async (key, mac, data) => bytesEqual(suite.hash.mac(key, data), mac),
    },
    kdf: {
      size: suite.kdf.size,
      extract: async (salt, ikm) => suite.kdf.extract(salt, ikm),
      expand: async (prk, info, length) => suite.kdf.expand(prk, info, length),
    },
    signature: {
      sign: async (key, message) => suite.signature.sign(seedOf(key), message),
      verify: async (publicKey, message, signature) =>
        suite.signature.verify(publicKey, message, signature),
      keygen: async () => {
        const pair = suite.signature.generateKeyPair();
        return { publicKey: pair.publicKey, signKey: pair.privateKey };
      },
    },
    hpke: {
      seal: async (publicKey, plaintext, info, aad) => {
        const sealed = sealBase(suite, unwrap(publicKey), info, aad ?? EMPTY, plaintext);
        return { ct: sealed.ciphertext, enc: sealed.enc };
      },
      open: async (privateKey, enc, ciphertext, info, aad) =>
        openBase(suite, enc, unwrap(privateKey), info, aad ?? EMPTY, ciphertext),
      exportSecret: async (publicKey, exporterContext, length, info) => {
        const { enc, context } = setupBaseS(suite, unwrap(publicKey), info);
        return { enc, secret: context.export(exporterContext, length) };
      },
      importSecret: async (privateKey, exporterContext, enc, length, info) =>
        setupBaseR(suite, enc, unwrap(privateKey), info).export(exporterContext, length),
      importPrivateKey: async (raw) => wrap<PrivateKey>(raw),
      importPublicKey: async (raw) => wrap<PublicKey>(raw),
      exportPublicKey: async (key) => unwrap(key),
      exportPrivateKey: async (key) => unwrap(key),
      encryptAead: async (key, nonce, aad, plaintext) =>
        suite.aead.seal(key, nonce, aad ?? EMPTY, plaintext),
      decryptAead: async (key, nonce, aad, ciphertext) =>
        suite.aead.open(key, nonce, aad ?? EMPTY, ciphertext),
      deriveKeyPair: async (ikm) => {
        const pair = suite.kem.deriveKeyPair(ikm);
        return { privateKey: wrap<PrivateKey>(pair.privateKey), publicKey: wrap(pair.publicKey) };
      },
      generateKeyPair: async () => {
        const pair = suite.kem.generateKeyPair();
        return { privateKey: wrap<PrivateKey>(pair.privateKey), publicKey: wrap(pair.publicKey) };
      },
      keyLength: suite.aead.keySize,
      nonceLength: suite.aead.nonceSize,
    },
  };
}

export async function tsCiphersuite(provider: TsProviderName): Promise<CiphersuiteImpl> {
  if (provider === 'node') return nodeImpl();
  return getCiphersuiteImpl(getCiphersuiteFromName(SUITE_NAME));
}

/** Thrown by a guarded provider once its deadline has passed. */
export class BudgetExceeded extends Error {
  constructor() {
    super('time budget exceeded');
  }
}

/**
 * Ignores the rejections of ts-mls's parallel branches that a stopped operation leaves behind
 * (nothing awaits them once the first has failed); any other unhandled rejection still ends the
 * process.
 */
export function ignoreStoppedBranches(): void {
  process.on('unhandledRejection', (reason) => {
    if (!(reason instanceof BudgetExceeded)) throw reason;
  });
}

/** A deadline that guarded providers check; `Infinity` while nothing is being timed. */
export class Budget {
  private deadline = Infinity;
  /** Whether the deadline passed during the current operation. */
  exceeded = false;

  start(ms: number): void {
    this.deadline = performance.now() + ms;
    this.exceeded = false;
  }

  stop(): void {
    this.deadline = Infinity;
  }

  /**
   * After an operation was stopped: ts-mls runs some work in parallel branches, which carry on
   * after the first one failed. With the deadline in the past their next primitive call fails
   * too; this waits a moment for them to end, so they do not run into the next measurement.
   */
  async drain(): Promise<void> {
    this.deadline = -Infinity;
    for (let i = 0; i < 10; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  }

  check(): void {
    if (performance.now() > this.deadline) {
      this.exceeded = true;
      throw new BudgetExceeded();
    }
  }
}

/** `impl` with every primitive call checking `budget` first. */
export function guarded(impl: CiphersuiteImpl, budget: Budget): CiphersuiteImpl {
  const guard = <T extends object>(target: T): T => {
    const out: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(target)) {
      out[name] =
        typeof value === 'function'
          ? (...args: unknown[]) => {
              budget.check();
              return (value as (...a: unknown[]) => unknown).apply(target, args);
            }
          : value;
    }
    return out as T;
  };
  return {
    name: impl.name,
    rng: guard(impl.rng),
    hash: guard(impl.hash),
    kdf: guard(impl.kdf),
    signature: guard(impl.signature),
    hpke: guard(impl.hpke),
  };
}
