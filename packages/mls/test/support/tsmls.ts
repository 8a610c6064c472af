/**
 * Interop peers: group members of Trellis and of ts-mls 1.6.4 behind one small interface, so a
 * scenario can be written once and run with either library on either side.
 *
 * Everything that passes between members is bytes, written by the sender's own codec and read
 * by the receiver's own codec (MLSMessage framing, RFC 9420 §6): neither library ever sees the
 * other's objects. Each member keeps its current state and adopts its own commits at once.
 */
import assert from 'node:assert/strict';
import {
  acceptAll,
  createApplicationMessage,
  createCommit as tsCreateCommit,
  createGroup as tsCreateGroup,
  createGroupInfoWithExternalPubAndRatchetTree,
  createProposal as tsCreateProposal,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  encodeMlsMessage,
  generateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  joinGroupExternal,
  mlsExporter,
  processMessage as tsProcessMessage,
  type CiphersuiteImpl,
  type ClientState,
  type KeyPackage as TsKeyPackage,
  type MLSMessage,
  type PrivateKeyPackage,
  type Proposal as TsProposal,
} from 'ts-mls';
import {
  basicCredential,
  cipherSuite,
  createCommit,
  createGroup,
  createGroupInfo,
  createKeyPackage,
  CredentialType,
  decode,
  encode,
  encryptApplication,
  epochAuthenticator,
  exportSecret,
  joinByExternalCommit,
  joinFromWelcome,
  mlsMessageCodec,
  nodeCrypto,
  processMessage,
  proposeUpdate,
  WireFormat,
  type CipherSuite,
  type Extension,
  type GroupState,
  type KeyPackageBundle,
  type MlsMessage,
} from '../../src/index.js';
import { bytesEqual, utf8 } from '../../src/util/bytes.js';

// ---- The wire: bytes only ----

/** Encodes a ts-mls message with ts-mls's codec. */
export function tsBytes(message: MLSMessage): Uint8Array {
  return encodeMlsMessage(message);
}

/** Decodes bytes with ts-mls's codec, refusing leftovers. */
export function fromTsBytes(bytes: Uint8Array): MLSMessage {
  const decoded = decodeMlsMessage(bytes, 0);
  assert.ok(decoded, 'ts-mls could not decode the message');
  assert.equal(decoded[1], bytes.length, 'ts-mls left bytes over after the message');
  return decoded[0];
}

/** Encodes a Trellis message with Trellis's codec. */
export function trellisBytes(message: MlsMessage): Uint8Array {
  return encode(mlsMessageCodec, message);
}

/** Decodes bytes with Trellis's codec (which refuses trailing bytes itself). */
export function fromTrellisBytes(bytes: Uint8Array): MlsMessage {
  return decode(mlsMessageCodec, bytes);
}

// ---- ts-mls set-up ----

export const TS_SUITE = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519' as const;
/** Trellis's suite 1 on the node provider, the same suite as TS_SUITE. */
export const SUITE: CipherSuite = cipherSuite(1, nodeCrypto);
/** Seconds since the epoch, for Trellis KeyPackage lifetimes. */
export const NOW = BigInt(Math.floor(Date.now() / 1000));

let impl: Promise<CiphersuiteImpl> | undefined;

/** ts-mls's implementation of cipher suite 1 (its default provider), made once. */
export function tsSuite(): Promise<CiphersuiteImpl> {
  impl ??= getCiphersuiteImpl(getCiphersuiteFromName(TS_SUITE));
  return impl;
}

/** A ts-mls KeyPackage with the private keys its owner keeps. */
export interface TsKeyPackageBundle {
  publicPackage: TsKeyPackage;
  privatePackage: PrivateKeyPackage;
}

export async function tsKeyPackage(name: string): Promise<TsKeyPackageBundle> {
  return generateKeyPackage(
    { credentialType: 'basic', identity: utf8(name) },
    defaultCapabilities(),
    defaultLifetime,
    [],
    await tsSuite(),
  );
}

export function tsKeyPackageBytes(kp: TsKeyPackage): Uint8Array {
  return tsBytes({ version: 'mls10', wireformat: 'mls_key_package', keyPackage: kp });
}

export function trellisKeyPackage(name: string): KeyPackageBundle {
  return createKeyPackage(SUITE, { credential: basicCredential(utf8(name)), now: NOW });
}

