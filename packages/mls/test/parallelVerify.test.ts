/**
 * Signature checks spread over worker threads (crypto/parallelVerify.ts): every result is the one
 * the node provider's `verify` gives, whichever thread computed it, workers that stall or die
 * change nothing but speed, and a tree with a bad leaf is refused exactly as without threads.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { basicCredential } from '../src/credentials/credential.js';
import { nodeCrypto } from '../src/crypto/node.js';
import {
  completeJob,
  packJob,
  ParallelVerifier,
  type VerifyRecipe,
} from '../src/crypto/parallelVerify.js';
import { portableCrypto } from '../src/crypto/portable.js';
import { SignatureScheme, type SignatureCheck } from '../src/crypto/provider.js';
import { cipherSuite, type CipherSuite } from '../src/crypto/suites.js';
import { runJob } from '../src/crypto/verifyWorker.js';
import { MlsError } from '../src/errors.js';
import { ProtocolVersion } from '../src/framing/content.js';
import { LeafNodeSource } from '../src/messages/leafNode.js';
import { signLeafNode } from '../src/tree/leafNodeValidation.js';
import { applyAdd } from '../src/tree/operations.js';
import { RatchetTree } from '../src/tree/ratchetTree.js';
import { treeHash } from '../src/tree/treeHash.js';
import { validateRatchetTree } from '../src/tree/validation.js';
import { EMPTY, utf8 } from '../src/util/bytes.js';

const RECIPES: [SignatureScheme, VerifyRecipe][] = [
  [SignatureScheme.ED25519, { kind: 'eddsa', crv: 'Ed25519' }],
  [SignatureScheme.ED448, { kind: 'eddsa', crv: 'Ed448' }],
  [SignatureScheme.ECDSA_SECP256R1_SHA256, { kind: 'ecdsa', crv: 'P-256', digest: 'sha256' }],
  [SignatureScheme.ECDSA_SECP384R1_SHA384, { kind: 'ecdsa', crv: 'P-384', digest: 'sha384' }],
  [SignatureScheme.ECDSA_SECP521R1_SHA512, { kind: 'ecdsa', crv: 'P-521', digest: 'sha512' }],
];

function flipped(bytes: Uint8Array, at: number): Uint8Array {
  const out = bytes.slice();
  out[at]! ^= 0x01;
  return out;
}

/**
 * Checks of every kind for one scheme, all of sizes and formats the provider passes on to
 * OpenSSL: good ones and ones with a tampered signature, message or key, another member's key,
 * a signature whose scalar is out of range or whose encoding is garbage.
 */
function checksOf(scheme: SignatureScheme, count: number): SignatureCheck[] {
  const s = nodeCrypto.signature(scheme);
  const pairs = Array.from({ length: 4 }, () => s.generateKeyPair());
  return Array.from({ length: count }, (_, i) => {
    const pair = pairs[i % pairs.length]!;
    const message = utf8(`leaf ${i} `.repeat(20));
    const signature = s.sign(pair.privateKey, message);
    const good = { publicKey: pair.publicKey, message, signature };
    switch (i % 7) {
      case 1:
        return { ...good, signature: flipped(signature, signature.length >> 1) };
      case 2:
        return { ...good, message: flipped(message, 3) };
      case 3:
        return { ...good, publicKey: flipped(pair.publicKey, pair.publicKey.length - 1) };
      case 4:
        return { ...good, publicKey: pairs[(i + 1) % pairs.length]!.publicKey };
      case 5:
        return { ...good, signature: new Uint8Array(signature.length).fill(0xff) };
      default:
        return good;
    }
  });
}

function verifyEach(scheme: SignatureScheme, checks: readonly SignatureCheck[]): boolean[] {
  const s = nodeCrypto.signature(scheme);
  return checks.map((c) => s.verify(c.publicKey, c.message, c.signature));
}

