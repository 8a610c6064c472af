/**
 * The ts-mls 1.6.4 side of `npm run bench` (groups.ts): the same group operations as the Trellis
 * side, through ts-mls's public API, in cipher suite 1 on the `CiphersuiteImpl` it is given (see
 * tsmlsProviders.ts). Application messages go through wire bytes (encodeMlsMessage and
 * decodeMlsMessage), as Trellis's do.
 */
import {
  acceptAll,
  createApplicationMessage,
  createCommit,
  createGroup,
  createGroupInfoWithExternalPubAndRatchetTree,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  encodeGroupState,
  encodeMlsMessage,
  generateKeyPackage,
  joinGroup,
  joinGroupExternal,
  processMessage,
  processPrivateMessage,
  type CiphersuiteImpl,
  type ClientState,
  type KeyPackage,
  type MLSMessage,
  type PrivateKeyPackage,
  type Welcome,
} from 'ts-mls';

export const TS_MLS_VERSION = '1.6.4';

export interface TsKeyPackage {
  publicPackage: KeyPackage;
  privatePackage: PrivateKeyPackage;
}

export interface TsCommitted {
  pending: ClientState;
  commit: MLSMessage;
  welcome?: Welcome;
}

const encoder = new TextEncoder();

export async function tsKeyPackages(
  cs: CiphersuiteImpl,
  count: number,
  tag: string,
): Promise<TsKeyPackage[]> {
  const out: TsKeyPackage[] = [];
  for (let i = 0; i < count; i++) {
    out.push(
      await generateKeyPackage(
        { credentialType: 'basic', identity: encoder.encode(`${tag}-${i}`) },
        defaultCapabilities(),
        defaultLifetime,
        [],
        cs,
      ),
    );
  }
  return out;
}

/** Group operations of ts-mls on one provider. */
export class TsMls {
  constructor(private readonly cs: CiphersuiteImpl) {}

  createGroup(kp: TsKeyPackage): Promise<ClientState> {
    const { cs } = this;
    return createGroup(cs.rng.randomBytes(32), kp.publicPackage, kp.privatePackage, [], cs);
  }

  /** A commit adding `kps`, with the ratchet tree in the Welcome's GroupInfo. */
  async commitAdd(state: ClientState, kps: TsKeyPackage[]): Promise<TsCommitted> {
    const r = await createCommit(
      { state, cipherSuite: this.cs },
      {
        ratchetTreeExtension: true,
        extraProposals: kps.map((kp) => ({
          proposalType: 'add' as const,
          add: { keyPackage: kp.publicPackage },
        })),
      },
    );
    return { pending: r.newState, commit: r.commit, ...(r.welcome && { welcome: r.welcome }) };
  }

  join(welcome: Welcome, kp: TsKeyPackage): Promise<ClientState> {
    return joinGroup(welcome, kp.publicPackage, kp.privatePackage, emptyPskIndex, this.cs);
  }

  /** A commit with no proposals: ts-mls always gives it an UpdatePath. */
  async commitPath(state: ClientState): Promise<TsCommitted> {
    const r = await createCommit({ state, cipherSuite: this.cs }, {});
    return { pending: r.newState, commit: r.commit };
  }

  async commitRemove(state: ClientState, leaf: number): Promise<TsCommitted> {
    const r = await createCommit(
      { state, cipherSuite: this.cs },
      { extraProposals: [{ proposalType: 'remove', remove: { removed: leaf } }] },
    );
    return { pending: r.newState, commit: r.commit };
  }

  async process(state: ClientState, commit: MLSMessage): Promise<ClientState> {
    if (commit.wireformat !== 'mls_private_message' && commit.wireformat !== 'mls_public_message') {
      throw new Error(`not a group message: ${commit.wireformat}`);
    }
    const r = await processMessage(commit, state, emptyPskIndex, acceptAll, this.cs);
    return r.newState;
  }

