/**
 * Array-based tree math (RFC 9420 Appendix C). Leaf `i` sits at node `2i`; interior nodes at odd
 * indices. `n` is always the number of leaves, a power of two in a ratchet tree (§7.8).
 * Node indices and leaf indices are both plain numbers: parameters say which they are.
 */

/** floor(log2(x)), with log2(0) = 0. */
export function log2(x: number): number {
  return x === 0 ? 0 : 31 - Math.clz32(x);
}

/** Leaves are level 0; a parent is one above its highest child. */
export function level(node: number): number {
  if ((node & 1) === 0) return 0;
  let k = 0;
  while (((node >> k) & 1) === 1) k++;
  return k;
}

export function isLeaf(node: number): boolean {
  return (node & 1) === 0;
}

export function leafToNode(leafIndex: number): number {
  return 2 * leafIndex;
}

export function nodeToLeaf(node: number): number {
  return node >>> 1;
}

/** Number of nodes in a tree of `n` leaves. */
export function nodeWidth(n: number): number {
  return n === 0 ? 0 : 2 * (n - 1) + 1;
}

export function root(n: number): number {
  return (1 << log2(nodeWidth(n))) - 1;
}

export function left(node: number): number {
  const k = level(node);
  if (k === 0) throw new RangeError(`leaf ${node} has no children`);
  return node ^ (1 << (k - 1));
}

export function right(node: number): number {
  const k = level(node);
  if (k === 0) throw new RangeError(`leaf ${node} has no children`);
  return node ^ (3 << (k - 1));
}

export function parent(node: number, n: number): number {
  if (node === root(n)) throw new RangeError(`root ${node} has no parent`);
  const k = level(node);
  const b = (node >> (k + 1)) & 1;
  return (node | (1 << k)) ^ (b << (k + 1));
}

export function sibling(node: number, n: number): number {
  const p = parent(node, n);
  return node < p ? right(p) : left(p);
}

/** Ancestors of `node`, from its parent up to the root. */
export function directPath(node: number, n: number): number[] {
  const r = root(n);
  const path: number[] = [];
  while (node !== r) {
    node = parent(node, n);
    path.push(node);
  }
  return path;
}

/** Siblings of `node` and of each of its ancestors below the root, bottom up. */
export function copath(node: number, n: number): number[] {
  const r = root(n);
  const path: number[] = [];
  while (node !== r) {
    path.push(sibling(node, n));
    node = parent(node, n);
  }
  return path;
}

/** The lowest node whose subtree holds both `a` and `b`. */
export function commonAncestor(a: number, b: number): number {
  const la = level(a) + 1;
  const lb = level(b) + 1;
  if (la <= lb && a >> lb === b >> lb) return b;
  if (lb <= la && a >> la === b >> la) return a;
  let k = 0;
  while (a !== b) {
    a >>= 1;
    b >>= 1;
    k++;
  }
  return (a << k) + (1 << (k - 1)) - 1;
}

/** Whether `node` lies in the subtree rooted at `ancestor`. */
export function isInSubtree(node: number, ancestor: number): boolean {
  const k = level(ancestor);
  return node >> (k + 1) === ancestor >> (k + 1);
}
