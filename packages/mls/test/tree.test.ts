/**
 * Ratchet tree operations, TreeKEM, parent hashes and tree validation: a small group is grown
 * with the real operations, then trees and paths are tampered with one field at a time.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encode } from '../src/codec/index.js';
import { basicCredential } from '../src/credentials/credential.js';
import { nodeCrypto } from '../src/crypto/node.js';
import type { KeyPair } from '../src/crypto/provider.js';
import { cipherSuite, type CipherSuite } from '../src/crypto/suites.js';
import { MlsError, type MlsErrorCode } from '../src/errors.js';
import { requiredCapabilitiesCodec } from '../src/extensions/bodies.js';
import { ExtensionType } from '../src/extensions/extension.js';
import { ProtocolVersion } from '../src/framing/content.js';
import { groupContextCodec } from '../src/messages/groupContext.js';
import { LeafNodeSource, type LeafNode } from '../src/messages/leafNode.js';
import type { UpdatePath } from '../src/messages/updatePath.js';
import {
  signLeafNode,
  validateLeafNode,
  type LeafValidationContext,
} from '../src/tree/leafNodeValidation.js';
import * as math from '../src/tree/math.js';
import { NodeType, ratchetTreeCodec, type NodeSlot } from '../src/tree/nodes.js';
import { applyAdd, applyRemove, applyUpdate } from '../src/tree/operations.js';
import { originalSiblingTreeHash, verifyParentHashes } from '../src/tree/parentHash.js';
import { PrivateKeys } from '../src/tree/privateKeys.js';
import { RatchetTree } from '../src/tree/ratchetTree.js';
import { treeHash } from '../src/tree/treeHash.js';
import {
  applyUpdatePath,
  createUpdatePath,
  pathSecretForNewMember,
  privateKeysFromPathSecret,
  type UpdatePathContext,
} from '../src/tree/treekem.js';
import { validateRatchetTree } from '../src/tree/validation.js';
import { EMPTY, toHex, utf8 } from '../src/util/bytes.js';
import { PROVIDERS } from './providers.js';

const GROUP_ID = utf8('tree tests');

function expectMlsError(fn: () => unknown, code: MlsErrorCode): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof MlsError, `expected MlsError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

function flip(bytes: Uint8Array, at = 0): Uint8Array {
  const out = bytes.slice();
  out[at] = out[at]! ^ 1;
  return out;
}

function encodeTree(tree: RatchetTree): string {
  return toHex(encode(ratchetTreeCodec, tree.toNodeList()));
}

interface Client {
  name: string;
  signature: KeyPair;
  encryption: KeyPair;
  keyPackageLeaf: LeafNode;
}

function newClient(suite: CipherSuite, name: string, credentials = [1]): Client {
  const signature = suite.signature.generateKeyPair();
  const encryption = suite.kem.generateKeyPair();
  const keyPackageLeaf = signLeafNode(suite, signature.privateKey, {
    encryptionKey: encryption.publicKey,
    signatureKey: signature.publicKey,
    credential: basicCredential(utf8(name)),
    capabilities: {
      versions: [ProtocolVersion.mls10],
      cipherSuites: [suite.id],
      extensions: [],
      proposals: [],
      credentials,
    },
    leafNodeSource: LeafNodeSource.key_package,
    lifetime: { notBefore: 1000n, notAfter: 2000n },
    extensions: [],
    signature: EMPTY,
  });
  return { name, signature, encryption, keyPackageLeaf };
}

/** A group's public tree and every member's private keys, moved forward with the real code. */
class TestGroup {
  readonly members = new Map<number, { client: Client; keys: PrivateKeys }>();
  epoch = 0n;

  constructor(
    readonly suite: CipherSuite,
    public tree: RatchetTree,
  ) {}

  static create(suite: CipherSuite, names: string[]): TestGroup {
    const [first, ...rest] = names.map((n) => newClient(suite, n));
    const group = new TestGroup(suite, RatchetTree.single(first!.keyPackageLeaf));
    group.members.set(0, { client: first!, keys: PrivateKeys.forLeaf(0, first!.encryption) });
    group.addAndCommit(0, rest);
    return group;
  }

