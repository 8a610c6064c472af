/**
 * `npm run bench:crypto`: operations per second of the primitives MLS leans on, for every
 * provider side by side. Each operation runs for a fixed time after a short warm-up.
 *
 * The "cold key" rows cycle through more keys than the node provider's key cache holds, so they
 * show what a cache miss costs (and so what the cache saves on the rows above them).
 */
import { parseArgs } from 'node:util';
import { readBenchOptions } from './cli.js';
import { AeadId, KdfId, KemId, SignatureScheme } from '../src/crypto/provider.js';
import type { CryptoProvider } from '../src/crypto/provider.js';
import { cipherSuite } from '../src/crypto/suites.js';
import { openBase, sealBase } from '../src/hpke.js';
import { PROVIDERS } from '../test/providers.js';

const USAGE = `npm run bench:crypto -- [options]

Operations per second of the primitives MLS uses, for each crypto provider side by side.

  --sizes <list>     message sizes in bytes for the signature, HPKE and AEAD rows (100,1024)
  --duration <ms>    how long each operation runs, after a warm-up of a sixth of that (300)
  --cold-keys <n>    keys the "cold key" rows cycle through (512, above the node provider's cache)
  --json             one JSON object instead of the table
  --help             this text
`;

/** More keys than the node provider's key cache holds (overridden by --cold-keys). */
let coldKeys = 512;

/** Calls `op` repeatedly for `ms` milliseconds; returns calls per second. */
function measure(op: () => unknown, ms: number): number {
  let calls = 0;
  let batch = 1;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < batch; i++) op();
    calls += batch;
    elapsed = performance.now() - start;
    // Grow batches so the clock is read rarely once an op proves fast.
    if (elapsed < ms / 20) batch *= 2;
  }
  return (calls * 1000) / elapsed;
}

interface Benchmark {
  name: string;
  /** Builds the operation for one provider (setup is not timed). */
  prepare(provider: CryptoProvider): () => unknown;
}

function signatureBenchmarks(label: string, scheme: SignatureScheme, size: number): Benchmark[] {
  const message = new Uint8Array(size).fill(7);
  label = `${label} ${size} B`;
  return [
    {
      name: `${label} sign`,
      prepare(p) {
        const s = p.signature(scheme);
        const { privateKey } = s.generateKeyPair();
        return () => s.sign(privateKey, message);
      },
    },
    {
      name: `${label} sign, cold key`,
      prepare(p) {
        const s = p.signature(scheme);
        const keys = Array.from({ length: coldKeys }, () => s.generateKeyPair().privateKey);
        let i = 0;
        return () => s.sign(keys[i++ % coldKeys]!, message);
      },
    },
    {
      name: `${label} verify`,
      prepare(p) {
        const s = p.signature(scheme);
        const { privateKey, publicKey } = s.generateKeyPair();
        const signature = s.sign(privateKey, message);
        return () => {
          if (!s.verify(publicKey, message, signature)) throw new Error('verify failed');
        };
      },
    },
    {
      name: `${label} verify, cold key`,
      prepare(p) {
        const s = p.signature(scheme);
        const signed = Array.from({ length: coldKeys }, () => {
          const { privateKey, publicKey } = s.generateKeyPair();
          return { publicKey, signature: s.sign(privateKey, message) };
        });
        let i = 0;
        return () => {
          const { publicKey, signature } = signed[i++ % coldKeys]!;
          if (!s.verify(publicKey, message, signature)) throw new Error('verify failed');
        };
      },
    },
  ];
}

function kemBenchmarks(label: string, kemId: KemId): Benchmark[] {
  return [
    {
      name: `${label} KEM encap (2 DH)`,
      prepare(p) {
        const kem = p.kem(kemId);
        const { publicKey } = kem.generateKeyPair();
        return () => kem.encap(publicKey);
      },
    },
    {
      name: `${label} KEM decap (1 DH + pk)`,
      prepare(p) {
        const kem = p.kem(kemId);
        const { privateKey, publicKey } = kem.generateKeyPair();
        const { enc } = kem.encap(publicKey);
        return () => kem.decap(enc, privateKey);
      },
    },
  ];
}

