import type { EpochReader, GroupState } from '@trellis/mls';
import type { EpochId } from './ids.js';

/** What an epoch of this device's view still holds (see retention.ts). */
export type HeldSecrets =
  | { readonly kind: 'full'; readonly state: GroupState }
  | { readonly kind: 'messages'; readonly reader: EpochReader }
  | { readonly kind: 'none' };

/**
 * One epoch of the graph. It is named by the event of the commit that created it (the room's
 * create event for the first epoch) and pinned by that commit's confirmation tag.
 */
export interface EpochNode {
  /** MLS epoch number and creating device, for display and the wire's hints. */
  readonly id: EpochId;
  /** The commit event id: the epoch's name in the graph. */
  readonly key: string;
  /** Same as `key`; kept under the wire format's name. */
  readonly commitEvent: string;
  /** Hex of the creating commit's confirmation tag ('' when this device never saw it). */
  readonly tag: string;
  /** The epoch the commit was applied to; unknown for the epoch a device joined at. */
  readonly base?: string;
  /** Other tips the commit merged. */
  readonly resolves: readonly string[];
  /**
   * Signed parents this device did not know when it added the epoch (a Welcome's base and
   * resolved epochs from before it joined): no edge, but they count as ancestors.
   */
  readonly signedParents?: readonly string[];
  /** Members as `userId|deviceId` → leaf index; empty if this device is not one. */
  readonly members: ReadonlyMap<string, number>;
  /** Devices the creating commit added and removed (known when this device processed it). */
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly held: HeldSecrets;
  /** When the first successor appeared (ms); undefined while the epoch is a tip. */
  readonly supersededAt?: number;
  /** Created by this device's own commit. */
  readonly mine: boolean;
  /** Longest path from a root: parents always have a smaller one. */
  readonly generation: number;
}

export type NewNode = Omit<EpochNode, 'generation' | 'supersededAt' | 'commitEvent'> & {
  supersededAt?: number;
};

/**
 * The epochs one device knows and how commits link them. Edges only ever point at epochs
 * already present when the child is added, so the graph has no cycle and the newest epoch is
 * always a tip: no input can leave a device without one.
 */
export class EpochGraph {
  private readonly nodes = new Map<string, EpochNode>();
  /** Other event ids under which an epoch is known (a replayed commit, a Welcome's claim). */
  private readonly aliases = new Map<string, string>();
  private readonly byTag = new Map<string, string>();
  /** Epoch key → number of epochs naming it as base or in `resolves`. */
  private readonly successors = new Map<string, number>();

  get(event: string): EpochNode | undefined {
    return this.nodes.get(this.aliases.get(event) ?? event);
  }

  withTag(tag: string): EpochNode | undefined {
    const key = tag === '' ? undefined : this.byTag.get(tag);
    return key === undefined ? undefined : this.nodes.get(key);
  }

  alias(event: string, node: EpochNode): void {
    if (event !== node.key && !this.nodes.has(event)) this.aliases.set(event, node.key);
  }

  get size(): number {
    return this.nodes.size;
  }

  /** Grows whenever an epoch is added or comes to be held. */
  get version(): number {
    return this.changes;
  }
  private changes = 0;

  all(): EpochNode[] {
    return [...this.nodes.values()];
  }

  /** Epochs nothing builds on yet: no child, and named by no Welcome as a signed parent. */
  tips(): EpochNode[] {
    const named = new Set<string>();
    for (const n of this.nodes.values()) {
      for (const k of n.signedParents ?? []) named.add(this.get(k)?.key ?? k);
    }
    return this.all().filter((n) => !this.successors.has(n.key) && !named.has(n.key));
  }

  parents(node: EpochNode): EpochNode[] {
    const keys = node.base === undefined ? node.resolves : [node.base, ...node.resolves];
    return keys.map((k) => this.nodes.get(k)).filter((n): n is EpochNode => n !== undefined);
  }

