/**
 * A fixed-length array that is never changed in place: `with` returns a new array sharing every
 * untouched chunk with the old one. Editing k slots costs O(k·CHUNK + length/CHUNK) rather than
 * O(length), which is what lets a group keep many epochs of a large ratchet tree cheaply.
 */
const CHUNK_BITS = 6;
const CHUNK = 1 << CHUNK_BITS;
const MASK = CHUNK - 1;

export class PersistentArray<T> {
  private constructor(
    readonly length: number,
    private readonly chunks: readonly (readonly T[])[],
  ) {}

  static from<T>(items: readonly T[]): PersistentArray<T> {
    const chunks: T[][] = [];
    for (let i = 0; i < items.length; i += CHUNK) chunks.push(items.slice(i, i + CHUNK));
    return new PersistentArray(items.length, chunks);
  }

  static filled<T>(length: number, value: T): PersistentArray<T> {
    return PersistentArray.from(new Array<T>(length).fill(value));
  }

  get(index: number): T {
    if (index < 0 || index >= this.length) throw new RangeError(`index ${index} out of range`);
    return this.chunks[index >>> CHUNK_BITS]![index & MASK]!;
  }

  /**
   * Writes one slot in place, visible to every array sharing its chunk. Only for memoised values
   * that are the same in all of them (see HashCache in ratchetTree.ts).
   */
  setInPlace(index: number, value: T): void {
    if (index < 0 || index >= this.length) throw new RangeError(`index ${index} out of range`);
    (this.chunks[index >>> CHUNK_BITS] as T[])[index & MASK] = value;
  }

  /** A new array with the given slots replaced. */
  with(updates: Iterable<readonly [number, T]>): PersistentArray<T> {
    const chunks = this.chunks.slice();
    const copied = new Set<number>();
    for (const [index, value] of updates) {
      if (index < 0 || index >= this.length) throw new RangeError(`index ${index} out of range`);
      const c = index >>> CHUNK_BITS;
      if (!copied.has(c)) {
        chunks[c] = chunks[c]!.slice();
        copied.add(c);
      }
      (chunks[c] as T[])[index & MASK] = value;
    }
    return new PersistentArray(this.length, chunks);
  }

  /** A new array of `length` slots: truncated, or extended with `fill`. */
  resize(length: number, fill: T): PersistentArray<T> {
    if (length <= this.length) {
      const chunks = this.chunks.slice(0, Math.ceil(length / CHUNK));
      const last = chunks.length - 1;
      if (last >= 0 && length % CHUNK !== 0) chunks[last] = chunks[last]!.slice(0, length % CHUNK);
      return new PersistentArray(length, chunks);
    }
    const chunks = this.chunks.slice();
    let filled = this.length;
    const tail = filled % CHUNK;
    if (tail !== 0) {
      const last = chunks[chunks.length - 1]!.slice();
      while (last.length < CHUNK && filled < length) {
        last.push(fill);
        filled++;
      }
      chunks[chunks.length - 1] = last;
    }
    while (filled < length) {
      const size = Math.min(CHUNK, length - filled);
      chunks.push(new Array<T>(size).fill(fill));
      filled += size;
    }
    return new PersistentArray(length, chunks);
  }

  toArray(): T[] {
    const out: T[] = [];
    for (const chunk of this.chunks) for (const item of chunk) out.push(item);
    return out;
  }
}
