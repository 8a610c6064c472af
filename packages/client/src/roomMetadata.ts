/**
 * A room's name and topic as this device follows them: the record keeps the metadata of the
 * current epoch (a `metadata` event tells of each change), and the intent of this device's own
 * last change, which is made again when a resolution merged its commit away.
 */
import type { DmlsGroup, EpochNode } from '@trellis/dmls';
import { metadataOf, sameMetadata, type GroupMetadata } from './metadata.js';
import type { RoomRecord } from './roomRecord.js';

/** What the current epoch changed: whether to write the record, and the new metadata if any. */
export interface MetadataUpdate {
  readonly changed: boolean;
  readonly metadata?: GroupMetadata;
}

/**
 * Brings the record in line with the current epoch (`current`, held in full): an intent that
 * took effect is dropped, and new metadata is taken.
 */
export function followMetadata(
  record: RoomRecord,
  group: DmlsGroup,
  current: EpochNode,
): MetadataUpdate {
  if (current.held.kind !== 'full') return { changed: false };
  const metadata = metadataOf(current.held.state.context.extensions);
  let changed = false;
  const intent = record.metadataIntent;
  if (
    intent &&
    (onChain(group, current, intent.epoch) || sameMetadata(intent.metadata, metadata))
  ) {
    delete record.metadataIntent;
    changed = true;
  }
  if (sameMetadata(metadata, record.metadata)) return { changed };
  record.metadata = metadata;
  return { changed: true, metadata };
}

/**
 * A metadata change of this device that was merged away, once the group has settled (one tip):
 * it is to be made again.
 */
export function metadataToRedo(
  record: RoomRecord,
  group: DmlsGroup | undefined,
  current: EpochNode | undefined,
): GroupMetadata | undefined {
  const intent = record.metadataIntent;
  if (!intent || !group || group.tips().length !== 1) return undefined;
  return onChain(group, current, intent.epoch) ? undefined : intent.metadata;
}

/** Whether the epoch `key` is on the chain of bases that leads to `from` (the current tip). */
function onChain(group: DmlsGroup, from: EpochNode | undefined, key: string): boolean {
  for (let n = from; n; n = n.base ? group.epoch(n.base) : undefined) {
    if (n.key === key) return true;
  }
  return false;
}
