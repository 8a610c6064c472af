/**
 * The device's KeyPackage stock on the server (polyproto-mls rules, ARCHITECTURE.md): one-time
 * KeyPackages for others to claim when they add this device to a group, and one last-resort
 * KeyPackage (the fallback key) for when the one-time ones run out.
 *
 * A KeyPackage's private keys are written to the store before the KeyPackage is uploaded: a
 * Welcome may name any KeyPackage the server ever handed out, so none may exist only in memory.
 * One-time KeyPackages are deleted once a Welcome used them; a replaced last-resort KeyPackage
 * is kept for a grace period, since Welcomes made with it may still be on their way.
 */
import {
  basicCredential,
  decode,
  encode,
  keyPackageAlgorithm,
  keyPackageCodec,
  mlsMessageCodec,
  Reader,
  WireFormat,
  Writer,
  createKeyPackage,
  type CipherSuite,
  type KeyPackageBundle,
  type KeyPair,
} from '@trellis/mls';
import { toBase64 } from '@trellis/dmls';
import type { MatrixHttp } from './http.js';
import type { Json } from './json.js';
import { TRELLIS_CAPABILITIES } from './metadata.js';
import type { KeyPackageRecord, Store } from './store.js';

export interface StockPolicy {
  /** One-time KeyPackages kept on the server. */
  readonly target: number;
  /** Refill to `target` when the server reports fewer than this. */
  readonly lowWater: number;
  /** How long a replaced last-resort KeyPackage's private keys are kept. */
  readonly retiredGraceMs: number;
}

export const DEFAULT_STOCK: StockPolicy = {
  target: 50,
  lowWater: 20,
  retiredGraceMs: 7 * 24 * 3600 * 1000,
};

/** This device as KeyPackages need it. */
export interface DeviceIdentity {
  readonly userId: string;
  readonly deviceId: string;
  readonly suite: CipherSuite;
  readonly signatureKeyPair: KeyPair;
}

export function identityString(device: { userId: string; deviceId: string }): string {
  return `${device.userId}|${device.deviceId}`;
}

/** Bundle bytes: the KeyPackage, its ref, then the three private keys, each length-prefixed. */
export function encodeBundle(bundle: KeyPackageBundle): Uint8Array {
  const w = new Writer(1024);
  w.opaque(encode(keyPackageCodec, bundle.keyPackage));
  w.opaque(bundle.ref);
  w.opaque(bundle.initPrivateKey);
  w.opaque(bundle.encryptionPrivateKey);
  w.opaque(bundle.signaturePrivateKey);
  return w.finish();
}

export function decodeBundle(bytes: Uint8Array): KeyPackageBundle {
  const r = new Reader(bytes);
  const bundle = {
    keyPackage: decode(keyPackageCodec, r.opaque()),
    ref: r.opaque(),
    initPrivateKey: r.opaque(),
    encryptionPrivateKey: r.opaque(),
    signaturePrivateKey: r.opaque(),
  };
  r.done();
  return bundle;
}

interface Made {
  readonly record: KeyPackageRecord;
  /** `m.dmls.v1.key_package.<suite>:<ref>` */
  readonly name: string;
  /** Unpadded base64 MLSMessage(mls_key_package). */
  readonly value: string;
}

export class KeyPackageStock {
  private running: Promise<void> | undefined;
  private readonly algorithm: string;

  constructor(
    private readonly store: Store,
    private readonly http: MatrixHttp,
    private readonly device: DeviceIdentity,
    private readonly policy: StockPolicy = DEFAULT_STOCK,
  ) {
    this.algorithm = keyPackageAlgorithm(device.suite.id);
  }

  private make(lastResort: boolean): Made {
    const bundle = createKeyPackage(this.device.suite, {
      credential: basicCredential(new TextEncoder().encode(identityString(this.device))),
      signatureKeyPair: this.device.signatureKeyPair,
      now: BigInt(Math.floor(Date.now() / 1000)),
      capabilities: TRELLIS_CAPABILITIES,
      lastResort,
    });
    const leaf = bundle.keyPackage.leafNode;
    const notAfter = 'lifetime' in leaf ? Number(leaf.lifetime.notAfter) * 1000 : Infinity;
    const ref = toBase64(bundle.ref);
    return {
      record: { ref, lastResort, expiresAt: notAfter, bundle: encodeBundle(bundle) },
      name: `${this.algorithm}:${ref}`,
      value: toBase64(
        encode(mlsMessageCodec, {
          wireFormat: WireFormat.mls_key_package,
          keyPackage: bundle.keyPackage,
        }),
      ),
    };
  }

