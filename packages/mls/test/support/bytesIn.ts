/**
 * Searches a live object graph for a byte string: for tests that check a value holds no copy of
 * a secret. It walks objects (own properties, enumerable or not, including TypeScript `private`
 * ones; not accessors, not prototypes), arrays, Maps (keys and values), Sets, typed arrays,
 * DataViews and ArrayBuffers, each once (cycles are fine). What reflection cannot reach is not
 * searched: closures, `#private` fields, WeakMaps and WeakSets; expose such holdings to the test
 * some other way.
 */
import { Buffer } from 'node:buffer';

/** Whether `needle` occurs in the bytes of any typed array or buffer reachable from `root`. */
export function containsBytes(root: unknown, needle: Uint8Array): boolean {
  return findBytes(root, needle) !== undefined;
}

/**
 * Where `needle` first occurs in the graph from `root`, as a path (`$.a.b[3]<Map value>…`), or
 * undefined. An empty needle is refused: it would be found in any byte array.
 */
export function findBytes(root: unknown, needle: Uint8Array): string | undefined {
  if (needle.length === 0) throw new RangeError('findBytes: an empty needle matches anything');
  const target = Buffer.from(needle.buffer, needle.byteOffset, needle.byteLength);
  const seen = new Set<object>();
  const stack: [unknown, string][] = [[root, '$']];
  while (stack.length > 0) {
    const [value, path] = stack.pop()!;
    if (value === null || (typeof value !== 'object' && typeof value !== 'function')) continue;
    if (seen.has(value)) continue;
    seen.add(value);

    if (ArrayBuffer.isView(value)) {
      const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      if (bytes.indexOf(target) !== -1) return path;
      continue;
    }
    if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) {
      if (Buffer.from(value).indexOf(target) !== -1) return path;
      continue;
    }
    if (value instanceof Map) {
      let i = 0;
      for (const [k, v] of value) {
        stack.push([k, `${path}<Map key ${i}>`], [v, `${path}<Map value ${i}>`]);
        i++;
      }
    } else if (value instanceof Set) {
      let i = 0;
      for (const v of value) stack.push([v, `${path}<Set ${i++}>`]);
    }
    for (const key of Reflect.ownKeys(value)) {
      const descriptor = Reflect.getOwnPropertyDescriptor(value, key);
      if (!descriptor || !('value' in descriptor)) continue;
      const name = typeof key === 'symbol' ? `[${String(key)}]` : `.${key}`;
      stack.push([descriptor.value, `${path}${name}`]);
    }
  }
  return undefined;
}