describe('the worker logic, run on this thread', () => {
  for (const [scheme, recipe] of RECIPES) {
    test(`scheme 0x${scheme.toString(16)}: the same results as the provider's verify`, () => {
      const checks = checksOf(scheme, 42);
      const expected = verifyEach(scheme, checks);
      assert.ok(expected.includes(true) && expected.includes(false), 'both outcomes are tested');
      const job = packJob(recipe, checks, 5, () => true);
      runJob(job);
      const results = Array.from(new Uint8Array(job.results), (r) => r === 1);
      assert.deepEqual(results, expected);
      const control = new Int32Array(job.control);
      assert.equal(control[1], Math.ceil(checks.length / 5), 'every chunk is finished');
    });
  }
});

describe("the caller's part of a job", () => {
  const scheme = SignatureScheme.ED25519;
  const recipe: VerifyRecipe = { kind: 'eddsa', crv: 'Ed25519' };
  const checks = checksOf(scheme, 30);
  const expected = verifyEach(scheme, checks);

  /** The provider's verify, recording which items this thread was asked about. */
  function recordingVerify() {
    const asked = new Set<SignatureCheck>();
    const s = nodeCrypto.signature(scheme);
    const verify = (c: SignatureCheck) => {
      asked.add(c);
      return s.verify(c.publicKey, c.message, c.signature);
    };
    return { asked, verify };
  }

  test('chunks a worker finished are taken as they are', () => {
    const job = packJob(recipe, checks, 4, () => true);
    runJob(job); // a worker that got every chunk
    const { asked, verify } = recordingVerify();
    assert.deepEqual(completeJob(job, checks, verify, 10), expected);
    assert.equal(asked.size, 0);
  });

  test('a chunk a worker claimed and never finished is taken over', () => {
    const job = packJob(recipe, checks, 4, () => true);
    Atomics.add(new Int32Array(job.control), 0, 1); // a stuck worker holds chunk 0
    const { asked, verify } = recordingVerify();
    assert.deepEqual(completeJob(job, checks, verify, 10), expected);
    assert.equal(asked.size, checks.length, 'this thread did every chunk, the held one last');
  });

  test('items refused beforehand are never checked', () => {
    const refused = new Set(checks.filter((_, i) => i % 3 === 0));
    const job = packJob(recipe, checks, 4, (c) => !refused.has(c));
    const { asked, verify } = recordingVerify();
    const results = completeJob(job, checks, verify, 10);
    checks.forEach((c, i) => assert.equal(results[i], refused.has(c) ? false : expected[i]));
    assert.ok([...refused].every((c) => !asked.has(c)));
  });
});

describe('worker threads', () => {
  const verifiers: ParallelVerifier[] = [];
  after(() => Promise.all(verifiers.map((v) => v.close())));

  for (const [scheme, recipe] of RECIPES) {
    test(`scheme 0x${scheme.toString(16)}: a batch over two workers and this thread`, () => {
      const verifier = new ParallelVerifier({ threads: 2, minBatch: 1 });
      verifiers.push(verifier);
      const s = nodeCrypto.signature(scheme);
      const checks = checksOf(scheme, 150);
      const expected = verifyEach(scheme, checks);
      const verify = (c: SignatureCheck) => s.verify(c.publicKey, c.message, c.signature);
      for (let round = 0; round < 3; round++) {
        assert.deepEqual(
          verifier.verifyAll(recipe, checks, () => true, verify),
          expected,
        );
      }
    });
  }

  test("the provider's verifyMany equals verify, including keys refused before OpenSSL", () => {
    for (const [scheme] of RECIPES) {
      const s = nodeCrypto.signature(scheme);
      const checks = checksOf(scheme, 140);
      const good = checks[0]!;
      const isEcdsa = scheme !== SignatureScheme.ED25519 && scheme !== SignatureScheme.ED448;
      checks.push(
        { ...good, publicKey: good.publicKey.subarray(1) },
        { ...good, signature: good.signature.subarray(1) },
        // The hybrid form of the point: OpenSSL would take it, the provider does not.
        ...(isEcdsa
          ? [{ ...good, publicKey: Uint8Array.of(0x06, ...good.publicKey.slice(1)) }]
          : []),
      );
      assert.deepEqual(s.verifyMany!(checks), verifyEach(scheme, checks));
    }
  });

  test('workers that fail to start leave the whole batch to this thread', async () => {
    const verifier = new ParallelVerifier({
      threads: 2,
      minBatch: 1,
      workerUrl: new URL('./support/failingVerifyWorker.js', import.meta.url),
    });
    verifiers.push(verifier);
    const [scheme, recipe] = RECIPES[0]!;
    const s = nodeCrypto.signature(scheme);
    const checks = checksOf(scheme, 60);
    const verify = (c: SignatureCheck) => s.verify(c.publicKey, c.message, c.signature);
    assert.deepEqual(
      verifier.verifyAll(recipe, checks, () => true, verify),
      verifyEach(scheme, checks),
    );
    await new Promise((resolve) => setImmediate(resolve)); // let the failures be reported
    assert.deepEqual(
      verifier.verifyAll(recipe, checks, () => true, verify),
      verifyEach(scheme, checks),
    );
  });
});