// ---- Peers ----

export type Library = 'trellis' | 'ts-mls';

/** What a member made of a message it received. */
export type Outcome =
  | { kind: 'application'; text: string }
  | { kind: 'proposal' }
  | { kind: 'commit'; epoch: bigint }
  | { kind: 'removed' };

export interface CommitRequest {
  /** KeyPackages to add, as MLSMessage bytes. */
  add?: Uint8Array[];
  /** Members to remove, by name (their basic credential's identity). */
  remove?: string[];
  /** Replaces the GroupContext extensions. */
  groupContextExtensions?: Extension[];
  /**
   * Send an UpdatePath even if no proposal needs one (Trellis only: ts-mls decides by itself,
   * and always sends one on a commit with no proposals).
   */
  path?: boolean;
  /** PrivateMessage (true) or PublicMessage (false); each library's default when omitted. */
  encrypt?: boolean;
}

export interface SentCommit {
  commit: Uint8Array;
  welcome?: Uint8Array;
}

/** A group member of either library. */
export interface Member {
  readonly name: string;
  readonly library: Library;
  readonly epoch: bigint;
  readonly epochAuthenticator: Uint8Array;
  /** MLS-Exporter (§8.5) with an empty context. */
  exporter(label: string): Promise<Uint8Array>;
  /** The leaf index of the member with this name, in this member's view of the tree. */
  leafOf(name: string): number;
  send(text: string): Promise<Uint8Array>;
  receive(bytes: Uint8Array): Promise<Outcome>;
  /** Creates a commit and adopts the epoch it starts. */
  commit(request: CommitRequest): Promise<SentCommit>;
  /** A GroupInfo (MLSMessage bytes) with the ratchet tree and `external_pub`. */
  groupInfoForExternalJoin(): Promise<Uint8Array>;
}

/** A client with a KeyPackage, waiting for a Welcome. */
export interface Joiner {
  readonly name: string;
  readonly library: Library;
  readonly keyPackage: Uint8Array;
  join(welcome: Uint8Array): Promise<Member>;
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

// -- Trellis --

export class TrellisMember implements Member {
  readonly library = 'trellis';
  constructor(
    readonly name: string,
    public state: GroupState,
  ) {}

