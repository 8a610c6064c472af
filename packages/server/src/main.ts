#!/usr/bin/env node
import { serve } from './serve.js';

serve(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`trellis server failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
