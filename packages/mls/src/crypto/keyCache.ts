/**
 * Caches of imported keys for the node provider. Importing a raw key into OpenSSL costs tens of
 * microseconds, a tenth of a signature check, and MLS uses the same keys over and over: every
 * member's signature key for each of its messages, one's own signature key for each message sent.
 *
 * Public keys and private keys are cached differently, because a private key must not outlive the
 * object that holds it (epoch secrets are deleted for forward secrecy, and "deleted" has to mean
 * gone from this process too).
 */

/**
 * Imported public keys by their bytes, at most `capacity` of them, least recently used evicted
 * first. Public keys are not secret, so a process-wide cache is harmless; the bound keeps a
 * process that sees endless fresh keys (a KeyPackage directory) from growing without limit.
 */
export class PublicKeyCache<T> {
  private readonly entries = new Map<string, T>();

  constructor(
    readonly capacity: number,
    private readonly load: (bytes: Uint8Array) => T,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`cache capacity ${capacity} is not a positive integer`);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** The imported key; `load` runs on a miss, and its exceptions pass through uncached. */
  get(bytes: Uint8Array): T {
    // latin1 maps each byte to one UTF-16 unit: a collision-free key for a Map, built natively.
    const id = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
    let value = this.entries.get(id);
    if (value !== undefined) {
      // Re-inserting moves the entry to the end of the Map's order: the most recently used.
      this.entries.delete(id);
    } else {
      value = this.load(bytes);
      if (this.entries.size >= this.capacity)
        this.entries.delete(this.entries.keys().next().value!);
    }
    this.entries.set(id, value);
    return value;
  }
}

/**
 * Imported private keys, attached to the very `Uint8Array` they were imported from (a WeakMap
 * entry), so an imported key lives exactly as long as its owner keeps the raw bytes: no key
 * strings in a process-wide map, nothing that outlives the owner, no bound to tune.
 *
 * A hit also checks that the bytes are still the ones imported: an owner that overwrites its key
 * in place (to wipe it, say) gets a fresh import, never the old key.
 */
export class PrivateKeyCache<T> {
  private readonly entries = new WeakMap<Uint8Array, { bytes: Uint8Array; value: T }>();

  constructor(private readonly load: (bytes: Uint8Array) => T) {}

  /** The imported key; `load` runs on a miss, and its exceptions pass through uncached. */
  get(bytes: Uint8Array): T {
    const entry = this.entries.get(bytes);
    if (entry !== undefined && sameBytes(entry.bytes, bytes)) return entry.value;
    this.entries.delete(bytes); // a stale entry goes before a failed import can leave it behind
    const value = this.load(bytes);
    this.entries.set(bytes, { bytes: bytes.slice(), value });
    return value;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
