/**
 * A room's epoch graph as text, oldest epoch first, one line per epoch, with lanes in the
 * manner of `git log --graph`: a fork opens a lane, a resolving commit closes the lanes of the
 * tips it merges.
 *
 *   ● epoch 0  alice|LAPTOP  $create
 *   ├─╮
 *   ● │ epoch 1  alice|PHONE  $a1   (secrets: messages)
 *   │ ● epoch 1  bob|DESK  $b1
 *   ├─╯
 *   ● epoch 2  bob|DESK  $c2   resolves 1 alice|PHONE   (tip)
 */
import type { EpochNode } from '@trellis/dmls';

export interface EpochGraphOptions {
  /** Key of the epoch this device sends in, marked "current". */
  readonly current?: string;
  /** Shortens a `userId|deviceId` for display (default: as it is). */
  readonly device?: (identity: string) => string;
}

/** Graph drawing characters for a connector row, by what a lane does there. */
const JOIN = {
  /** The node's own lane when it is new (a fork opens it). */
  opened: { lo: '╭', hi: '╮', mid: '┬' },
  /** A lane that runs on through the row (the node's inherited lane, or a base with more children). */
  through: { lo: '├', hi: '┤', mid: '┼' },
  /** A merged tip's lane, ending here. */
  closed: { lo: '╰', hi: '╯', mid: '┴' },
} as const;

export function drawEpochGraph(
  nodes: readonly EpochNode[],
  options: EpochGraphOptions = {},
): string {
  const show = options.device ?? ((identity: string) => identity);
  const present = new Set(nodes.map((n) => n.key));
  const parentsOf = (n: EpochNode) =>
    [...(n.base !== undefined ? [n.base] : []), ...n.resolves].filter((p) => present.has(p));
  const ordered = [...nodes].sort(
    (a, b) =>
      (a.id.epoch < b.id.epoch ? -1 : a.id.epoch > b.id.epoch ? 1 : 0) ||
      (a.commitEvent < b.commitEvent ? -1 : a.commitEvent > b.commitEvent ? 1 : 0),
  );
  // Children still to be drawn, per epoch: its lane stays open until they are.
  const pending = new Map<string, number>();
  for (const n of ordered) for (const p of parentsOf(n)) pending.set(p, (pending.get(p) ?? 0) + 1);
  const hasChildren = new Set(pending.keys());
  const byKey = new Map(nodes.map((n) => [n.key, n]));

  const lanes: (string | undefined)[] = [];
  const lines: string[] = [];
  const freeLane = () => {
    const i = lanes.indexOf(undefined);
    return i >= 0 ? i : lanes.length;
  };

  for (const node of ordered) {
    const parents = parentsOf(node);
    for (const p of parents) pending.set(p, pending.get(p)! - 1);
    const parentLanes = parents
      .map((p) => ({ key: p, lane: lanes.indexOf(p), done: pending.get(p) === 0 }))
      .filter((p) => p.lane >= 0);
    // The node inherits the leftmost lane of the parents it is the last child of; otherwise it
    // opens one (a fork: the base's lane stays open for its other children).
    const doneLanes = parentLanes.filter((p) => p.done).map((p) => p.lane);
    const inherited = doneLanes.length > 0;
    const column = inherited ? Math.min(...doneLanes) : freeLane();

    const involved = new Map<number, keyof typeof JOIN>();
    for (const p of parentLanes) involved.set(p.lane, p.done ? 'closed' : 'through');
    involved.set(column, inherited ? 'through' : 'opened');
    if (involved.size > 1) {
      const lo = Math.min(...involved.keys());
      const hi = Math.max(...involved.keys());
      const width = Math.max(lanes.length, column + 1);
      let row = '';
      for (let i = 0; i < width; i++) {
        const role = involved.get(i);
        const inside = i >= lo && i <= hi;
        const cell = role
          ? JOIN[role][i === lo ? 'lo' : i === hi ? 'hi' : 'mid']
          : inside
            ? '─'
            : lanes[i] !== undefined
              ? '│'
              : ' ';
        row += cell + (i < hi && i >= lo ? '─' : ' ');
      }
      lines.push(row.trimEnd());
    }

    for (const p of parentLanes) if (p.done && p.lane !== column) lanes[p.lane] = undefined;
    lanes[column] = node.key;
    while (lanes.length > 0 && lanes[lanes.length - 1] === undefined) lanes.pop();
    let row = '';
    for (let i = 0; i < lanes.length; i++) {
      row += (i === column ? '●' : lanes[i] !== undefined ? '│' : ' ') + ' ';
    }
    lines.push(`${row}${describe(node)}`);
    if ((pending.get(node.key) ?? 0) === 0) lanes[column] = undefined;
    while (lanes.length > 0 && lanes[lanes.length - 1] === undefined) lanes.pop();
  }
  return lines.join('\n');

  function describe(node: EpochNode): string {
    const parts = [`epoch ${node.id.epoch}`, show(node.id.creator), node.commitEvent];
    const merged = node.resolves
      .map((key) => byKey.get(key))
      .filter((n) => n !== undefined)
      .map((n) => `${n.id.epoch} ${show(n.id.creator)}`);
    if (merged.length > 0) parts.push(`resolves ${merged.join(', ')}`);
    const notes: string[] = [];
    if (!hasChildren.has(node.key)) notes.push('tip');
    if (node.key === options.current) notes.push('current');
    if (node.held.kind !== 'full') notes.push(`secrets: ${node.held.kind}`);
    if (node.members.size === 0) notes.push('not a member');
    return `${parts.join('  ')}${notes.length > 0 ? `   (${notes.join(', ')})` : ''}`;
  }
}
