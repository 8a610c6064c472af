/**
 * `npm run bench:crypto`: operations per second of the primitives MLS leans on, for every
 * provider side by side. Each operation runs for a fixed time after a short warm-up.
 * `--json` prints one JSON object instead of the table.
 *
 * The "cold key" rows cycle through more keys than the node provider's key cache holds, so they
 * show what a cache miss costs (and so what the cache saves on the rows above them).
 */
import { AeadId, KdfId, KemId, SignatureScheme } from '../src/crypto/provider.js';
import type { CryptoProvider } from '../src/crypto/provider.js';
import { cipherSuite } from '../src/crypto/suites.js';
import { openBase, sealBase } from '../src/hpke.js';
import { PROVIDERS } from '../test/providers.js';

const DURATION_MS = 300;
const WARMUP_MS = 50;
const COLD_KEYS = 512;

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

function signatureBenchmarks(label: string, scheme: SignatureScheme): Benchmark[] {
  const message = new Uint8Array(100).fill(7);
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
        const keys = Array.from({ length: COLD_KEYS }, () => s.generateKeyPair().privateKey);
        let i = 0;
        return () => s.sign(keys[i++ % COLD_KEYS]!, message);
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
        const signed = Array.from({ length: COLD_KEYS }, () => {
          const { privateKey, publicKey } = s.generateKeyPair();
          return { publicKey, signature: s.sign(privateKey, message) };
        });
        let i = 0;
        return () => {
          const { publicKey, signature } = signed[i++ % COLD_KEYS]!;
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

const BENCHMARKS: Benchmark[] = [
  ...signatureBenchmarks('Ed25519', SignatureScheme.ED25519),
  ...signatureBenchmarks('ECDSA P-256', SignatureScheme.ECDSA_SECP256R1_SHA256),
  ...kemBenchmarks('X25519', KemId.DHKEM_X25519),
  ...kemBenchmarks('P-256', KemId.DHKEM_P256),
  {
    name: 'HPKE seal, suite 1, 100 B',
    prepare(p) {
      const suite = cipherSuite(1, p);
      const { publicKey } = suite.kem.generateKeyPair();
      const info = new Uint8Array(32);
      const aad = new Uint8Array(0);
      const plaintext = new Uint8Array(100);
      return () => sealBase(suite, publicKey, info, aad, plaintext);
    },
  },
  {
    name: 'HPKE open, suite 1, 100 B',
    prepare(p) {
      const suite = cipherSuite(1, p);
      const { privateKey, publicKey } = suite.kem.generateKeyPair();
      const info = new Uint8Array(32);
      const aad = new Uint8Array(0);
      const { enc, ciphertext } = sealBase(suite, publicKey, info, aad, new Uint8Array(100));
      return () => openBase(suite, enc, privateKey, info, aad, ciphertext);
    },
  },
  {
    name: 'AES-128-GCM seal 1 KiB',
    prepare(p) {
      const aead = p.aead(AeadId.AES128GCM);
      const key = p.randomBytes(16);
      const nonce = p.randomBytes(12);
      const aad = new Uint8Array(16);
      const plaintext = new Uint8Array(1024);
      return () => aead.seal(key, nonce, aad, plaintext);
    },
  },
  {
    name: 'AES-128-GCM open 1 KiB',
    prepare(p) {
      const aead = p.aead(AeadId.AES128GCM);
      const key = p.randomBytes(16);
      const nonce = p.randomBytes(12);
      const aad = new Uint8Array(16);
      const ciphertext = aead.seal(key, nonce, aad, new Uint8Array(1024));
      return () => aead.open(key, nonce, aad, ciphertext);
    },
  },
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

const json = process.argv.includes('--json');
const results: Record<string, Record<string, number>> = {};
for (const benchmark of BENCHMARKS) {
  const row: Record<string, number> = {};
  for (const provider of PROVIDERS) {
    const op = benchmark.prepare(provider);
    measure(op, WARMUP_MS);
    row[provider.name] = Math.round(measure(op, DURATION_MS));
  }
  results[benchmark.name] = row;
  if (!json) process.stderr.write('.');
}

if (json) {
  console.log(
    JSON.stringify({ node: process.version, durationMs: DURATION_MS, opsPerSecond: results }),
  );
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
  console.log(`Node ${process.version}, ${DURATION_MS} ms per operation`);
  console.log(format(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(format(row));
}