  context(): Omit<UpdatePathContext, 'newMembers'> {
    return {
      suite: this.suite,
      groupId: GROUP_ID,
      provisionalGroupContext: (th) =>
        encode(groupContextCodec, {
          version: ProtocolVersion.mls10,
          cipherSuite: this.suite.id,
          groupId: GROUP_ID,
          epoch: this.epoch + 1n,
          treeHash: th,
          confirmedTranscriptHash: utf8('transcript'),
          extensions: [],
        }),
    };
  }

  add(clients: Client[]): number[] {
    return clients.map((client) => {
      const { tree, leafIndex } = applyAdd(this.tree, client.keyPackageLeaf);
      this.tree = tree;
      this.members.set(leafIndex, {
        client,
        keys: PrivateKeys.forLeaf(leafIndex, client.encryption),
      });
      return leafIndex;
    });
  }

  /** Adds `clients` and commits with a path from `committer`; every member checks the result. */
  addAndCommit(committer: number, clients: Client[]): void {
    const newMembers = this.add(clients);
    this.commit(committer, newMembers);
  }

  commit(committer: number, newMembers: number[] = []) {
    const self = this.members.get(committer)!;
    const before = this.tree;
    const leaf = before.leaf(committer)!;
    const created = createUpdatePath({
      ...this.context(),
      newMembers,
      tree: before,
      leafIndex: committer,
      leafNode: leaf,
      signaturePrivateKey: self.client.signature.privateKey,
    });
    for (const [leafIndex, member] of this.members) {
      if (leafIndex === committer) continue;
      if (newMembers.includes(leafIndex)) {
        const secret = pathSecretForNewMember(created, committer, leafIndex)!;
        member.keys = privateKeysFromPathSecret(
          this.suite,
          created.tree,
          member.keys,
          committer,
          secret.pathSecret,
        );
        continue;
      }
      const applied = applyUpdatePath({
        ...this.context(),
        newMembers,
        tree: before,
        senderLeafIndex: committer,
        updatePath: created.updatePath,
        extensions: [],
        privateKeys: member.keys,
      });
      assert.equal(toHex(applied.commitSecret), toHex(created.commitSecret));
      assert.equal(toHex(applied.treeHash), toHex(created.treeHash));
      member.keys = applied.privateKeys;
    }
    self.keys = created.privateKeys;
    this.tree = created.tree;
    this.epoch++;
    this.checkKeys();
    return created;
  }

  /** Tree invariant: each member holds exactly the keys of its non-blank, merged ancestors. */
  checkKeys(): void {
    for (const [leafIndex, { keys }] of this.members) {
      for (const node of keys.nodes) {
        assert.ok(keys.forNode(this.tree, node), `leaf ${leafIndex} key for ${node} is current`);
      }
      for (const node of this.tree.directPath(leafIndex)) {
        const parent = this.tree.parent(node);
        const expected = parent !== undefined && !parent.unmergedLeaves.includes(leafIndex);
        assert.equal(
          keys.forNode(this.tree, node) !== undefined,
          expected,
          `leaf ${leafIndex} node ${node}`,
        );
      }
    }
  }

  validate(tree = this.tree): void {
    validateRatchetTree(tree, {
      suite: this.suite,
      groupId: GROUP_ID,
      treeHash: treeHash(tree, this.suite.hash),
      extensions: [],
    });
  }
}

const suite = cipherSuite(1, nodeCrypto);

/**
 * An eight-member group after two commits: leaf 7 was added without a path, so it is unmerged at
 * the root and at node 11, while node 13 is blank.
 */
function grownGroup(): TestGroup {
  const group = TestGroup.create(suite, ['a', 'b', 'c', 'd', 'e', 'f', 'g']);
  group.commit(4);
  group.add([newClient(suite, 'h')]);
  assert.deepEqual(group.tree.parent(7)!.unmergedLeaves, [7]);
  assert.deepEqual(group.tree.parent(11)!.unmergedLeaves, [7]);
  assert.ok(group.tree.isBlank(13));
  return group;
}