function payloadBenchmarks(size: number): Benchmark[] {
  return [
    {
      name: `HPKE seal, suite 1, ${size} B`,
      prepare(p) {
        const suite = cipherSuite(1, p);
        const { publicKey } = suite.kem.generateKeyPair();
        const info = new Uint8Array(32);
        const aad = new Uint8Array(0);
        const plaintext = new Uint8Array(size);
        return () => sealBase(suite, publicKey, info, aad, plaintext);
      },
    },
    {
      name: `HPKE open, suite 1, ${size} B`,
      prepare(p) {
        const suite = cipherSuite(1, p);
        const { privateKey, publicKey } = suite.kem.generateKeyPair();
        const info = new Uint8Array(32);
        const aad = new Uint8Array(0);
        const { enc, ciphertext } = sealBase(suite, publicKey, info, aad, new Uint8Array(size));
        return () => openBase(suite, enc, privateKey, info, aad, ciphertext);
      },
    },
    {
      name: `AES-128-GCM seal ${size} B`,
      prepare(p) {
        const aead = p.aead(AeadId.AES128GCM);
        const key = p.randomBytes(16);
        const nonce = p.randomBytes(12);
        const aad = new Uint8Array(16);
        const plaintext = new Uint8Array(size);
        return () => aead.seal(key, nonce, aad, plaintext);
      },
    },
    {
      name: `AES-128-GCM open ${size} B`,
      prepare(p) {
        const aead = p.aead(AeadId.AES128GCM);
        const key = p.randomBytes(16);
        const nonce = p.randomBytes(12);
        const aad = new Uint8Array(16);
        const ciphertext = aead.seal(key, nonce, aad, new Uint8Array(size));
        return () => aead.open(key, nonce, aad, ciphertext);
      },
    },
  ];
}

function benchmarks(sizes: number[]): Benchmark[] {
  return [
    ...sizes.flatMap((size) => [
      ...signatureBenchmarks('Ed25519', SignatureScheme.ED25519, size),
      ...signatureBenchmarks('ECDSA P-256', SignatureScheme.ECDSA_SECP256R1_SHA256, size),
    ]),
    ...kemBenchmarks('X25519', KemId.DHKEM_X25519),
    ...kemBenchmarks('P-256', KemId.DHKEM_P256),
    ...sizes.flatMap(payloadBenchmarks),
    {
      name: 'HKDF-SHA256 expand 32 B',
      prepare(p) {
        const kdf = p.kdf(KdfId.HKDF_SHA256);
        const prk = p.randomBytes(32);
        const info = new Uint8Array(40);
        return () => kdf.expand(prk, info, 32);
      },
    },
  ];
}

function readOptions():
  { sizes: number[]; durationMs: number; coldKeys: number; json: boolean } | 'help' {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string' },
      'cold-keys': { type: 'string' },
      duration: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return 'help';
  const sizes = (values.sizes ?? '100,1024').split(',').map((v) => Number(v.trim()));
  if (sizes.some((n) => !Number.isInteger(n) || n < 0 || n > 1 << 24)) {
    throw new Error(`--sizes wants byte counts, not "${values.sizes}"`);
  }
  const durationMs = Number(values.duration ?? 300);
  if (!(durationMs > 0)) throw new Error('--duration wants a positive number of milliseconds');
  const cold = Number(values['cold-keys'] ?? 512);
  if (!Number.isInteger(cold) || cold < 1) throw new Error('--cold-keys wants a positive integer');
  return { sizes, durationMs, coldKeys: cold, json: values.json ?? false };
}

const options = readBenchOptions(USAGE, readOptions);
const { json, durationMs } = options;
coldKeys = options.coldKeys;
const results: Record<string, Record<string, number>> = {};
for (const benchmark of benchmarks(options.sizes)) {
  const row: Record<string, number> = {};
  for (const provider of PROVIDERS) {
    const op = benchmark.prepare(provider);
    measure(op, durationMs / 6);
    row[provider.name] = Math.round(measure(op, durationMs));
  }
  results[benchmark.name] = row;
  if (!json) process.stderr.write('.');
}

if (json) {
  console.log(JSON.stringify({ node: process.version, durationMs, opsPerSecond: results }));
} else {
  process.stderr.write('\n');
  const names = PROVIDERS.map((p) => p.name);
  const header = ['operation (ops/s)', ...names, `${names[0]}/${names[1]}`];
  const rows = Object.entries(results).map(([name, row]) => {
    const values = names.map((n) => row[n]!);
    return [
      name,
      ...values.map((v) => v.toLocaleString('en-US')),
      `${(values[0]! / values[1]!).toFixed(1)}x`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const format = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(`Node ${process.version}, ${durationMs} ms per operation`);
  console.log(format(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(format(row));
}
