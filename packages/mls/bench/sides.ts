/**
 * The libraries `npm run bench` compares, behind one interface: Trellis on the node provider, and
 * ts-mls on node:crypto and on its default provider. Every message crosses as wire bytes: a
 * created commit, Welcome or application message is encoded, and processing starts by decoding.
 */
import type { ClientState } from 'ts-mls';
import {
  basicCredential,
  cipherSuite,
  ContentType,
  createCommit,
  createGroup,
  createKeyPackage,
  decode,
  encode,
  encryptApplication,
  epochAuthenticator,
  joinFromWelcome,
  mlsMessageCodec,
  nodeCrypto,
  processMessage,
  ProposalType,
  serializeGroupState,
  WireFormat,
  type GroupState,
  type KeyPackageBundle,
  type MlsMessage,
} from '../src/index.js';
import { ProposalOrRefType } from '../src/messages/commit.js';
import * as math from '../src/tree/math.js';
import { utf8 } from '../src/util/bytes.js';
import { buildFullTree, treeIsFull } from './fullTree.js';
import type { CommitFacts, JoinFacts } from './limits.js';
import {
  TsMls,
  tsEpochAuthenticator,
  tsLeafIndex,
  tsStateSize,
  tsTreeIsFull,
  type TsKeyPackage,
} from './tsmls.js';
import { decodeMlsMessage, encodeMlsMessage } from 'ts-mls';
import type { Budget } from './tsmlsProviders.js';

const SUITE = cipherSuite(1, nodeCrypto);
const NOW = BigInt(Math.floor(Date.now() / 1000));

/** A commit as sent: wire bytes. */
export interface Committed<S> {
  pending: S;
  commit: Uint8Array;
  welcome?: Uint8Array;
}

export interface FullTreeOf<S> {
  committer: S;
  observer: S;
  commits: number;
}

export interface Side<S, K> {
  /** Short name for JSON keys. */
  readonly key: string;
  /** Name for the table. */
  readonly name: string;
  /** Stops operations past their time (ts-mls); none for Trellis. */
  readonly budget?: Budget;
  keyPackages(count: number, tag: string): Promise<K[]>;
  createGroup(creator: K): Promise<S>;
  commitAdd(state: S, kps: K[]): Promise<Committed<S>>;
  join(welcome: Uint8Array, kp: K): Promise<S>;
  commitPath(state: S): Promise<Committed<S>>;
  commitRemove(state: S, leaf: number): Promise<Committed<S>>;
  process(state: S, commit: Uint8Array): Promise<S>;
  stateSize(state: S): number;
  leafIndex(state: S): number;
  epochAuthenticator(state: S): Uint8Array;
  encryptMany(
    state: S,
    data: Uint8Array,
    count: number,
  ): Promise<{ state: S; messages: Uint8Array[] }>;
  decryptMany(state: S, messages: Uint8Array[]): Promise<S>;
  /**
   * Committer (leaf N−1) and observer (leaf 0) of an N-member group with a full tree, made by
   * real commits, from the sparse group's creator state and KeyPackages (see run.ts for which
   * is where). `progress.members` says how far it got if stopped.
   */
  fullTree(creator: S, kps: K[], n: number, progress: { members: number }): Promise<FullTreeOf<S>>;
  isFull(state: S): boolean;
  /** What the cryptographic limits are computed from (Trellis only: the same for every side). */
  commitFacts?(
    committer: S,
    made: Committed<S>,
    observerLeaf: number,
  ): CommitFacts & {
    pathNodesFromOwn: number;
  };
  joinFacts?(joined: S, welcome: Uint8Array): JoinFacts;
}

// ---------------------------------------------------------------------------------------------
// Trellis

function decodeMessage(bytes: Uint8Array): MlsMessage {
  return decode(mlsMessageCodec, bytes);
}

function sent(made: ReturnType<typeof createCommit>): Committed<GroupState> {
  return {
    pending: made.pending,
    commit: encode(mlsMessageCodec, made.commit),
    ...(made.welcome && { welcome: encode(mlsMessageCodec, made.welcome) }),
  };
}

