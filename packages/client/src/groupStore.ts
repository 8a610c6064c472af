/**
 * A room's dMLS group in the store: one record per epoch (its place in the graph as JSON, its
 * secrets apart, so that retention deletes exactly an epoch's secrets) and the group's own
 * record. Only the epochs that changed since the last write are written again.
 */
import {
  DmlsGroup,
  fromBase64,
  toBase64,
  type DmlsGroupOptions,
  type DmlsSnapshot,
  type EpochRecord,
} from '@trellis/dmls';
import { createHash } from 'node:crypto';
import { ClientError } from './errors.js';
import type { Store } from './store.js';

/** The version of stored group snapshots this client reads. */
const SNAPSHOT_VERSION = 2;

export class GroupStore {
  /** Per epoch: a hash of what was last written, so only changed epochs are rewritten. */
  private readonly written = new Map<string, string>();
  /** Epochs of a stored group this version refused: the next group written replaces them. */
  private stale: string[] = [];

  constructor(
    private readonly store: Store,
    private readonly roomId: string,
  ) {}

  /**
   * The stored group, if any. A group stored by an older version is refused, saying so
   * (`refused` is then true); pre-release versions are not migrated.
   */
  load(options: DmlsGroupOptions): DmlsGroup | undefined {
    const stored = this.store.group(this.roomId);
    if (!stored) return undefined;
    const meta = JSON.parse(stored.meta) as DmlsSnapshot['meta'];
    const version: unknown = meta.version;
    if (version !== SNAPSHOT_VERSION) {
      this.stale = stored.epochs.map((e) => e.key);
      throw new ClientError(
        'NOT_READY',
        `the group of ${this.roomId} was stored by an older Trellis (snapshot version ` +
          `${String(version)}; this one reads version ${SNAPSHOT_VERSION}): this device asks ` +
          'to be added to the group again',
      );
    }
    const epochs = stored.epochs.map((e) => {
      this.written.set(e.key, fingerprint(e.record, e.secrets));
      return {
        ...(JSON.parse(e.record) as EpochRecord),
        ...(e.secrets && { secrets: toBase64(e.secrets) }),
      };
    });
    return DmlsGroup.restore(options, { meta, epochs });
  }

  /** Writes the epochs that changed since the last write, and the group's own record. */
  save(group: DmlsGroup): void {
    const snapshot = group.snapshot();
    const upsert = [];
    for (const { secrets, ...graph } of snapshot.epochs) {
      const record = JSON.stringify(graph);
      const bytes = secrets === undefined ? undefined : fromBase64(secrets, 'secrets');
      const print = fingerprint(record, bytes);
      if (this.written.get(graph.key) === print) continue;
      upsert.push({ key: graph.key, record, ...(bytes && { secrets: bytes }) });
      this.written.set(graph.key, print);
    }
    const remove = this.stale.filter((key) => !this.written.has(key));
    this.store.saveGroup(this.roomId, JSON.stringify(snapshot.meta), upsert, remove);
    if (remove.length > 0) this.store.scrub();
    this.stale = [];
  }

  /** Whether the stored group was refused as written by an older version. */
  get refused(): boolean {
    return this.stale.length > 0;
  }
}

function fingerprint(record: string, secrets: Uint8Array | undefined): string {
  const hash = createHash('sha256').update(record).update('\0');
  if (secrets) hash.update(secrets);
  return hash.digest('base64');
}