describe('TreeKEM round trips', () => {
  for (const provider of PROVIDERS) {
    test(`${provider.name}: members agree on every commit and the tree stays valid`, () => {
      const s = cipherSuite(1, provider);
      const group = TestGroup.create(s, ['a', 'b', 'c']);
      group.validate();
      group.addAndCommit(1, [newClient(s, 'd'), newClient(s, 'e')]);
      group.validate();
      group.commit(4);
      group.add([newClient(s, 'f')]);
      group.validate(); // unmerged leaf f: original sibling tree hashes must leave it out
      group.commit(0);
      group.validate();
      group.tree = applyRemove(group.tree, 2);
      group.members.delete(2);
      group.commit(5);
      group.validate();
    });
  }

  test('a path skipping blank copath subtrees encrypts to nobody there', () => {
    const group = TestGroup.create(suite, ['a', 'b', 'c', 'd', 'e']);
    for (const leaf of [1, 2, 3]) {
      group.tree = applyRemove(group.tree, leaf);
      group.members.delete(leaf);
    }
    // Leaf 0's copath children 1 and 5 are blank subtrees: only the root is on its path.
    assert.deepEqual(
      group.tree.filteredDirectPath(0).map((p) => p.node),
      [7],
    );
    const created = group.commit(0);
    assert.equal(created.updatePath.nodes.length, 1);
    group.validate();
  });

  test('new members get no ciphertext but derive the path keys from the Welcome secret', () => {
    const group = TestGroup.create(suite, ['a', 'b']);
    const newMembers = group.add([newClient(suite, 'c')]);
    const created = group.commit(0, newMembers);
    // Copath of leaf 0 at the root is node 5, whose resolution is only the new leaf 2.
    assert.deepEqual(
      created.updatePath.nodes.map((n) => n.encryptedPathSecret.length),
      [1, 0],
    );
    const keys = group.members.get(2)!.keys;
    assert.ok(keys.forNode(group.tree, 3), 'c holds the root key');
  });
});

describe('tree validation', () => {
  const group = grownGroup();
  const tree = group.tree;

  test('a grown tree is valid', () => {
    group.validate();
    assert.ok(tree.parent(tree.root)!.unmergedLeaves.length > 0, 'the test has unmerged leaves');
  });

  test('a wrong tree hash fails with BAD_TREE_HASH', () => {
    expectMlsError(
      () =>
        validateRatchetTree(tree, {
          suite,
          groupId: GROUP_ID,
          treeHash: flip(treeHash(tree, suite.hash)),
          extensions: [],
        }),
      'BAD_TREE_HASH',
    );
  });

  test('an altered parent hash fails with BAD_PARENT_HASH', () => {
    for (let node = 1; node < tree.nodeCount; node += 2) {
      const parent = tree.parent(node);
      if (parent === undefined) continue;
      const altered = tree.withNodes([
        [
          node,
          {
            nodeType: NodeType.parent,
            parent: {
              ...parent,
              parentHash: flip(parent.parentHash.length ? parent.parentHash : new Uint8Array(32)),
            },
          },
        ],
      ]);
      expectMlsError(() => group.validate(altered), 'BAD_PARENT_HASH');
    }
  });

  test('a parent key replaced by another fails with BAD_PARENT_HASH', () => {
    const parent = tree.parent(tree.root)!;
    const altered = tree.withNodes([
      [
        tree.root,
        {
          nodeType: NodeType.parent,
          parent: { ...parent, encryptionKey: suite.kem.generateKeyPair().publicKey },
        },
      ],
    ]);
    expectMlsError(() => group.validate(altered), 'BAD_PARENT_HASH');
  });

  test('an altered leaf signature fails with BAD_SIGNATURE', () => {
    for (const [leafIndex, leaf] of tree.members()) {
      const altered = tree.withLeaf(leafIndex, { ...leaf, signature: flip(leaf.signature, 5) });
      expectMlsError(() => group.validate(altered), 'BAD_SIGNATURE');
    }
  });

  test('a leaf at an odd position fails with INVALID_TREE', () => {
    const nodes = tree.toNodeList();
    const leaf = nodes[0]!;
    const swapped: NodeSlot[] = [nodes[1], leaf, ...nodes.slice(2)];
    expectMlsError(() => RatchetTree.fromNodeList(swapped), 'INVALID_TREE');
  });

  test('inconsistent unmerged leaves fail with INVALID_TREE', () => {
    const root = tree.parent(tree.root)!;
    const node11 = tree.parent(11)!;
    const parentSlot = (parent: typeof root): NodeSlot => ({ nodeType: NodeType.parent, parent });
    const cases: RatchetTree[] = [
      // Unmerged at the root but not at the non-blank node 11 between.
      tree.withNodes([[11, parentSlot({ ...node11, unmergedLeaves: [] })]]),
      // A leaf outside the node's subtree.
      tree.withNodes([[1, parentSlot({ ...tree.parent(1)!, unmergedLeaves: [3] })]]),
      // A blank leaf.
      tree.withLeaf(7, undefined),
      // Not strictly ascending.
      tree.withNodes([[tree.root, parentSlot({ ...root, unmergedLeaves: [7, 7] })]]),
    ];
    for (const bad of cases) expectMlsError(() => group.validate(bad), 'INVALID_TREE');
  });

  test('a parent key repeated in another node fails with DUPLICATE_KEY', () => {
    const leafKey = tree.leaf(0)!.encryptionKey;
    const altered = tree.withNodes([
      [
        tree.root,
        {
          nodeType: NodeType.parent,
          parent: { ...tree.parent(tree.root)!, encryptionKey: leafKey },
        },
      ],
    ]);
    expectMlsError(() => group.validate(altered), 'DUPLICATE_KEY');
  });

  test('a parent key of 300 KB fails like any altered key, without overflowing the stack', () => {
    const altered = tree.withNodes([
      [
        tree.root,
        {
          nodeType: NodeType.parent,
          parent: { ...tree.parent(tree.root)!, encryptionKey: new Uint8Array(300_000).fill(7) },
        },
      ],
    ]);
    expectMlsError(() => group.validate(altered), 'BAD_PARENT_HASH');
  });

  test('original sibling tree hash leaves out the unmerged leaves, without touching the tree', () => {
    const g = TestGroup.create(suite, ['a', 'b', 'c', 'd', 'e', 'f', 'g']);
    g.commit(4);
    const beforeAdd = g.tree;
    g.add([newClient(suite, 'h')]);
    const after = g.tree;
    const encoded = encodeTree(after);
    const right = math.right(after.root);
    const unmerged = after.parent(after.root)!.unmergedLeaves;
    const original = originalSiblingTreeHash(after, suite.hash, right, unmerged);
    // As the subtree was when the root was last set, and unlike it is now.
    assert.equal(toHex(original), toHex(treeHash(beforeAdd, suite.hash, right)));
    assert.notEqual(toHex(original), toHex(treeHash(after, suite.hash, right)));
    assert.equal(encodeTree(after), encoded);
    assert.equal(
      toHex(treeHash(after, suite.hash)),
      toHex(treeHash(RatchetTree.fromNodeList(after.toNodeList()), suite.hash)),
    );
  });
});

