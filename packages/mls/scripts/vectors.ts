/**
 * `npm run vectors`: checks every official MLS vector file with every provider and prints one line
 * per file and provider, then the totals. Exits non-zero if any entry fails.
 */
import { PROVIDERS } from '../test/providers.js';
import { runFile, vectorFiles } from '../test/vectors/harness.js';

const verbose = process.argv.includes('--verbose');
let passed = 0;
let failed = 0;
for (const provider of PROVIDERS) {
  for (const file of vectorFiles()) {
    const r = await runFile(file, provider);
    passed += r.passed;
    failed += r.total - r.passed;
    console.log(`${r.provider} ${r.file}: ${r.passed}/${r.total}`);
    const shown = verbose ? r.failures : r.failures.slice(0, 1);
    for (const f of shown) console.log(`  entry ${f.index}: ${f.error}`);
  }
}
console.log(`vectors: ${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