  get epoch(): bigint {
    return this.state.context.epoch;
  }
  get epochAuthenticator(): Uint8Array {
    return epochAuthenticator(this.state);
  }
  async exporter(label: string): Promise<Uint8Array> {
    return exportSecret(this.state, label, new Uint8Array(0), 32);
  }
  leafOf(name: string): number {
    for (const [index, leaf] of this.state.tree.members()) {
      const c = leaf.credential;
      if (c.credentialType === CredentialType.basic && bytesEqual(c.identity, utf8(name))) {
        return index;
      }
    }
    throw new Error(`${name} is not in ${this.name}'s tree`);
  }
  async send(message: string): Promise<Uint8Array> {
    const sent = encryptApplication(this.state, utf8(message));
    this.state = sent.state;
    return trellisBytes(sent.message);
  }
  async receive(bytes: Uint8Array): Promise<Outcome> {
    const r = processMessage(this.state, fromTrellisBytes(bytes));
    switch (r.kind) {
      case 'application':
        this.state = r.state;
        return { kind: 'application', text: text(r.data) };
      case 'proposal':
        this.state = r.state;
        return { kind: 'proposal' };
      case 'commit':
        this.state = r.state;
        return { kind: 'commit', epoch: r.state.context.epoch };
      case 'removed':
        return { kind: 'removed' };
    }
  }
  async commit(request: CommitRequest): Promise<SentCommit> {
    const created = createCommit(this.state, {
      add: (request.add ?? []).map((bytes) => {
        const m = fromTrellisBytes(bytes);
        assert.equal(m.wireFormat, WireFormat.mls_key_package);
        return (m as { keyPackage: KeyPackageBundle['keyPackage'] }).keyPackage;
      }),
      remove: (request.remove ?? []).map((n) => this.leafOf(n)),
      ...(request.groupContextExtensions && {
        groupContextExtensions: request.groupContextExtensions,
      }),
      ...(request.path !== undefined && { forcePath: request.path }),
      ...(request.encrypt !== undefined && { encrypt: request.encrypt }),
    });
    this.state = created.pending;
    return {
      commit: trellisBytes(created.commit),
      ...(created.welcome && { welcome: trellisBytes(created.welcome) }),
    };
  }
  /** Proposes an Update of this member's leaf (§12.1.2); the proposal is cached here too. */
  async proposeUpdate(): Promise<Uint8Array> {
    const proposed = proposeUpdate(this.state);
    this.state = proposed.state;
    return trellisBytes(proposed.message);
  }
  async groupInfoForExternalJoin(): Promise<Uint8Array> {
    const groupInfo = createGroupInfo(this.state, { externalPub: true, ratchetTree: true });
    return trellisBytes({ wireFormat: WireFormat.mls_group_info, groupInfo });
  }
}

export function trellisFounder(name: string): TrellisMember {
  return new TrellisMember(
    name,
    createGroup(SUITE, { credential: basicCredential(utf8(name)), now: NOW }),
  );
}

export function trellisJoiner(name: string): Joiner {
  const bundle = trellisKeyPackage(name);
  return {
    name,
    library: 'trellis',
    keyPackage: trellisBytes({
      wireFormat: WireFormat.mls_key_package,
      keyPackage: bundle.keyPackage,
    }),
    async join(welcome) {
      const m = fromTrellisBytes(welcome);
      assert.equal(m.wireFormat, WireFormat.mls_welcome);
      if (m.wireFormat !== WireFormat.mls_welcome) throw new Error('unreachable');
      return new TrellisMember(name, joinFromWelcome(nodeCrypto, m.welcome, bundle, { now: NOW }));
    },
  };
}

/** Joins by external commit from GroupInfo bytes; returns the commit bytes and the member. */
export function trellisExternalJoin(
  name: string,
  groupInfo: Uint8Array,
): { commit: Uint8Array; member: TrellisMember } {
  const m = fromTrellisBytes(groupInfo);
  assert.equal(m.wireFormat, WireFormat.mls_group_info);
  if (m.wireFormat !== WireFormat.mls_group_info) throw new Error('unreachable');
  const joined = joinByExternalCommit(nodeCrypto, m.groupInfo, {
    credential: basicCredential(utf8(name)),
  });
  return { commit: trellisBytes(joined.commit), member: new TrellisMember(name, joined.pending) };
}

// -- ts-mls --

export class TsMember implements Member {
  readonly library = 'ts-mls';
  constructor(
    readonly name: string,
    public state: ClientState,
  ) {}