describe('UpdatePath processing', () => {
  const group = grownGroup();
  const committer = 1;
  const receiver = 6;
  const created = createUpdatePath({
    ...group.context(),
    tree: group.tree,
    leafIndex: committer,
    leafNode: group.tree.leaf(committer)!,
    signaturePrivateKey: group.members.get(committer)!.client.signature.privateKey,
  });
  const apply = (updatePath: UpdatePath, at = receiver) =>
    applyUpdatePath({
      ...group.context(),
      tree: group.tree,
      senderLeafIndex: committer,
      updatePath,
      extensions: [],
      privateKeys: group.members.get(at)!.keys,
    });

  test('the untampered path applies', () => {
    assert.equal(toHex(apply(created.updatePath).commitSecret), toHex(created.commitSecret));
  });

  test('a path with a node too many or too few fails with INVALID_PATH', () => {
    const nodes = created.updatePath.nodes;
    expectMlsError(() => apply({ ...created.updatePath, nodes: nodes.slice(1) }), 'INVALID_PATH');
    expectMlsError(
      () => apply({ ...created.updatePath, nodes: [...nodes, nodes[0]!] }),
      'INVALID_PATH',
    );
  });

  test('a node with the wrong number of ciphertexts fails with INVALID_PATH', () => {
    const nodes = created.updatePath.nodes.map((n, i) =>
      i === 0
        ? { ...n, encryptedPathSecret: [...n.encryptedPathSecret, n.encryptedPathSecret[0]!] }
        : n,
    );
    expectMlsError(() => apply({ ...created.updatePath, nodes }), 'INVALID_PATH');
  });

  test('a tampered encrypted path secret fails to decrypt', () => {
    const nodes = created.updatePath.nodes.map((n) => ({
      ...n,
      encryptedPathSecret: n.encryptedPathSecret.map((c) => ({
        ...c,
        ciphertext: flip(c.ciphertext, 3),
      })),
    }));
    expectMlsError(() => apply({ ...created.updatePath, nodes }), 'AEAD_FAILURE');
  });

  test('a path secret that does not yield the sent key fails with INVALID_PATH', () => {
    // Re-encrypt a different secret to the receiver: decryption works, the keys do not match.
    const other = createUpdatePath({
      ...group.context(),
      tree: group.tree,
      leafIndex: committer,
      leafNode: group.tree.leaf(committer)!,
      signaturePrivateKey: group.members.get(committer)!.client.signature.privateKey,
    });
    const nodes = created.updatePath.nodes.map((n, i) => ({
      ...n,
      encryptedPathSecret: other.updatePath.nodes[i]!.encryptedPathSecret,
    }));
    // The ciphertexts were made under the other tree's context, so use the other's context too.
    expectMlsError(
      () =>
        applyUpdatePath({
          ...group.context(),
          provisionalGroupContext: () => group.context().provisionalGroupContext(other.treeHash),
          tree: group.tree,
          senderLeafIndex: committer,
          updatePath: { ...created.updatePath, nodes },
          extensions: [],
          privateKeys: group.members.get(receiver)!.keys,
        }),
      'INVALID_PATH',
    );
  });

  test('a swapped path key breaks the leaf parent hash', () => {
    const nodes = created.updatePath.nodes.map((n, i) =>
      i === created.updatePath.nodes.length - 1
        ? { ...n, encryptionKey: suite.kem.generateKeyPair().publicKey }
        : n,
    );
    expectMlsError(() => apply({ ...created.updatePath, nodes }), 'BAD_PARENT_HASH');
  });

  test('a path key already in the tree fails with DUPLICATE_KEY', () => {
    const nodes = created.updatePath.nodes.map((n, i) =>
      i === 0 ? { ...n, encryptionKey: group.tree.leaf(5)!.encryptionKey } : n,
    );
    expectMlsError(() => apply({ ...created.updatePath, nodes }), 'DUPLICATE_KEY');
  });

  test('a forged committer leaf fails with BAD_SIGNATURE, a non-commit one with INVALID_LEAF_NODE', () => {
    const leaf = created.updatePath.leafNode;
    expectMlsError(
      () =>
        apply({ ...created.updatePath, leafNode: { ...leaf, signature: flip(leaf.signature) } }),
      'BAD_SIGNATURE',
    );
    expectMlsError(
      () =>
        apply({
          ...created.updatePath,
          leafNode: { ...leaf, leafNodeSource: LeafNodeSource.update },
        }),
      'INVALID_LEAF_NODE',
    );
  });

  test('the committed tree has a valid parent-hash chain', () => {
    verifyParentHashes(created.tree, suite.hash);
    group.validate(created.tree);
  });
});

