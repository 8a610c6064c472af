/**
 * Measures what a call allocates, instead of timing it. While the call runs, the ways code
 * makes buffers and arrays of a chosen size record the bytes asked of them: the constructors of
 * ArrayBuffer, SharedArrayBuffer, every typed array and Array (replaced on `globalThis` by
 * recording proxies, so `instanceof` and statics still work), typed arrays' `slice`, and
 * Buffer's allocators (which Node's internals reach without the globals). Objects, strings and
 * arrays grown by `push` are not measured: an announced length or count that reaches an
 * allocation does so through one of these.
 */

export interface Allocations {
  /** Bytes asked for by the largest single allocation. */
  largest: number;
  /** Bytes asked for in all. */
  total: number;
}

const TYPED_ARRAYS = [
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
] as const;
const BUFFER_ALLOCATORS = ['alloc', 'allocUnsafe', 'allocUnsafeSlow', 'from', 'concat'] as const;

/** Bytes a typed array constructed with `args` allocates (a view of a buffer allocates none). */
function typedArrayBytes(args: unknown[], bytesPerElement: number): number {
  const [first] = args;
  if (typeof first === 'number') return first * bytesPerElement;
  if (first instanceof ArrayBuffer || first instanceof SharedArrayBuffer) return 0;
  if (typeof first === 'object' && first !== null && 'length' in first) {
    return Number((first as { length: unknown }).length) * bytesPerElement || 0;
  }
  return 0;
}

type Restore = () => void;

/** Puts `value` at `owner[key]` until the returned function puts the original back. */
function replace(owner: object, key: string, value: unknown): Restore {
  const descriptor = Object.getOwnPropertyDescriptor(owner, key)!;
  Object.defineProperty(owner, key, { ...descriptor, value });
  return () => Object.defineProperty(owner, key, descriptor);
}

function install(record: (bytes: number) => void): Restore {
  const global = globalThis as unknown as Record<string, unknown>;
  const restores: Restore[] = [];
  for (const name of TYPED_ARRAYS) {
    const ctor = global[name] as { BYTES_PER_ELEMENT: number } & (new (...a: unknown[]) => object);
    const proxy = new Proxy(ctor, {
      construct(target, args, newTarget) {
        record(typedArrayBytes(args, target.BYTES_PER_ELEMENT));
        return Reflect.construct(target, args, newTarget) as object;
      },
    });
    restores.push(replace(globalThis, name, proxy));
  }
  for (const name of ['ArrayBuffer', 'SharedArrayBuffer']) {
    const proxy = new Proxy(global[name] as new (...a: unknown[]) => object, {
      construct(target, args, newTarget) {
        record(typeof args[0] === 'number' ? args[0] : 0);
        return Reflect.construct(target, args, newTarget) as object;
      },
    });
    restores.push(replace(globalThis, name, proxy));
  }
  // Array(n) and new Array(n) reserve n slots; Array.from(arrayLike) constructs with its length.
  const arraySlots = (args: unknown[]) =>
    args.length === 1 && typeof args[0] === 'number' ? args[0] * 8 : args.length * 8;
  const arrayProxy = new Proxy(Array, {
    construct(target, args, newTarget) {
      record(arraySlots(args));
      return Reflect.construct(target, args, newTarget) as object;
    },
    apply(target, self, args) {
      record(arraySlots(args));
      return Reflect.apply(target, self, args) as unknown;
    },
  });
  restores.push(replace(globalThis, 'Array', arrayProxy));

  const typedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as {
    slice(this: Uint8Array, ...args: unknown[]): Uint8Array;
  };
  const slice = typedArrayPrototype.slice;
  restores.push(
    replace(typedArrayPrototype, 'slice', function (this: Uint8Array, ...args: unknown[]) {
      const out = slice.apply(this, args);
      record(out.byteLength);
      return out;
    }),
  );
  for (const name of BUFFER_ALLOCATORS) {
    const original = Buffer[name] as (...args: unknown[]) => Buffer;
    restores.push(
      replace(Buffer, name, (...args: unknown[]) => {
        const out = original.apply(Buffer, args);
        record(out.byteLength);
        return out;
      }),
    );
  }
  return () => restores.reverse().forEach((restore) => restore());
}

function meter(): { allocations: Allocations; restore: Restore } {
  const allocations: Allocations = { largest: 0, total: 0 };
  const restore = install((bytes) => {
    allocations.total += bytes;
    if (bytes > allocations.largest) allocations.largest = bytes;
  });
  return { allocations, restore };
}

/** Runs `fn` and reports what it allocated, whether it returned or threw (`error`). */
export function meterAllocations(fn: () => unknown): Allocations & { error?: unknown } {
  const { allocations, restore } = meter();
  try {
    fn();
    return allocations;
  } catch (error) {
    return { ...allocations, error };
  } finally {
    restore();
  }
}

/**
 * Runs `fn` and reports what was allocated until it settled: by `fn`, and by anything else
 * that ran in this process meanwhile (an in-process server, the test runner), so use it for
 * bounds far above what those do.
 */
export async function meterAllocationsUntilSettled<T>(
  fn: () => Promise<T>,
): Promise<{ value: T; allocations: Allocations }> {
  const { allocations, restore } = meter();
  try {
    return { value: await fn(), allocations };
  } finally {
    restore();
  }
}
