import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PROVIDERS } from './providers.js';
import { runFile, vectorFiles } from './vectors/harness.js';

for (const file of vectorFiles()) {
  for (const provider of PROVIDERS) {
    test(`${provider.name} ${file}`, async () => {
      const r = await runFile(file, provider);
      assert.deepEqual(r.failures.slice(0, 3), [], `${r.total - r.passed} of ${r.total} failed`);
      assert.equal(r.passed, r.total);
    });
  }
}