describe('leaf node validation', () => {
  const group = grownGroup();
  const tree = group.tree;
  const ctx: LeafValidationContext = { suite, tree, groupId: GROUP_ID, extensions: [] };
  const member = group.members.get(2)!;

  function updateLeaf(
    overrides: Partial<LeafNode> = {},
    signer = member.client.signature,
  ): LeafNode {
    const { lifetime: _, ...rest } = tree.leaf(2) as LeafNode & { lifetime?: unknown };
    return signLeafNode(
      suite,
      signer.privateKey,
      {
        ...rest,
        encryptionKey: suite.kem.generateKeyPair().publicKey,
        ...overrides,
        leafNodeSource: LeafNodeSource.update,
      } as LeafNode,
      GROUP_ID,
      2,
    );
  }

  test('a fresh key package and a proper update are valid', () => {
    validateLeafNode(newClient(suite, 'x').keyPackageLeaf, { use: 'key_package' }, ctx);
    validateLeafNode(updateLeaf(), { use: 'update', leafIndex: 2 }, ctx);
  });

  test('the wrong source fails with INVALID_LEAF_NODE', () => {
    expectMlsError(
      () =>
        validateLeafNode(
          newClient(suite, 'x').keyPackageLeaf,
          { use: 'update', leafIndex: 2 },
          ctx,
        ),
      'INVALID_LEAF_NODE',
    );
    expectMlsError(
      () => validateLeafNode(updateLeaf(), { use: 'key_package' }, ctx),
      'INVALID_LEAF_NODE',
    );
  });

  test('a signature bound to another leaf index fails with BAD_SIGNATURE', () => {
    expectMlsError(
      () => validateLeafNode(updateLeaf(), { use: 'update', leafIndex: 4 }, ctx),
      'BAD_SIGNATURE',
    );
  });

  test('an Update keeping its encryption key fails with DUPLICATE_KEY', () => {
    const leaf = updateLeaf({ encryptionKey: tree.leaf(2)!.encryptionKey });
    expectMlsError(
      () => validateLeafNode(leaf, { use: 'update', leafIndex: 2 }, ctx),
      'DUPLICATE_KEY',
    );
  });

  test("another member's encryption or signature key fails with DUPLICATE_KEY", () => {
    const other = group.members.get(4)!.client;
    expectMlsError(
      () =>
        validateLeafNode(
          updateLeaf({ encryptionKey: tree.leaf(4)!.encryptionKey }),
          { use: 'update', leafIndex: 2 },
          ctx,
        ),
      'DUPLICATE_KEY',
    );
    expectMlsError(
      () =>
        validateLeafNode(
          updateLeaf({ signatureKey: other.signature.publicKey }, other.signature),
          { use: 'update', leafIndex: 2 },
          ctx,
        ),
      'DUPLICATE_KEY',
    );
    // A parent node's key counts too.
    const parentKey = tree.parent(tree.root)!.encryptionKey;
    expectMlsError(
      () =>
        validateLeafNode(
          updateLeaf({ encryptionKey: parentKey }),
          { use: 'update', leafIndex: 2 },
          ctx,
        ),
      'DUPLICATE_KEY',
    );
  });

  test('an expired key package fails with KEY_PACKAGE_EXPIRED when the time is given', () => {
    const leaf = newClient(suite, 'x').keyPackageLeaf; // valid from 1000 to 2000
    validateLeafNode(leaf, { use: 'key_package' }, { ...ctx, now: 1500n });
    expectMlsError(
      () => validateLeafNode(leaf, { use: 'key_package' }, { ...ctx, now: 2001n }),
      'KEY_PACKAGE_EXPIRED',
    );
    expectMlsError(
      () => validateLeafNode(leaf, { use: 'key_package' }, { ...ctx, now: 999n }),
      'KEY_PACKAGE_EXPIRED',
    );
    expectMlsError(
      () => validateLeafNode(leaf, { use: 'key_package' }, { ...ctx, maxLifetime: 999n }),
      'INVALID_LEAF_NODE',
    );
  });

  test('missing capabilities fail with UNSUPPORTED_CAPABILITY', () => {
    const required = {
      extensionType: ExtensionType.required_capabilities,
      extensionData: encode(requiredCapabilitiesCodec, {
        extensionTypes: [0xff00],
        proposalTypes: [],
        credentialTypes: [],
      }),
    };
    const leaf = newClient(suite, 'x').keyPackageLeaf;
    expectMlsError(
      () => validateLeafNode(leaf, { use: 'key_package' }, { ...ctx, extensions: [required] }),
      'UNSUPPORTED_CAPABILITY',
    );
    // A GroupContext extension of a non-default type must be supported.
    expectMlsError(
      () =>
        validateLeafNode(
          leaf,
          { use: 'key_package' },
          {
            ...ctx,
            extensions: [{ extensionType: 0xff01, extensionData: EMPTY }],
          },
        ),
      'UNSUPPORTED_CAPABILITY',
    );
    // Its own extensions must be listed in its capabilities.
    expectMlsError(
      () =>
        validateLeafNode(
          updateLeaf({ extensions: [{ extensionType: 0xff02, extensionData: EMPTY }] }),
          { use: 'update', leafIndex: 2 },
          ctx,
        ),
      'UNSUPPORTED_CAPABILITY',
    );
    // A credential type the members do not support (x509 = 2).
    const x509 = newClient(suite, 'y', [1, 2]);
    const leafX509 = signLeafNode(suite, x509.signature.privateKey, {
      ...x509.keyPackageLeaf,
      credential: { credentialType: 2, certificates: [utf8('cert')] },
    });
    expectMlsError(
      () => validateLeafNode(leafX509, { use: 'key_package' }, ctx),
      'UNSUPPORTED_CAPABILITY',
    );
  });

  test('a rejected credential fails with INVALID_CREDENTIAL', () => {
    expectMlsError(
      () =>
        validateLeafNode(
          newClient(suite, 'x').keyPackageLeaf,
          { use: 'key_package' },
          {
            ...ctx,
            validateCredential: () => false,
          },
        ),
      'INVALID_CREDENTIAL',
    );
  });
});