  /**
   * Adds an epoch whose parents are all present; `now` marks them superseded. An epoch already
   * known (recorded before this device could hold it) is replaced, keeping the edges it had.
   */
  add(node: NewNode, now?: number): EpochNode {
    const old = this.nodes.get(node.key);
    const had = new Set(
      old ? [...(old.base !== undefined ? [old.base] : []), ...old.resolves] : [],
    );
    const parents = [...(node.base !== undefined ? [node.base] : []), ...node.resolves];
    if (parents.includes(node.key)) throw new Error(`epoch ${node.key} cannot be its own parent`);
    let generation = old?.generation ?? 0;
    for (const key of parents) {
      const parent = this.nodes.get(key);
      if (!parent) throw new Error(`epoch ${key} is not in the graph`);
      generation = Math.max(generation, parent.generation + 1);
    }
    const full: EpochNode = {
      ...node,
      commitEvent: node.key,
      generation,
      ...(old?.supersededAt !== undefined && { supersededAt: old.supersededAt }),
    };
    this.put(full);
    for (const key of parents) {
      if (had.has(key)) continue;
      this.successors.set(key, (this.successors.get(key) ?? 0) + 1);
      const parent = this.nodes.get(key)!;
      if (parent.supersededAt === undefined && now !== undefined) {
        this.nodes.set(key, { ...parent, supersededAt: now });
      }
    }
    return full;
  }

  /** Replaces an epoch's holdings or members; its place in the graph stays. */
  update(node: EpochNode): EpochNode {
    this.put(node);
    return node;
  }

  private put(node: EpochNode): void {
    const old = this.nodes.get(node.key);
    if (!old || (old.held.kind === 'none' && node.held.kind !== 'none')) this.changes++;
    this.nodes.set(node.key, node);
    if (node.tag !== '') this.byTag.set(node.tag, node.key);
  }

  /** Restores a stored graph (records come in any order; edges are re-counted). */
  load(nodes: readonly EpochNode[], aliases: readonly [string, string][]): void {
    for (const node of nodes) this.put(node);
    for (const node of nodes) {
      for (const key of [...(node.base !== undefined ? [node.base] : []), ...node.resolves]) {
        this.successors.set(key, (this.successors.get(key) ?? 0) + 1);
      }
    }
    for (const [event, key] of aliases) this.aliases.set(event, key);
  }

  aliasList(): [string, string][] {
    return [...this.aliases];
  }

  /**
   * For each of `heads`, the epochs of its own branch: its ancestors (itself included) that
   * are not ancestors of every head. Walks back in generation order and stops where all the
   * heads meet, so it costs the size of the fork, not of the history.
   */
  branches(heads: readonly EpochNode[]): Map<string, EpochNode[]> {
    const full = (1n << BigInt(heads.length)) - 1n;
    const reach = new Map<string, bigint>();
    const frontier: EpochNode[] = [];
    heads.forEach((head, i) => {
      const had = reach.get(head.key);
      if (had === undefined) frontier.push(head);
      reach.set(head.key, (had ?? 0n) | (1n << BigInt(i)));
    });
    const out = new Map<string, EpochNode[]>(heads.map((h) => [h.key, []]));
    while (frontier.some((n) => reach.get(n.key) !== full)) {
      // The highest generation first: all its descendants in the fork are done.
      frontier.sort((a, b) => b.generation - a.generation);
      const node = frontier.shift()!;
      const mask = reach.get(node.key)!;
      if (mask === full) continue;
      heads.forEach((head, i) => {
        if (mask & (1n << BigInt(i))) out.get(head.key)!.push(node);
      });
      for (const parent of this.parents(node)) {
        const had = reach.get(parent.key);
        if (had === undefined) frontier.push(parent);
        reach.set(parent.key, (had ?? 0n) | mask);
      }
    }
    return out;
  }

  /** Whether `ancestor` is `node` or one of its ancestors (signed parents included). */
  isAncestor(ancestor: EpochNode, node: EpochNode): boolean {
    const seen = new Set<string>();
    const stack = [node];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (n.key === ancestor.key) return true;
      if (seen.has(n.key)) continue;
      seen.add(n.key);
      for (const key of n.signedParents ?? []) {
        const parent = this.get(key);
        if (parent) stack.push(parent);
      }
      if (n.generation > ancestor.generation) stack.push(...this.parents(n));
    }
    return false;
  }
}