  /** `count` application messages of `data`, each encoded to wire bytes. */
  async encryptMany(
    state: ClientState,
    data: Uint8Array,
    count: number,
  ): Promise<{ state: ClientState; messages: Uint8Array[] }> {
    const messages: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const r = await createApplicationMessage(state, data, this.cs);
      state = r.newState;
      messages.push(
        encodeMlsMessage({
          version: 'mls10',
          wireformat: 'mls_private_message',
          privateMessage: r.privateMessage,
        }),
      );
    }
    return { state, messages };
  }

  /** Decodes and decrypts application messages from wire bytes. */
  async decryptMany(state: ClientState, messages: Uint8Array[]): Promise<ClientState> {
    for (const bytes of messages) {
      const decoded = decodeMlsMessage(bytes, 0)?.[0];
      if (decoded?.wireformat !== 'mls_private_message') throw new Error('not a PrivateMessage');
      const r = await processPrivateMessage(state, decoded.privateMessage, emptyPskIndex, this.cs);
      if (r.kind !== 'applicationMessage') throw new Error('expected an application message');
      state = r.newState;
    }
    return state;
  }

  /**
   * A full tree of `joiners.length + 2` members by real commits: every parent node with members
   * under both children set, and no unmerged leaves. `founder` creates the group (leaf 0, the
   * observer) and adds `second` (leaf 1) with an Add-only commit, then commits a path, which
   * sets the parent of leaves 0 and 1. Every joiner then joins by external commit, taking the
   * next leaf: its path sets its whole filtered direct path with empty unmerged_leaves, and a
   * later joiner below a node sets it again. The last joiner (leaf N−1) is the committer
   * afterwards. Only the observer follows every commit; each joiner's state is dropped once the
   * next one is in. Each step is O(N) in ts-mls (the joiner validates the whole tree, both sides
   * rehash it and rebuild the secret tree), so the whole build is O(N²). `progress` counts the
   * members in so far, for a report when the budget stops it.
   */
  async fullTree(
    founder: TsKeyPackage,
    second: TsKeyPackage,
    joiners: TsKeyPackage[],
    progress: { members: number },
  ): Promise<{ committer: ClientState; observer: ClientState }> {
    const { cs } = this;
    let observer = await this.createGroup(founder);
    observer = (await this.commitAdd(observer, [second])).pending;
    observer = (await this.commitPath(observer)).pending;
    progress.members = 2;
    let committer: ClientState | undefined;
    for (const kp of joiners) {
      const info = await createGroupInfoWithExternalPubAndRatchetTree(observer, [], cs);
      const joined = await joinGroupExternal(info, kp.publicPackage, kp.privatePackage, false, cs);
      observer = await this.process(observer, {
        version: 'mls10',
        wireformat: 'mls_public_message',
        publicMessage: joined.publicMessage,
      });
      committer = joined.newState;
      progress.members++;
    }
    if (!committer) throw new Error('a full tree needs at least one joiner');
    return { committer, observer };
  }
}

export function tsStateSize(state: ClientState): number {
  return encodeGroupState(state).length;
}

export function tsLeafIndex(state: ClientState): number {
  return state.privatePath.leafIndex;
}

export function tsEpochAuthenticator(state: ClientState): Uint8Array {
  return state.keySchedule.epochAuthenticator;
}

/**
 * Whether the tree is full as real commits leave it: every parent node with members under both
 * of its children is set and has no unmerged leaves. (A parent with members on one side only is
 * never on a filtered direct path, §4.1.2, so it stays blank.)
 */
export function tsTreeIsFull(state: ClientState): boolean {
  const tree = state.ratchetTree;
  const memberIn = (first: number, last: number): boolean => {
    for (let leaf = first; leaf <= last; leaf++) {
      if (tree[2 * leaf]?.nodeType === 'leaf') return true;
    }
    return false;
  };
  for (let node = 1; node < tree.length; node += 2) {
    let level = 0;
    while (((node >> level) & 1) === 1) level++;
    const half = 1 << (level - 1);
    const first = (node + 1) / 2 - half;
    const split = memberIn(first, first + half - 1) && memberIn(first + half, first + 2 * half - 1);
    const slot = tree[node];
    if (split && (slot?.nodeType !== 'parent' || slot.parent.unmergedLeaves.length > 0)) {
      return false;
    }
  }
  return true;
}
