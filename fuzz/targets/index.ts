/** Every fuzz target, in the order a run takes them. */
import type { FuzzTarget } from '../engine.js';
import { BACKUP_TARGETS } from './backup.js';
import { DMLS_TARGETS } from './dmls.js';
import { MLS_DECODERS } from './mlsDecoders.js';
import { MLS_PROCESSING } from './mlsProcessing.js';
import { SERVER_TARGETS } from './server.js';

export const TARGETS: readonly FuzzTarget[] = [
  ...MLS_DECODERS,
  ...BACKUP_TARGETS,
  ...MLS_PROCESSING,
  ...SERVER_TARGETS,
  ...DMLS_TARGETS,
];

export function targetNamed(name: string): FuzzTarget | undefined {
  return TARGETS.find((t) => t.name === name);
}