export const trellis: Side<GroupState, KeyPackageBundle> = {
  key: 'trellis',
  name: 'Trellis',
  async keyPackages(count, tag) {
    return Array.from({ length: count }, (_, i) =>
      createKeyPackage(SUITE, { credential: basicCredential(utf8(`${tag}-${i}`)), now: NOW }),
    );
  },
  async createGroup(creator) {
    return createGroup(SUITE, {
      credential: creator.keyPackage.leafNode.credential,
      signatureKeyPair: {
        privateKey: creator.signaturePrivateKey,
        publicKey: creator.keyPackage.leafNode.signatureKey,
      },
      now: NOW,
    });
  },
  async commitAdd(state, kps) {
    return sent(createCommit(state, { add: kps.map((kp) => kp.keyPackage) }));
  },
  async join(welcome, kp) {
    const w = decodeMessage(welcome);
    if (w.wireFormat !== WireFormat.mls_welcome) throw new Error('not a Welcome');
    return joinFromWelcome(nodeCrypto, w.welcome, kp, { now: NOW });
  },
  async commitPath(state) {
    return sent(createCommit(state, { forcePath: true }));
  },
  async commitRemove(state, leaf) {
    return sent(createCommit(state, { remove: [leaf] }));
  },
  async process(state, commit) {
    const r = processMessage(state, decodeMessage(commit));
    if (r.kind !== 'commit') throw new Error(`expected a commit, got ${r.kind}`);
    return r.state;
  },
  stateSize: (state) => serializeGroupState(state).length,
  leafIndex: (state) => state.ownLeaf,
  epochAuthenticator: (state) => epochAuthenticator(state),
  async encryptMany(state, data, count) {
    const messages: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const out = encryptApplication(state, data);
      state = out.state;
      messages.push(encode(mlsMessageCodec, out.message));
    }
    return { state, messages };
  },
  async decryptMany(state, messages) {
    for (const bytes of messages) {
      const r = processMessage(state, decodeMessage(bytes));
      if (r.kind !== 'application') throw new Error(`expected application data, got ${r.kind}`);
      state = r.state;
    }
    return state;
  },
  async fullTree(creator, kps, n, progress) {
    // The sparse group's creator state is leaf 0 with kps[i] at leaf i+1.
    const full = buildFullTree(creator, kps.slice(0, n - 1));
    progress.members = n;
    return full;
  },
  isFull: treeIsFull,
  commitFacts(committer, made, observerLeaf) {
    const message = decodeMessage(made.commit);
    if (message.wireFormat !== WireFormat.mls_public_message) throw new Error('not public');
    const content = message.publicMessage.content;
    if (content.contentType !== ContentType.commit) throw new Error('not a commit');
    const path = content.commit.path;
    const added = content.commit.proposals.filter(
      (p) => p.type === ProposalOrRefType.proposal && p.proposal.proposalType === ProposalType.add,
    ).length;
    let welcomeGroupInfoBytes = 0;
    if (made.welcome) {
      const w = decodeMessage(made.welcome);
      if (w.wireFormat === WireFormat.mls_welcome) {
        welcomeGroupInfoBytes = w.welcome.encryptedGroupInfo.length;
      }
    }
    // The path node whose secret the observer decrypts: the lowest common ancestor.
    const lca = math.commonAncestor(
      math.leafToNode(observerLeaf),
      math.leafToNode(committer.ownLeaf),
    );
    const filtered = made.pending.tree.filteredDirectPath(committer.ownLeaf).map((p) => p.node);
    const at = filtered.indexOf(lca);
    return {
      pathNodes: path?.nodes.length ?? 0,
      pathCiphertexts:
        path?.nodes.reduce((sum, node) => sum + node.encryptedPathSecret.length, 0) ?? 0,
      added,
      welcomeGroupInfoBytes,
      depth: math.log2(committer.tree.leafCount),
      pathNodesFromOwn: path && at >= 0 ? filtered.length - at : 0,
    };
  },
  joinFacts(joined, welcome) {
    const w = decodeMessage(welcome);
    if (w.wireFormat !== WireFormat.mls_welcome) throw new Error('not a Welcome');
    let parents = 0;
    for (let node = 1; node < joined.tree.nodeCount; node += 2) {
      if (joined.tree.parent(node)) parents++;
    }
    return {
      members: [...joined.tree.members()].length,
      treeNodes: joined.tree.nodeCount,
      parents,
      groupInfoBytes: w.welcome.encryptedGroupInfo.length,
    };
  },
};

// ---------------------------------------------------------------------------------------------
// ts-mls

/**
 * ts-mls on one provider. Its KeyPackages come from `keyPackages` (made once per size on
 * node:crypto and shared by both providers: they are plain bytes either way).
 */
export function tsMlsSide(
  key: string,
  name: string,
  lib: TsMls,
  budget: Budget,
  keyPackages: (count: number, tag: string) => Promise<TsKeyPackage[]>,
): Side<ClientState, TsKeyPackage> {
  const wire = (made: Awaited<ReturnType<TsMls['commitPath']>>): Committed<ClientState> => ({
    pending: made.pending,
    commit: encodeMlsMessage(made.commit),
    ...(made.welcome && {
      welcome: encodeMlsMessage({
        version: 'mls10',
        wireformat: 'mls_welcome',
        welcome: made.welcome,
      }),
    }),
  });
  const decodeWire = (bytes: Uint8Array) => {
    const decoded = decodeMlsMessage(bytes, 0)?.[0];
    if (!decoded) throw new Error('ts-mls could not decode a message');
    return decoded;
  };
  return {
    key,
    name,
    budget,
    keyPackages,
    createGroup: (kp) => lib.createGroup(kp),
    commitAdd: async (state, kps) => wire(await lib.commitAdd(state, kps)),
    join: async (welcome, kp) => {
      const decoded = decodeWire(welcome);
      if (decoded.wireformat !== 'mls_welcome') throw new Error('not a Welcome');
      return lib.join(decoded.welcome, kp);
    },
    commitPath: async (state) => wire(await lib.commitPath(state)),
    commitRemove: async (state, leaf) => wire(await lib.commitRemove(state, leaf)),
    process: (state, commit) => lib.process(state, decodeWire(commit)),
    stateSize: tsStateSize,
    leafIndex: tsLeafIndex,
    epochAuthenticator: tsEpochAuthenticator,
    encryptMany: (state, data, count) => lib.encryptMany(state, data, count),
    decryptMany: (state, messages) => lib.decryptMany(state, messages),
    async fullTree(_creator, kps, n, progress) {
      // A group of its own: founder kps[n] (leaf 0), kps[0] (leaf 1), then kps[1..n-2] joining
      // by external commits, the last at leaf n−1.
      const full = await lib.fullTree(kps[n]!, kps[0]!, kps.slice(1, n - 1), progress);
      return { ...full, commits: n };
    },
    isFull: tsTreeIsFull,
  };
}