describe('a tree validated with its leaf signatures checked in one batch', () => {
  const LEAVES = 100; // above the node provider's smallest parallel batch
  const nodeSuite = cipherSuite(1, nodeCrypto);
  const portableSuite = cipherSuite(1, portableCrypto); // no verifyMany: one by one
  const groupId = utf8('parallel');

  let tree: RatchetTree | undefined;
  for (let i = 0; i < LEAVES; i++) {
    const signature = nodeSuite.signature.generateKeyPair();
    const leaf = signLeafNode(nodeSuite, signature.privateKey, {
      encryptionKey: nodeSuite.kem.generateKeyPair().publicKey,
      signatureKey: signature.publicKey,
      credential: basicCredential(utf8(`member ${i}`)),
      capabilities: {
        versions: [ProtocolVersion.mls10],
        cipherSuites: [nodeSuite.id],
        extensions: [],
        proposals: [],
        credentials: [1],
      },
      leafNodeSource: LeafNodeSource.key_package,
      lifetime: { notBefore: 0n, notAfter: 1n << 62n },
      extensions: [],
      signature: EMPTY,
    });
    tree = tree ? applyAdd(tree, leaf).tree : RatchetTree.single(leaf);
  }
  const valid = tree!;

  function outcome(suite: CipherSuite, t: RatchetTree): string {
    try {
      validateRatchetTree(t, {
        suite,
        groupId,
        treeHash: treeHash(t, suite.hash),
        extensions: [],
      });
      return 'valid';
    } catch (e) {
      assert.ok(e instanceof MlsError, String(e));
      return `${e.code}: ${e.message}`;
    }
  }

  function withBadSignature(t: RatchetTree, leafIndex: number): RatchetTree {
    const leaf = t.leaf(leafIndex)!;
    return t.withLeaf(leafIndex, { ...leaf, signature: flipped(leaf.signature, 10) });
  }

  test('a valid tree passes', () => {
    assert.equal(outcome(nodeSuite, valid), 'valid');
  });

  test('one bad leaf signature: refused with the error of the one-by-one path', () => {
    const bad = withBadSignature(valid, 73);
    const expected = 'BAD_SIGNATURE: leaf node 73: LeafNodeTBS signature does not verify';
    assert.equal(outcome(portableSuite, bad), expected);
    assert.equal(outcome(nodeSuite, bad), expected);
  });

  test('several bad leaves: the first one in index order is reported', () => {
    const bad = withBadSignature(withBadSignature(valid, 88), 41);
    assert.equal(outcome(nodeSuite, bad), outcome(portableSuite, bad));
    assert.match(outcome(nodeSuite, bad), /^BAD_SIGNATURE: leaf node 41:/);

    // An earlier leaf that fails a check made before its signature's wins over a later bad one.
    const leaf = bad.leaf(12)!;
    const twice = bad.withLeaf(12, {
      ...leaf,
      extensions: [
        ...leaf.extensions,
        ...[1, 1].map(() => ({ extensionType: 0xf000, extensionData: EMPTY })),
      ],
    });
    assert.equal(outcome(nodeSuite, twice), outcome(portableSuite, twice));
    assert.match(outcome(nodeSuite, twice), /^INVALID_LEAF_NODE: leaf node 12:/);
  });
});
