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
  /** Epoch key → the epochs naming it as a parent (base, resolved or signed parent). */
  private readonly children = new Map<string, Set<string>>();
  /** Signed parents not in the graph yet → the epochs that name them. */
  private readonly unlinked = new Map<string, Set<string>>();

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
    return this.all().filter((n) => !this.children.has(n.key));
  }

  /** Epochs made on `node` as their base (not those that merely resolve it). */
  builtOn(node: EpochNode): EpochNode[] {
    const out: EpochNode[] = [];
    for (const key of this.children.get(node.key) ?? []) {
      const child = this.nodes.get(key);
      if (child?.base === node.key) out.push(child);
    }
    return out;
  }

  /** Signed parents of known epochs that are not known themselves: the client fetches them. */
  missingParents(): string[] {
    return [...this.unlinked.keys()];
  }

  parents(node: EpochNode): EpochNode[] {
    const keys = [
      ...(node.base !== undefined ? [node.base] : []),
      ...node.resolves,
      ...(node.signedParents ?? []),
    ];
    const out = new Map<string, EpochNode>();
    for (const k of keys) {
      const parent = this.get(k);
      if (parent && parent.key !== node.key && this.children.get(parent.key)?.has(node.key)) {
        out.set(parent.key, parent);
      }
    }
    return [...out.values()];
  }

  /**
   * Adds an epoch whose parents are all present; `now` marks them superseded. An epoch already
   * known (recorded before this device could hold it) is replaced, keeping the edges it had.
   * Signed parents may be absent: they are linked when they arrive.
   */
  add(node: NewNode, now?: number): EpochNode {
    const old = this.nodes.get(node.key);
    const parents = [...(node.base !== undefined ? [node.base] : []), ...node.resolves];
    if (parents.includes(node.key)) throw new Error(`epoch ${node.key} cannot be its own parent`);
    for (const key of parents) {
      if (!this.nodes.has(key)) throw new Error(`epoch ${key} is not in the graph`);
    }
    const full: EpochNode = {
      ...node,
      commitEvent: node.key,
      generation: old?.generation ?? 0, // raised by the links below
      ...(old?.supersededAt !== undefined && { supersededAt: old.supersededAt }),
    };
    this.put(full);
    for (const key of parents) this.link(key, full.key, now);
    this.linkSigned(full, now);
    // Epochs that named this one as a signed parent before it was known.
    const waiting = this.unlinked.get(full.key);
    this.unlinked.delete(full.key);
    for (const child of waiting ?? []) this.link(full.key, child, now);
    return this.nodes.get(full.key)!;
  }

  /** Replaces an epoch's holdings, members or signed parents; its edges stay. */
  update(node: EpochNode): EpochNode {
    this.put(node);
    this.linkSigned(node);
    return this.nodes.get(node.key)!;
  }

  private linkSigned(node: EpochNode, now?: number): void {
    for (const event of node.signedParents ?? []) {
      const parent = this.get(event);
      if (parent) this.link(parent.key, node.key, now);
      else if (!this.nodes.has(event)) {
        if (!this.unlinked.has(event)) this.unlinked.set(event, new Set());
        this.unlinked.get(event)!.add(node.key);
      }
    }
  }

  /**
   * Makes `parentKey` a parent of `childKey`. A link that would close a cycle (only unchecked
   * signed data could ask for one) is not made. The child and its descendants move to a higher
   * generation where the new parent requires it, so parents always keep a smaller one.
   */
  private link(parentKey: string, childKey: string, now?: number): void {
    const kids = this.children.get(parentKey);
    if (kids?.has(childKey)) return;
    const parent = this.nodes.get(parentKey)!;
    const child = this.nodes.get(childKey)!;
    if (parentKey === childKey) return;
    if (this.children.has(childKey) && this.isAncestor(child, parent)) return;
    if (kids) kids.add(childKey);
    else this.children.set(parentKey, new Set([childKey]));
    if (parent.supersededAt === undefined && now !== undefined) {
      this.nodes.set(parentKey, { ...parent, supersededAt: now });
    }
    const stack: [string, number][] = [[childKey, parent.generation + 1]];
    while (stack.length > 0) {
      const [key, at] = stack.pop()!;
      const n = this.nodes.get(key)!;
      if (n.generation >= at) continue;
      this.nodes.set(key, { ...n, generation: at });
      for (const c of this.children.get(key) ?? []) stack.push([c, at + 1]);
    }
  }

  private put(node: EpochNode): void {
    const old = this.nodes.get(node.key);
    if (!old || (old.held.kind === 'none' && node.held.kind !== 'none')) this.changes++;
    // Generations are the graph's own (raised by links): a caller's copy may be older.
    this.nodes.set(node.key, old ? { ...node, generation: old.generation } : node);
    if (node.tag !== '') this.byTag.set(node.tag, node.key);
  }

  /** Restores a stored graph (records come in any order; edges are re-counted). */
  load(nodes: readonly EpochNode[], aliases: readonly [string, string][]): void {
    for (const node of nodes) this.nodes.set(node.key, node);
    for (const node of nodes) if (node.tag !== '') this.byTag.set(node.tag, node.key);
    for (const [event, key] of aliases) this.aliases.set(event, key);
    for (const node of nodes) {
      for (const key of [...(node.base !== undefined ? [node.base] : []), ...node.resolves]) {
        if (!this.children.has(key)) this.children.set(key, new Set());
        this.children.get(key)!.add(node.key);
      }
    }
    for (const node of nodes) this.linkSigned(node);
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

  /**
   * Signed parents not known yet within the fork of `heads` (their epochs down to where they
   * meet): until they are fetched, how the heads relate, and what their branches removed, is
   * not known for certain, and a device deciding then could decide otherwise than the others.
   */
  gaps(heads: readonly EpochNode[]): string[] {
    const out = new Set<string>();
    for (const branch of this.branches(heads).values()) {
      for (const n of branch) for (const p of n.signedParents ?? []) if (!this.get(p)) out.add(p);
    }
    return [...out];
  }

  /** Whether `ancestor` is `node` or one of its ancestors (signed parents included). */
  isAncestor(ancestor: EpochNode, node: EpochNode): boolean {
    const target = this.nodes.get(ancestor.key) ?? ancestor;
    const seen = new Set<string>();
    const stack = [this.nodes.get(node.key) ?? node];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (n.key === target.key) return true;
      if (seen.has(n.key)) continue;
      seen.add(n.key);
      if (n.generation > target.generation) stack.push(...this.parents(n));
    }
    return false;
  }
}
