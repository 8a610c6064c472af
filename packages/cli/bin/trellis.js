#!/usr/bin/env node
// The sources are TypeScript: load them through tsx's loader, found next to this package.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