describe('tree operations and immutability', () => {
  test('Add, Update, Remove and paths return new trees and leave the input as it was', () => {
    const group = grownGroup();
    const tree = group.tree;
    const encoded = encodeTree(tree);
    const hash = toHex(treeHash(tree, suite.hash));

    const added = applyAdd(tree, newClient(suite, 'z').keyPackageLeaf);
    assert.equal(added.leafIndex, 8);
    const updated = applyUpdate(tree, 2, { ...tree.leaf(2)!, encryptionKey: utf8('k') });
    assert.ok(updated.directPath(2).every((n) => updated.isBlank(n)));
    const removed = applyRemove(tree, 6);
    assert.equal(removed.leaf(6), undefined);
    createUpdatePath({
      ...group.context(),
      tree,
      leafIndex: 0,
      leafNode: tree.leaf(0)!,
      signaturePrivateKey: group.members.get(0)!.client.signature.privateKey,
    });
    tree.withNodes([[0, undefined]]);

    assert.equal(encodeTree(tree), encoded);
    assert.equal(toHex(treeHash(tree, suite.hash)), hash);
    for (const other of [added.tree, updated, removed]) assert.notEqual(encodeTree(other), encoded);
  });

  test('Add reuses the leftmost blank leaf and keeps unmerged_leaves sorted', () => {
    // Leaf 5 blank while the parents above it stay: left of the unmerged leaf 7.
    const tree = grownGroup().tree.withLeaf(5, undefined);
    const added = applyAdd(tree, newClient(suite, 'z').keyPackageLeaf);
    assert.equal(added.leafIndex, 5);
    assert.deepEqual(added.tree.parent(9)!.unmergedLeaves, [5]);
    assert.deepEqual(added.tree.parent(11)!.unmergedLeaves, [5, 7]);
    assert.deepEqual(added.tree.parent(7)!.unmergedLeaves, [5, 7]);
    // A full tree grows a blank right half for the newcomer.
    const full = grownGroup().tree;
    const extended = applyAdd(full, newClient(suite, 'z').keyPackageLeaf);
    assert.equal(extended.leafIndex, 8);
    assert.equal(extended.tree.leafCount, 16);
    assert.ok(extended.tree.isBlank(15), 'new root is blank');
  });

  test('Remove truncates while the right half is blank', () => {
    const group = TestGroup.create(suite, ['a', 'b', 'c', 'd', 'e']);
    assert.equal(group.tree.leafCount, 8);
    const removed = applyRemove(group.tree, 4);
    assert.equal(removed.leafCount, 4);
    expectMlsError(() => applyRemove(removed, 3 + 4), 'INVALID_PROPOSAL');
    expectMlsError(() => applyUpdate(removed, 9, removed.leaf(0)!), 'INVALID_PROPOSAL');
  });

  test('the key index follows edits and ignores other branches', () => {
    const group = grownGroup();
    const base = group.tree;
    validateRatchetTree(base, {
      suite,
      groupId: GROUP_ID,
      treeHash: treeHash(base, suite.hash),
      extensions: [],
    });
    const leaf6 = base.leaf(6)!;
    const removed = applyRemove(base, 6);
    const added = applyAdd(base, newClient(suite, 'z').keyPackageLeaf);
    const newKey = added.tree.leaf(added.leafIndex)!.encryptionKey;

    assert.deepEqual(base.nodesWithEncryptionKey(leaf6.encryptionKey), [12]);
    assert.deepEqual(removed.nodesWithEncryptionKey(leaf6.encryptionKey), []);
    assert.deepEqual(removed.leavesWithSignatureKey(leaf6.signatureKey), []);
    assert.deepEqual(added.tree.nodesWithEncryptionKey(newKey), [math.leafToNode(added.leafIndex)]);
    // The sibling branch and the original never held the new key.
    assert.deepEqual(removed.nodesWithEncryptionKey(newKey), []);
    assert.deepEqual(base.nodesWithEncryptionKey(newKey), []);
    // A tree built from scratch sees the same.
    const fresh = RatchetTree.fromNodeList(added.tree.toNodeList());
    assert.deepEqual(fresh.nodesWithEncryptionKey(newKey), [math.leafToNode(added.leafIndex)]);
  });
});
