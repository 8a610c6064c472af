/**
 * Randomness for the simulation: one seeded generator for the story, and a crypto provider whose
 * every random byte (keys, path secrets, HPKE ephemerals, nonces' reuse guards) comes from a
 * second seeded generator, so that a seed replays bit for bit.
 */
import type { CryptoProvider } from '@trellis/mls';
import { providerWithRandom } from '../../../../mls/test/support/seededProvider.js';

/** xorshift32: small, fast and plenty for choosing simulation steps. */
export class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
    for (let i = 0; i < 8; i++) this.next(); // spread nearby seeds apart
  }
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 0x100000000;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** An integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }
  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i += 4) {
      let x = (this.next() * 0x100000000) >>> 0;
      for (let j = i; j < Math.min(length, i + 4); j++) {
        out[j] = x & 0xff;
        x >>>= 8;
      }
    }
    return out;
  }
}

/**
 * `nodeCrypto` with its randomness drawn from `rng`: key pairs are derived from seeded bytes,
 * and HPKE encapsulations get a seeded ephemeral key. Not secure, only reproducible.
 */
export function seededProvider(rng: Random): CryptoProvider {
  return providerWithRandom('sim-seeded', (length) => rng.bytes(length));
}
