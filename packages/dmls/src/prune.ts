import { epochReaderFromState } from '@trellis/mls';
import type { GroupCore } from './core.js';
import type { EpochNode, HeldSecrets } from './graph.js';
import { retentionStage } from './retention.js';

/**
 * Applies the retention policy (retention.ts): superseded epochs past the fork window keep
 * only their message keys, past the message window nothing. Returns the epochs whose holdings
 * changed, so a store can rewrite or delete them.
 */
export function prune(core: GroupCore, now: number): EpochNode[] {
  const changed: EpochNode[] = [];
  for (const node of core.graph.all()) {
    if (node.supersededAt === undefined || node.held.kind === 'none') continue;
    const stage = retentionStage(core.retention, now - node.supersededAt);
    if (stage === 'full' || stage === node.held.kind) continue;
    const held: HeldSecrets =
      stage === 'messages' && node.held.kind === 'full'
        ? { kind: 'messages', reader: epochReaderFromState(node.held.state) }
        : { kind: 'none' };
    changed.push(core.graph.update({ ...node, held }));
  }
  // Events waiting longer than an epoch's keys would be kept are not worth keeping.
  core.waiting.expire(now - core.retention.forkWindowMs - core.retention.messageWindowMs);
  return changed;
}
