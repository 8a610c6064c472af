/**
 * Structure-aware mutation of JSON documents: a value replaced by one of another type or a
 * boundary value, a key dropped, renamed, repeated or set to `__proto__`, an array item repeated,
 * a value moved from elsewhere in the document, deep nesting. Text that does not parse is left
 * to the byte mutators.
 */
import type { Prng } from './prng.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const DEEP_MARK = '\u0001deep\u0001';
/** A deep-nesting placeholder as JSON.stringify writes it. */
const DEEP_PLACEHOLDER = /"\\u0001deep\\u0001(\d+)\\u0001deep\\u0001"/g;

function interestingValue(rng: Prng): Json {
  switch (rng.below(20)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([0, -1, 1, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 2 ** 64, -(2 ** 63)]);
    case 3:
      return rng.pick([0.5, -0.0, 1e308, -1e308, 5e-324]);
    case 4:
      return '';
    case 5:
      return 'x'.repeat(rng.pick([255, 256, 1000, 70000]));
    case 6:
      return rng.pick(['\u0000', '\ud800', '\u202e', '../..', '%00', '\\']);
    case 7:
      return rng.pick(['@alice:localhost', '@:', '@a:b:c', '!room:localhost', '!', '$event']);
    case 8:
      return rng.pick([
        'm.dmls.v1.key_package.1:AAAA',
        'm.dmls.v1.key_package.65535:x',
        'm.dmls_backup.v1.aes-hmac-sha2',
        'm.pbkdf2',
      ]);
    case 9:
      return [];
    case 10:
      return {};
    case 11:
      // Deep nesting, written into the text after JSON.stringify (which could not write it).
      return `${DEEP_MARK}${rng.pick([100, 1000, 5000, 20000, 100000])}${DEEP_MARK}`;
    case 12:
      return Array.from({ length: rng.pick([2, 100, 6000]) }, (_, i) => i);
    case 13:
      return 'AAAA'.repeat(rng.between(1, 64));
    case 14:
      return rng.pick(['AAA=', 'A===', '====', 'AB', '-_-_', ' AAAA']);
    default:
      return rng.pick([1, 'a', true, [1], { a: 1 }]);
  }
}

/** Every (container, key) pair in the document, the root's as [undefined, undefined]. */
function slots(doc: Json): { parent: Json[] | { [key: string]: Json }; key: string | number }[] {
  const out: { parent: Json[] | { [key: string]: Json }; key: string | number }[] = [];
  const walk = (node: Json, depth: number) => {
    if (depth > 64 || node === null || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      node.forEach((child, i) => {
        out.push({ parent: node, key: i });
        walk(child, depth + 1);
      });
    } else {
      for (const [key, child] of Object.entries(node)) {
        out.push({ parent: node, key });
        walk(child, depth + 1);
      }
    }
  };
  walk(doc, 0);
  return out;
}

/** The value under `key`: own properties only (`constructor` is not the Object function). */
function get(parent: Json[] | { [key: string]: Json }, key: string | number): Json {
  return Object.hasOwn(parent, key)
    ? ((parent as Record<string | number, Json>)[key] as Json)
    : null;
}

function set(parent: Json[] | { [key: string]: Json }, key: string | number, value: Json): void {
  // defineProperty, so that a key named `__proto__` becomes an own key (as JSON.parse makes it)
  // instead of changing the object's prototype.
  Object.defineProperty(parent, key, {
    value,
    enumerable: true,
    configurable: true,
    writable: true,
  });
}

/**
 * A mutated JSON text, or undefined when `bytes` is not JSON or cannot be mutated as a document:
 * JSON.stringify and structuredClone recurse, and nesting that grew over generations of mutants
 * can outgrow a worker's stack. Those inputs are left to the byte mutators.
 */
export function mutateJson(bytes: Uint8Array, rng: Prng): Uint8Array | undefined {
  try {
    return mutateDocument(bytes, rng);
  } catch (error) {
    if (error instanceof RangeError) return undefined;
    throw error;
  }
}

function mutateDocument(bytes: Uint8Array, rng: Prng): Uint8Array | undefined {
  let doc: Json;
  try {
    doc = JSON.parse(decoder.decode(bytes)) as Json;
  } catch {
    return undefined;
  }
  const all = slots(doc);
  if (all.length === 0) return encoder.encode(JSON.stringify(interestingValue(rng)));
  const steps = 1 + (rng.chance(0.3) ? rng.below(3) : 0);
  let duplicateKey: string | undefined;
  for (let i = 0; i < steps; i++) {
    const { parent, key } = rng.pick(all);
    const choice = rng.below(9);
    if (choice <= 2) {
      set(parent, key, interestingValue(rng));
    } else if (choice === 3) {
      if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else delete parent[key as string];
    } else if (choice === 4 && Array.isArray(parent)) {
      parent.splice(Number(key), 0, structuredClone(get(parent, key)));
    } else if (choice === 4) {
      duplicateKey = key as string;
    } else if (choice === 5 && !Array.isArray(parent)) {
      const value = get(parent, key);
      delete parent[key as string];
      const renamed = rng.pick([
        `${key}_`,
        key.toString().toUpperCase(),
        '__proto__',
        'constructor',
        '',
      ]);
      set(parent, renamed, value);
    } else if (choice === 6) {
      set(parent, key, structuredClone(get(rng.pick(all).parent, rng.pick(all).key) ?? null));
    } else if (choice === 7) {
      set(parent, key, [get(parent, key)]);
    } else {
      const value = get(parent, key);
      if (typeof value === 'string' && value.length > 0) {
        const at = rng.below(value.length);
        set(
          parent,
          key,
          value.slice(0, at) + String.fromCharCode(rng.below(128)) + value.slice(at + 1),
        );
      } else if (typeof value === 'number') {
        set(parent, key, value + rng.pick([-1, 1, 0.5]));
      } else {
        set(parent, key, interestingValue(rng));
      }
    }
  }
  let text = JSON.stringify(doc);
  if (duplicateKey !== undefined && text.startsWith('{') && text.length > 2) {
    // JSON.stringify cannot repeat a key; the text can.
    text = `{${JSON.stringify(duplicateKey)}:${JSON.stringify(interestingValue(rng))},${text.slice(1)}`;
  }
  text = text.replace(DEEP_PLACEHOLDER, (_, n: string) => '['.repeat(+n) + ']'.repeat(+n));
  return encoder.encode(text);
}
