/**
 * The engine's top-level decoders, each fed mutated encodings. Where decoding is followed by
 * checks any receiver makes at once (a KeyPackage's validation, a GroupInfo's tree, a tree's
 * shape and hash), those run too, on whatever decodes.
 */
import {
  cipherSuite,
  decode,
  deserializeGroupState,
  encode,
  encryptApplication,
  groupInfoCodec,
  keyPackageCodec,
  MlsError,
  mlsMessageCodec,
  nodeCrypto,
  processMessage,
  ratchetTreeCodec,
  serializeGroupState,
  validateKeyPackage,
  welcomeCodec,
  WireFormat,
  isCipherSuiteId,
} from '../../packages/mls/src/index.js';
import { treeFromGroupInfo } from '../../packages/mls/src/group/welcome.js';
import { RatchetTree } from '../../packages/mls/src/tree/ratchetTree.js';
import { treeHash } from '../../packages/mls/src/tree/treeHash.js';
import type { FuzzTarget, TargetInstance } from '../engine.js';
import { classifyMls, distinct, fieldsBy, unwrap } from './common.js';
import { FIXED_NOW, fromHex, loadVectors, world } from './fixtures.js';

/** Every fifth entry of messages.json: all suites and shapes, fewer repeats. */
function messageVectors(): Record<string, any>[] {
  return loadVectors('messages.json').filter((_, i) => i % 5 === 0);
}

function passiveClients(): Record<string, any>[] {
  return [
    ...loadVectors('passive-client-welcome.json').slice(0, 12),
    ...loadVectors('passive-client-handling-commit.json').slice(0, 12),
    ...loadVectors('passive-client-random.json'),
  ];
}

/** MLSMessages of every wire format, from the vectors and from the fixture group. */
function mlsMessageSeeds(): Uint8Array[] {
  const fields = [
    'mls_welcome',
    'mls_group_info',
    'mls_key_package',
    'public_message_application',
    'public_message_proposal',
    'public_message_commit',
    'private_message',
  ];
  const w = world();
  const fromVectors = messageVectors().flatMap((e) => fields.map((f) => fromHex(e[f])));
  const welcomes = loadVectors('welcome.json').flatMap((e) => [
    fromHex(e.welcome),
    fromHex(e.key_package),
  ]);
  const passive = passiveClients().flatMap((e) => [
    fromHex(e.welcome),
    fromHex(e.key_package),
    ...(e.epochs as any[])
      .slice(0, 2)
      .flatMap((epoch) => [fromHex(epoch.commit), ...(epoch.proposals as string[]).map(fromHex)]),
  ]);
  const fromWorld = [
    ...w.publicMessages,
    ...w.privateMessages,
    w.probe,
    ...w.joiners.map((j) => ({ wireFormat: WireFormat.mls_welcome, welcome: j.welcome }) as const),
    { wireFormat: WireFormat.mls_group_info, groupInfo: w.groupInfo } as const,
    ...w.joiners.map(
      (j) => ({ wireFormat: WireFormat.mls_key_package, keyPackage: j.bundle.keyPackage }) as const,
    ),
  ].map((m) => encode(mlsMessageCodec, m));
  return distinct([...fromWorld, ...welcomes, ...passive, ...fromVectors]);
}

function ofWireFormat(wireFormat: number): Uint8Array[] {
  return mlsMessageSeeds()
    .filter((m) => m.length >= 4 && ((m[2]! << 8) | m[3]!) === wireFormat)
    .map(unwrap);
}

function decoderTarget(
  name: string,
  description: string,
  seeds: () => Uint8Array[],
  run: (input: Uint8Array) => void,
  readStructure: (input: Uint8Array) => unknown = run,
): FuzzTarget {
  return {
    name,
    kind: 'decoder',
    description,
    async setup(): Promise<TargetInstance> {
      return {
        seeds: seeds(),
        run(input) {
          run(input);
          return undefined;
        },
        classify: classifyMls,
        fields: fieldsBy(readStructure),
      };
    },
  };
}

export const mlsMessage = decoderTarget(
  'mls-message',
  'MLSMessage of every wire format (decode)',
  mlsMessageSeeds,
  (input) => void decode(mlsMessageCodec, input),
);

export const keyPackage = decoderTarget(
  'key-package',
  'KeyPackage: decode, then validate (signatures, leaf, lifetime) when its suite is known',
  () => ofWireFormat(WireFormat.mls_key_package),
  (input) => {
    const kp = decode(keyPackageCodec, input);
    if (!isCipherSuiteId(kp.cipherSuite)) return;
    validateKeyPackage(cipherSuite(kp.cipherSuite, nodeCrypto), kp, { now: FIXED_NOW });
  },
  (input) => decode(keyPackageCodec, input),
);

export const welcome = decoderTarget(
  'welcome',
  'Welcome (decode)',
  () => ofWireFormat(WireFormat.mls_welcome),
  (input) => void decode(welcomeCodec, input),
);

export const groupInfo = decoderTarget(
  'group-info',
  'GroupInfo: decode, then its ratchet_tree extension into a tree',
  () => ofWireFormat(WireFormat.mls_group_info),
  (input) => {
    const info = decode(groupInfoCodec, input);
    treeFromGroupInfo(info);
  },
  (input) => decode(groupInfoCodec, input),
);

const sha256 = cipherSuite(1, nodeCrypto).hash;

export const ratchetTree = decoderTarget(
  'ratchet-tree',
  'ratchet_tree: decode, build the tree (shape checks), tree hash',
  () => {
    const w = world();
    const trees = [
      ...messageVectors().map((e) => e.ratchet_tree as string),
      ...loadVectors('tree-validation.json').map((e) => e.tree as string),
      ...loadVectors('treekem.json').map((e) => e.ratchet_tree as string),
      ...loadVectors('tree-operations.json').flatMap((e) => [e.tree_before, e.tree_after]),
    ];
    return distinct([
      encode(ratchetTreeCodec, w.receiver.tree.toNodeList()),
      ...trees.filter((t) => t.length > 0).map(fromHex),
    ]);
  },
  (input) => {
    const tree = RatchetTree.fromNodeList(decode(ratchetTreeCodec, input));
    treeHash(tree, sha256);
  },
  (input) => decode(ratchetTreeCodec, input),
);

export const groupState = decoderTarget(
  'group-state',
  'serialised GroupState: restore it, then read a message of its epoch and send one with it',
  () => {
    const w = world();
    return [w.receiver, ...w.members, ...w.otherStates].map(serializeGroupState);
  },
  (input) => {
    // A restored state is only worth having if it works: use it, and only MlsErrors may come out.
    const state = deserializeGroupState(nodeCrypto, input);
    const errors: unknown[] = [];
    for (const use of [
      () => processMessage(state, world().probe),
      () => encryptApplication(state, new Uint8Array(3)),
    ]) {
      try {
        use();
      } catch (error) {
        errors.push(error);
      }
    }
    const worst = errors.find((e) => !(e instanceof MlsError)) ?? errors[0];
    if (worst !== undefined) throw worst;
  },
  (input) => deserializeGroupState(nodeCrypto, input),
);

export const MLS_DECODERS: readonly FuzzTarget[] = [
  mlsMessage,
  keyPackage,
  welcome,
  groupInfo,
  ratchetTree,
  groupState,
];