  get epoch(): bigint {
    return this.state.groupContext.epoch;
  }
  get epochAuthenticator(): Uint8Array {
    return this.state.keySchedule.epochAuthenticator;
  }
  async exporter(label: string): Promise<Uint8Array> {
    return mlsExporter(
      this.state.keySchedule.exporterSecret,
      label,
      new Uint8Array(0),
      32,
      await tsSuite(),
    );
  }
  leafOf(name: string): number {
    const index = this.state.ratchetTree.findIndex(
      (node) =>
        node?.nodeType === 'leaf' &&
        node.leaf.credential.credentialType === 'basic' &&
        bytesEqual(node.leaf.credential.identity, utf8(name)),
    );
    if (index < 0) throw new Error(`${name} is not in ${this.name}'s tree`);
    return index / 2;
  }
  async send(message: string): Promise<Uint8Array> {
    const r = await createApplicationMessage(this.state, utf8(message), await tsSuite());
    this.state = r.newState;
    return tsBytes({
      version: 'mls10',
      wireformat: 'mls_private_message',
      privateMessage: r.privateMessage,
    });
  }
  async receive(bytes: Uint8Array): Promise<Outcome> {
    const m = fromTsBytes(bytes);
    if (m.wireformat !== 'mls_public_message' && m.wireformat !== 'mls_private_message') {
      throw new Error(`not a group message: ${m.wireformat}`);
    }
    const before = this.epoch;
    const r = await tsProcessMessage(m, this.state, emptyPskIndex, acceptAll, await tsSuite());
    this.state = r.newState;
    if (r.kind === 'applicationMessage') return { kind: 'application', text: text(r.message) };
    assert.equal(r.actionTaken, 'accept');
    if (r.newState.groupActiveState.kind === 'removedFromGroup') return { kind: 'removed' };
    return this.epoch > before ? { kind: 'commit', epoch: this.epoch } : { kind: 'proposal' };
  }
  async commit(request: CommitRequest): Promise<SentCommit> {
    const proposals: TsProposal[] = [
      ...(request.groupContextExtensions
        ? [
            {
              proposalType: 'group_context_extensions',
              groupContextExtensions: { extensions: request.groupContextExtensions },
            } as const,
          ]
        : []),
      ...(request.remove ?? []).map(
        (n) => ({ proposalType: 'remove', remove: { removed: this.leafOf(n) } }) as const,
      ),
      ...(request.add ?? []).map((bytes) => {
        const m = fromTsBytes(bytes);
        assert.equal(m.wireformat, 'mls_key_package');
        if (m.wireformat !== 'mls_key_package') throw new Error('unreachable');
        return { proposalType: 'add', add: { keyPackage: m.keyPackage } } as const;
      }),
    ];
    if (request.path) {
      assert.equal(proposals.length, 0, 'ts-mls cannot be asked for a path; it picks');
    }
    const r = await tsCreateCommit(
      { state: this.state, cipherSuite: await tsSuite() },
      {
        extraProposals: proposals,
        ratchetTreeExtension: true,
        wireAsPublicMessage: request.encrypt === false,
      },
    );
    this.state = r.newState;
    return {
      commit: tsBytes(r.commit),
      ...(r.welcome && {
        welcome: tsBytes({ version: 'mls10', wireformat: 'mls_welcome', welcome: r.welcome }),
      }),
    };
  }
  /** Sends a proposal by itself (for proposals a later commit covers by reference). */
  async propose(proposal: TsProposal, encrypt = false): Promise<Uint8Array> {
    const r = await tsCreateProposal(this.state, !encrypt, proposal, await tsSuite());
    this.state = r.newState;
    return tsBytes(r.message);
  }
  async groupInfoForExternalJoin(): Promise<Uint8Array> {
    const groupInfo = await createGroupInfoWithExternalPubAndRatchetTree(
      this.state,
      [],
      await tsSuite(),
    );
    return tsBytes({ version: 'mls10', wireformat: 'mls_group_info', groupInfo });
  }
}

export async function tsFounder(name: string): Promise<TsMember> {
  const kp = await tsKeyPackage(name);
  const cs = await tsSuite();
  const state = await tsCreateGroup(
    cs.rng.randomBytes(32),
    kp.publicPackage,
    kp.privatePackage,
    [],
    cs,
  );
  return new TsMember(name, state);
}

export async function tsJoiner(name: string): Promise<Joiner> {
  const kp = await tsKeyPackage(name);
  return {
    name,
    library: 'ts-mls',
    keyPackage: tsKeyPackageBytes(kp.publicPackage),
    async join(welcome) {
      const m = fromTsBytes(welcome);
      assert.equal(m.wireformat, 'mls_welcome');
      if (m.wireformat !== 'mls_welcome') throw new Error('unreachable');
      const state = await joinGroup(
        m.welcome,
        kp.publicPackage,
        kp.privatePackage,
        emptyPskIndex,
        await tsSuite(),
      );
      return new TsMember(name, state);
    },
  };
}

/** Joins by external commit with ts-mls; returns the commit bytes and the member. */
export async function tsExternalJoin(
  name: string,
  groupInfo: Uint8Array,
): Promise<{ commit: Uint8Array; member: TsMember }> {
  const m = fromTsBytes(groupInfo);
  assert.equal(m.wireformat, 'mls_group_info');
  if (m.wireformat !== 'mls_group_info') throw new Error('unreachable');
  const kp = await tsKeyPackage(name);
  const r = await joinGroupExternal(
    m.groupInfo,
    kp.publicPackage,
    kp.privatePackage,
    false,
    await tsSuite(),
  );
  return {
    commit: tsBytes({
      version: 'mls10',
      wireformat: 'mls_public_message',
      publicMessage: r.publicMessage,
    }),
    member: new TsMember(name, r.newState),
  };
}

export function founder(library: Library, name: string): Promise<Member> {
  return library === 'trellis' ? Promise.resolve(trellisFounder(name)) : tsFounder(name);
}

export function joiner(library: Library, name: string): Promise<Joiner> {
  return library === 'trellis' ? Promise.resolve(trellisJoiner(name)) : tsJoiner(name);
}
