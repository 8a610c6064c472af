/**
 * The ts-mls 1.6.4 side of `npm run bench` (groups.ts): the same group operations as the Trellis
 * side, through ts-mls's public API, in cipher suite 1 with its default crypto provider. States
 * and messages stay ts-mls objects; groups.ts times the calls.
 */
import {
  createApplicationMessage,
  createCommit,
  createGroup,
  createGroupInfoWithExternalPubAndRatchetTree,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  encodeGroupState,
  generateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  joinGroupExternal,
  processMessage,
  processPrivateMessage,
  acceptAll,
  type CiphersuiteImpl,
  type ClientState,
  type KeyPackage,
  type MLSMessage,
  type PrivateKeyPackage,
  type PrivateMessage,
  type Welcome,
} from 'ts-mls';

export const TS_MLS_VERSION = '1.6.4';

export type TsState = ClientState;

export interface TsKeyPackage {
  publicPackage: KeyPackage;
  privatePackage: PrivateKeyPackage;
}

export interface TsCommitted {
  pending: ClientState;
  commit: MLSMessage;
  welcome?: Welcome;
}

let suite: CiphersuiteImpl | undefined;

async function cs(): Promise<CiphersuiteImpl> {
  suite ??= await getCiphersuiteImpl(
    getCiphersuiteFromName('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519'),
  );
  return suite;
}

const encoder = new TextEncoder();

export async function tsKeyPackages(count: number, tag: string): Promise<TsKeyPackage[]> {
  const c = await cs();
  const out: TsKeyPackage[] = [];
  for (let i = 0; i < count; i++) {
    out.push(
      await generateKeyPackage(
        { credentialType: 'basic', identity: encoder.encode(`${tag}-${i}`) },
        defaultCapabilities(),
        defaultLifetime,
        [],
        c,
      ),
    );
  }
  return out;
}

export async function tsCreateGroup(kp: TsKeyPackage): Promise<ClientState> {
  const c = await cs();
  return createGroup(c.rng.randomBytes(32), kp.publicPackage, kp.privatePackage, [], c);
}

/** A commit adding `kps`, with the ratchet tree in the Welcome's GroupInfo. */
export async function tsCommitAdd(state: ClientState, kps: TsKeyPackage[]): Promise<TsCommitted> {
  const r = await createCommit(
    { state, cipherSuite: await cs() },
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

export async function tsJoin(welcome: Welcome, kp: TsKeyPackage): Promise<ClientState> {
  return joinGroup(welcome, kp.publicPackage, kp.privatePackage, emptyPskIndex, await cs());
}

/** A commit with no proposals: ts-mls always gives it an UpdatePath. */
export async function tsCommitPath(state: ClientState): Promise<TsCommitted> {
  const r = await createCommit({ state, cipherSuite: await cs() }, {});
  return { pending: r.newState, commit: r.commit };
}

export async function tsCommitRemove(state: ClientState, leaf: number): Promise<TsCommitted> {
  const r = await createCommit(
    { state, cipherSuite: await cs() },
    { extraProposals: [{ proposalType: 'remove', remove: { removed: leaf } }] },
  );
  return { pending: r.newState, commit: r.commit };
}

export async function tsProcess(state: ClientState, commit: MLSMessage): Promise<ClientState> {
  if (commit.wireformat !== 'mls_private_message' && commit.wireformat !== 'mls_public_message') {
    throw new Error(`not a group message: ${commit.wireformat}`);
  }
  const r = await processMessage(commit, state, emptyPskIndex, acceptAll, await cs());
  return r.newState;
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

export async function tsEncryptMany(
  state: ClientState,
  data: Uint8Array,
  count: number,
): Promise<{ state: ClientState; messages: PrivateMessage[] }> {
  const c = await cs();
  const messages: PrivateMessage[] = [];
  for (let i = 0; i < count; i++) {
    const r = await createApplicationMessage(state, data, c);
    state = r.newState;
    messages.push(r.privateMessage);
  }
  return { state, messages };
}

export async function tsDecryptMany(
  state: ClientState,
  messages: PrivateMessage[],
): Promise<ClientState> {
  const c = await cs();
  for (const m of messages) {
    const r = await processPrivateMessage(state, m, emptyPskIndex, c);
    if (r.kind !== 'applicationMessage') throw new Error('expected an application message');
    state = r.newState;
  }
  return state;
}

/**
 * A full tree of `joiners.length + 2` members by real commits: every parent node with members
 * under both children set, and no unmerged leaves. `founder` creates the group (leaf 0, the
 * observer) and adds `second` (leaf 1) with an Add-only commit, then commits a path, which sets
 * the parent of leaves 0 and 1. Every joiner then joins by external commit, taking the next leaf:
 * its path sets its whole filtered direct path with empty unmerged_leaves, and a later joiner
 * below a node sets it again. The last joiner (leaf N-1) is the committer afterwards. Only the
 * observer follows every commit; each joiner's state is dropped once the next one is in. Each
 * step is O(N) in ts-mls (the joiner validates the whole tree, both sides rehash it and rebuild
 * the secret tree), so the whole build is O(N²).
 *
 * Stops once `deadline` (a performance.now() value) passes, saying how far it got.
 */
export async function tsFullTree(
  founder: TsKeyPackage,
  second: TsKeyPackage,
  joiners: TsKeyPackage[],
  deadline: number,
): Promise<{ committer: ClientState; observer: ClientState } | { stoppedAfter: number }> {
  const c = await cs();
  let observer = await tsCreateGroup(founder);
  observer = (await tsCommitAdd(observer, [second])).pending;
  observer = (await tsCommitPath(observer)).pending;
  let committer: ClientState | undefined;
  for (const [i, kp] of joiners.entries()) {
    if (performance.now() > deadline) return { stoppedAfter: i + 2 };
    const info = await createGroupInfoWithExternalPubAndRatchetTree(observer, [], c);
    const joined = await joinGroupExternal(info, kp.publicPackage, kp.privatePackage, false, c);
    observer = await tsProcess(observer, {
      version: 'mls10',
      wireformat: 'mls_public_message',
      publicMessage: joined.publicMessage,
    });
    committer = joined.newState;
  }
  if (!committer) throw new Error('a full tree needs at least one joiner');
  return { committer, observer };
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
