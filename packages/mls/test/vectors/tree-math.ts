/** tree-math.json: RFC 9420 Appendix C array-tree relations for every node. */
import * as math from '../../src/tree/math.js';
import { expectEqual, type VectorSuite } from './harness.js';

interface TreeMathEntry {
  n_leaves: number;
  n_nodes: number;
  root: number;
  left: (number | null)[];
  right: (number | null)[];
  parent: (number | null)[];
  sibling: (number | null)[];
}

const suite: VectorSuite = {
  file: 'tree-math.json',
  check(entry: TreeMathEntry) {
    const n = entry.n_leaves;
    expectEqual(math.nodeWidth(n), entry.n_nodes, 'node width');
    expectEqual(math.root(n), entry.root, 'root');
    for (let x = 0; x < entry.n_nodes; x++) {
      const isLeaf = math.isLeaf(x);
      expectEqual(isLeaf ? null : math.left(x), entry.left[x], `left(${x})`);
      expectEqual(isLeaf ? null : math.right(x), entry.right[x], `right(${x})`);
      const isRoot = x === math.root(n);
      expectEqual(isRoot ? null : math.parent(x, n), entry.parent[x], `parent(${x})`);
      expectEqual(isRoot ? null : math.sibling(x, n), entry.sibling[x], `sibling(${x})`);
    }
  },
};
export default suite;