  /** The first upload of a new device: its device keys, a full stock and a fallback. */
  async bootstrap(deviceKeys: Json): Promise<void> {
    await this.exclusive(() => this.upload(this.policy.target, true, deviceKeys));
  }

  /**
   * Tops the stock up from what sync reports: `counts` of unclaimed one-time keys, and the
   * algorithms whose fallback key is still unused (a used one is replaced).
   */
  async refill(counts: Record<string, number>, unusedFallback: readonly string[] | undefined) {
    const have = counts[this.algorithm] ?? 0;
    const oneTime = have < this.policy.lowWater ? this.policy.target - have : 0;
    const fallback = unusedFallback !== undefined && !unusedFallback.includes(this.algorithm);
    if (oneTime === 0 && !fallback) return;
    await this.exclusive(() => this.upload(oneTime, fallback));
  }

  private async upload(oneTime: number, fallback: boolean, deviceKeys?: Json): Promise<void> {
    const made = Array.from({ length: oneTime }, () => this.make(false));
    const newFallback = fallback ? this.make(true) : undefined;
    const now = Date.now();
    const retired = newFallback
      ? this.store
          .keyPackages()
          .filter((r) => r.lastResort && r.retiredAt === undefined)
          .map((r) => ({ ...r, retiredAt: now }))
      : [];
    // Private keys first: if the upload fails they are only spare.
    this.store.putKeyPackages([
      ...made.map((m) => m.record),
      ...(newFallback ? [newFallback.record] : []),
      ...retired,
    ]);
    await this.http.uploadKeys({
      ...(deviceKeys && { device_keys: deviceKeys }),
      ...(made.length > 0 && {
        one_time_keys: Object.fromEntries(made.map((m) => [m.name, m.value])),
      }),
      ...(newFallback && { fallback_keys: { [newFallback.name]: newFallback.value } }),
    });
  }

  /**
   * A one-time KeyPackage whose private keys are stored but which is not uploaded: a rejoin
   * request carries it, and the Welcome that answers it is opened like any other.
   */
  local(): { ref: string; value: string; expiresAt: number } {
    const made = this.make(false);
    this.store.putKeyPackages([made.record]);
    return { ref: made.record.ref, value: made.value, expiresAt: made.record.expiresAt };
  }

  /** One upload at a time: a second refill waits and then sees the first one's counts. */
  private async exclusive(fn: () => Promise<void>): Promise<void> {
    while (this.running) await this.running.catch(() => undefined);
    const run = fn();
    this.running = run;
    try {
      await run;
    } finally {
      this.running = undefined;
    }
  }

  /** The bundle of one of `refs` (KeyPackageRefs a Welcome names), if this device has it. */
  find(
    refs: readonly Uint8Array[],
  ): { record: KeyPackageRecord; bundle: KeyPackageBundle } | undefined {
    for (const ref of refs) {
      const record = this.store.keyPackage(toBase64(ref));
      if (record) return { record, bundle: decodeBundle(record.bundle) };
    }
    return undefined;
  }

  /** A Welcome used `record`: a one-time KeyPackage's private keys are no longer needed. */
  used(record: KeyPackageRecord): void {
    if (record.lastResort) return;
    this.store.deleteKeyPackages([record.ref]);
    this.store.scrub();
  }

  /**
   * Deletes KeyPackages past their lifetime and retired fallbacks, each after the grace period
   * (a Welcome made from a KeyPackage claimed just before it expired may still arrive).
   */
  prune(now: number): number {
    const dead = this.store
      .keyPackages()
      .filter(
        (r) =>
          r.expiresAt + this.policy.retiredGraceMs < now ||
          (r.retiredAt !== undefined && r.retiredAt + this.policy.retiredGraceMs < now),
      )
      .map((r) => r.ref);
    if (dead.length > 0) {
      this.store.deleteKeyPackages(dead);
      this.store.scrub();
    }
    return dead.length;
  }
}
