/**
 * The official MLS interop vectors (mlswg/mls-implementations), checked entry by entry.
 *
 * Each vector file has one `VectorSuite`: `check` recomputes or verifies every value an entry
 * gives and throws on the first mismatch. An entry passes only if `check` returns.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CryptoProvider } from '../../src/crypto/provider.js';
import { bytesEqual, fromHex, toHex } from '../../src/util/bytes.js';

export interface VectorSuite {
  /** File name under test-vectors/mls/. */
  readonly file: string;
  check(entry: any, provider: CryptoProvider): void;
}

export const VECTOR_DIR = fileURLToPath(new URL('../../../../test-vectors/mls/', import.meta.url));

export function loadVectors(file: string): any[] {
  const json = JSON.parse(readFileSync(VECTOR_DIR + file, 'utf8'));
  return Array.isArray(json) ? json : [json];
}

export const hex = fromHex;

/** Throws with both values in hex unless `actual` equals the expected hex string. */
export function expectHex(actual: Uint8Array, expected: string, what: string): void {
  if (!bytesEqual(actual, fromHex(expected))) {
    throw new Error(`${what}: got ${toHex(actual)}, want ${expected}`);
  }
}

export function expectEqual<T>(actual: T, expected: T, what: string): void {
  if (actual !== expected)
    throw new Error(`${what}: got ${String(actual)}, want ${String(expected)}`);
}

export function expect(condition: unknown, what: string): asserts condition {
  if (!condition) throw new Error(what);
}

export interface FileResult {
  file: string;
  provider: string;
  passed: number;
  total: number;
  failures: { index: number; error: string }[];
}

/** Runs every entry of one file with one provider. */
export function runSuite(suite: VectorSuite, provider: CryptoProvider): FileResult {
  const entries = loadVectors(suite.file);
  const result: FileResult = {
    file: suite.file,
    provider: provider.name,
    passed: 0,
    total: entries.length,
    failures: [],
  };
  entries.forEach((entry, index) => {
    try {
      suite.check(entry, provider);
      result.passed++;
    } catch (e) {
      result.failures.push({ index, error: e instanceof Error ? e.message : String(e) });
    }
  });
  return result;
}

/** Every vector file present, in name order. */
export function vectorFiles(): string[] {
  return readdirSync(VECTOR_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort();
}

/** The suite checking `file`, from the module of the same base name beside this one, if any. */
export async function loadSuite(file: string): Promise<VectorSuite | undefined> {
  const module = new URL(`./${file.replace(/\.json$/, '')}.ts`, import.meta.url);
  if (!existsSync(module)) return undefined;
  return ((await import(module.href)) as { default: VectorSuite }).default;
}

/** Runs one file with one provider; a file with no suite counts every entry as failed. */
export async function runFile(file: string, provider: CryptoProvider): Promise<FileResult> {
  const suite = await loadSuite(file);
  if (suite) return runSuite(suite, provider);
  const total = loadVectors(file).length;
  return {
    file,
    provider: provider.name,
    passed: 0,
    total,
    failures: [{ index: 0, error: 'no checker for this file yet' }],
  };
}
