/**
 * A room's name and topic as this device follows them: the record keeps the metadata of the
 * current epoch (a `metadata` event tells of each change, and whose commit made it), and the
 * intent of this device's own last change until the group has settled on one tip.
 *
 * A change of this device that a resolution merged away is made again, except in the fields
 * another device changed meanwhile: there the other change stands (two changes made at the same
 * time cannot both win), and this device is told its change was replaced.
 */
import type { DmlsGroup, EpochNode } from '@trellis/dmls';
import { metadataOf, sameMetadata, type GroupMetadata } from './metadata.js';
import type { RoomRecord } from './roomRecord.js';

const FIELDS = ['name', 'topic'] as const;

export type MetadataField = (typeof FIELDS)[number];

/** A field of this device's change that another device's change replaced. */
export interface ReplacedChange {
  readonly field: MetadataField;
  /** What this device set. */
  readonly mine: string | undefined;
  /** What stands. */
  readonly value: string | undefined;
  /** `userId|deviceId` of the device whose commit set it, when this device can tell. */
  readonly by: string | undefined;
}

/** What the current epoch changed: whether to write the record, and what to tell. */
export interface MetadataUpdate {
  readonly changed: boolean;
  /** The new metadata, and the device whose commit set it (when this device can tell). */
  readonly metadata?: GroupMetadata;
  readonly by?: string;
  readonly replaced?: readonly ReplacedChange[];
}

/**
 * Brings the record in line with the current epoch (`current`, held in full): an intent that
 * took effect is dropped, one that lost fields to another change is cut down to the others,
 * and new metadata is taken.
 */
export function followMetadata(
  record: RoomRecord,
  group: DmlsGroup,
  current: EpochNode,
): MetadataUpdate {
  if (current.held.kind !== 'full') return { changed: false };
  const metadata = metadataOf(current.held.state.context.extensions);
  let changed = false;
  let replaced: ReplacedChange[] = [];
  const intent = record.metadataIntent;
  // While the group is forked, this device's own branch may hold its change: wait for the merge.
  if (intent && group.tips().length === 1) {
    if (onChain(group, current, intent.epoch) || sameMetadata(intent.metadata, metadata)) {
      delete record.metadataIntent;
      changed = true;
    } else if (intent.from) {
      const from = intent.from;
      const lost = FIELDS.filter(
        (f) =>
          intent.metadata[f] !== from[f] &&
          metadata[f] !== from[f] &&
          metadata[f] !== intent.metadata[f],
      );
      if (lost.length > 0) {
        replaced = lost.map((field) => ({
          field,
          mine: intent.metadata[field],
          value: metadata[field],
          by: setBy(group, current, [field]),
        }));
        const kept = { ...metadata };
        for (const f of FIELDS) {
          if (!lost.includes(f) && intent.metadata[f] !== from[f])
            setField(kept, f, intent.metadata[f]);
        }
        if (sameMetadata(kept, metadata)) delete record.metadataIntent;
        else record.metadataIntent = { epoch: intent.epoch, metadata: kept, from: metadata };
        changed = true;
      }
    }
  }
  const told = replaced.length > 0 ? { replaced } : {};
  if (sameMetadata(metadata, record.metadata)) return { changed, ...told };
  const fields = FIELDS.filter((f) => metadata[f] !== record.metadata[f]);
  record.metadata = metadata;
  const by = setBy(group, current, fields);
  return { changed: true, metadata, ...(by !== undefined && { by }), ...told };
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

/**
 * The device whose commit gave `fields` the values they have at `current`: the creator of the
 * first epoch, back along the bases, that has them. Undefined when the walk reaches an epoch
 * whose state this device does not hold (one from before it joined, or one whose secrets are
 * gone), which might have had them already.
 */
function setBy(
  group: DmlsGroup,
  current: EpochNode,
  fields: readonly MetadataField[],
): string | undefined {
  const at = (node: EpochNode) =>
    node.held.kind === 'full' ? metadataOf(node.held.state.context.extensions) : undefined;
  const wanted = at(current)!;
  let setter = current;
  for (;;) {
    const base = baseOf(group, setter);
    const values = base && at(base);
    if (!values) return undefined;
    if (fields.some((f) => values[f] !== wanted[f])) return setter.id.creator;
    setter = base;
  }
}

function baseOf(group: DmlsGroup, node: EpochNode): EpochNode | undefined {
  return node.base === undefined ? undefined : group.epoch(node.base);
}

function setField(
  metadata: { name?: string; topic?: string },
  field: MetadataField,
  value: string | undefined,
): void {
  if (value === undefined) delete metadata[field];
  else metadata[field] = value;
}
