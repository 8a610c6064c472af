/** The version of this trellis: the cli package's, read from its package.json. */
import { readFileSync } from 'node:fs';

export function version(): string {
  const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
  const { version } = JSON.parse(text) as { version?: unknown };
  return typeof version === 'string' ? version : 'unknown';
}
