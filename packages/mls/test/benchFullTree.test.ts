/**
 * The full tree `npm run bench` measures on (bench/fullTree.ts) is what real commits leave: every
 * member of the group, each holding its own state, accepts every commit of the build with full
 * validation and ends in the same epoch; a new member joins it from a Welcome, which validates
 * every leaf signature and parent hash; and those parent hashes are really checked.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  createCommit,
  epochAuthenticator,
  joinFromWelcome,
  MlsError,
  processMessage,
  type GroupState,
} from '../src/index.js';
import { NodeType } from '../src/tree/nodes.js';
import { treeHash } from '../src/tree/treeHash.js';
import { validateRatchetTree } from '../src/tree/validation.js';
import { buildFullTree, treeIsFull } from '../bench/fullTree.js';
import { groupOf, keyPackageFor, suiteFor, welcomeOf } from './support/clients.js';
import { nodeCrypto } from '../src/index.js';
import { toHex } from '../src/util/bytes.js';

const suite = suiteFor(1, nodeCrypto);

/** A group of `n` members right after one commit added them all, and their KeyPackages. */
function sparseGroup(n: number) {
  const bundles = Array.from({ length: n - 1 }, (_, i) => keyPackageFor(suite, `member${i + 1}`));
  const [creator] = groupOf(suite, ['member0']);
  const created = createCommit(creator!, { add: bundles.map((b) => b.keyPackage) });
  const members: GroupState[] = [
    created.pending,
    ...bundles.map((b) => joinFromWelcome(nodeCrypto, welcomeOf(created), b)),
  ];
  return { creator: created.pending, bundles, members };
}

const authenticator = (state: GroupState) => toHex(epochAuthenticator(state));

for (const n of [16, 13]) {
  describe(`the bench's full tree of ${n} members`, () => {
    const { creator, bundles, members } = sparseGroup(n);
    // Every member follows the build with its own state: the committer adopts its commit's new
    // epoch, everyone else processes the commit (full validation of path and signatures).
    const committers: number[] = [];
    const full = buildFullTree(creator, bundles, (leaf, made) => {
      committers.push(leaf);
      members.forEach((state, i) => {
        if (i === leaf) {
          members[i] = made.pending;
          return;
        }
        const r = processMessage(state, made.commit);
        assert.equal(r.kind, 'commit', `leaf ${i} processes the commit of leaf ${leaf}`);
        if (r.kind === 'commit') members[i] = r.state;
      });
    });

    test('every member accepted every commit and holds the same epoch', () => {
      assert.equal(committers.length, full.commits);
      assert.equal(committers.length, Math.ceil(n / 2));
      assert.deepEqual(committers.slice(-2), [n - 1, 0], 'leaf N−1 then leaf 0 commit last');
      const expected = authenticator(full.observer);
      assert.equal(authenticator(full.committer), expected);
      for (const [i, state] of members.entries()) {
        assert.equal(authenticator(state), expected, `leaf ${i}`);
        assert.equal(toHex(state.context.treeHash), toHex(full.observer.context.treeHash));
      }
      assert.equal(full.observer.ownLeaf, 0);
      assert.equal(full.committer.ownLeaf, n - 1);
    });

    test('the tree is full: every split parent set, nothing unmerged', () => {
      assert.equal(treeIsFull(full.observer), true);
      assert.equal(treeIsFull(creator), false, 'the sparse tree is not');
    });

    test('a new member joins from a Welcome, validating the whole tree', () => {
      const newcomer = keyPackageFor(suite, 'newcomer');
      const added = createCommit(full.committer, { add: [newcomer.keyPackage] });
      const joined = joinFromWelcome(nodeCrypto, welcomeOf(added), newcomer);
      assert.equal(authenticator(joined), authenticator(added.pending));
      const observed = processMessage(full.observer, added.commit);
      assert.equal(observed.kind, 'commit');
      if (observed.kind === 'commit')
        assert.equal(authenticator(observed.state), authenticator(joined));
    });

    test('its parent hashes are checked: one altered parent hash is refused', () => {
      const { tree } = full.observer;
      const context = {
        suite,
        groupId: full.observer.context.groupId,
        extensions: full.observer.context.extensions,
      };
      validateRatchetTree(tree, { ...context, treeHash: treeHash(tree, suite.hash) });
      // Node 1, the parent of leaves 0 and 1, links leaf 0's path to node 3 above it.
      const node = 1;
      const parent = tree.parent(node);
      assert.ok(parent && parent.parentHash.length > 0, 'node 1 is set and linked upwards');
      const forged = tree.withNodes([
        [
          node,
          {
            nodeType: NodeType.parent,
            parent: { ...parent, parentHash: parent.parentHash.map((b) => b ^ 1) },
          },
        ],
      ]);
      assert.throws(
        () => validateRatchetTree(forged, { ...context, treeHash: treeHash(forged, suite.hash) }),
        (err) => err instanceof MlsError && err.code === 'BAD_PARENT_HASH',
      );
    });
  });
}
