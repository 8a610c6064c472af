/**
 * The group export of MSC4038: what decrypting and verifying one epoch's application messages
 * needs, as a versioned TLS-encoded struct (docs/backup-format.md describes every field).
 *
 * It follows the MSC's struct, with a format version in front and, in place of the MSC's open
 * `key_packages` question, the leaf count and the members' leaf nodes, inline or by reference
 * to member sets stored once (memberSet.ts).
 */
import {
  cipherSuite,
  createEpochReader,
  groupContextCodec,
  members as membersOfState,
  nodeCrypto,
  ProtocolVersion,
  Reader,
  Writer,
  type CipherSuiteId,
  type Codec,
  type CryptoProvider,
  type EpochReader,
  type EpochReaderOptions,
  type GroupContext,
  type GroupState,
  type LeafNode,
} from '@trellis/mls';
import { BackupError } from './errors.js';
import { memberSetCodec, membersOf, type MemberSet } from './memberSet.js';
import { MEMBER_SET_ID_SIZE } from './sessionId.js';

/** Version of the GroupExport encoding. */
export const GROUP_EXPORT_VERSION = 1;

/**
 * The largest tree an export may describe: 2^20 leaves, a hundred times the largest groups
 * Trellis is built for. A reader's secret tree is allocated for the whole tree, so the bound
 * keeps a few bytes of export from asking for gigabytes.
 */
export const MAX_LEAF_COUNT = 1 << 20;

const EMPTY = new Uint8Array(0);

/** Where an export's members are: in the export, or in a member set stored on its own. */
export type MemberSetSource =
  | { readonly kind: 'inline'; readonly set: MemberSet }
  | { readonly kind: 'reference'; readonly id: Uint8Array };

const SourceType = { inline: 1, reference: 2 } as const;

export interface GroupExport {
  readonly cipherSuite: CipherSuiteId;
  readonly context: GroupContext;
  readonly senderDataSecret: Uint8Array;
  readonly membershipKey: Uint8Array;
  readonly confirmationKey: Uint8Array;
  readonly encryptionSecret: Uint8Array;
  readonly interimTranscriptHash: Uint8Array;
  readonly epochAuthenticator: Uint8Array;
  /** Leaves of the epoch's ratchet tree, a power of two: the shape of its secret tree. */
  readonly leafCount: number;
  readonly members: readonly MemberSetSource[];
  /** The MSC's `authenticated_data`: application data kept with the export (empty by default). */
  readonly authenticatedData: Uint8Array;
}

/**
 * ```
 * struct {
 *     uint16 export_version = 1;
 *     ProtocolVersion version = mls10;
 *     CipherSuite cipher_suite;
 *     GroupContext group_context;
 *     opaque sender_data_secret<V>;
 *     opaque membership_key<V>;
 *     opaque confirmation_key<V>;
 *     opaque encryption_secret<V>;
 *     opaque interim_transcript_hash<V>;
 *     opaque epoch_authenticator<V>;
 *     uint32 leaf_count;
 *     MemberSetSource members<V>;
 *     opaque authenticated_data<V>;
 * } GroupExport;
 * ```
 */
export const groupExportCodec: Codec<GroupExport> = {
  encode(w, e) {
    w.u16(GROUP_EXPORT_VERSION);
    w.u16(ProtocolVersion.mls10);
    w.u16(e.cipherSuite);
    groupContextCodec.encode(w, e.context);
    w.opaque(e.senderDataSecret);
    w.opaque(e.membershipKey);
    w.opaque(e.confirmationKey);
    w.opaque(e.encryptionSecret);
    w.opaque(e.interimTranscriptHash);
    w.opaque(e.epochAuthenticator);
    w.u32(e.leafCount);
    w.vector(e.members, (w, source) => {
      if (source.kind === 'inline') {
        w.u8(SourceType.inline);
        memberSetCodec.encode(w, source.set);
      } else {
        w.u8(SourceType.reference);
        w.opaque(source.id);
      }
    });
    w.opaque(e.authenticatedData);
  },
  decode(r) {
    const exportVersion = r.u16();
    if (exportVersion !== GROUP_EXPORT_VERSION) {
      throw new BackupError(
        'UNSUPPORTED_VERSION',
        `group export version ${exportVersion} is not ${GROUP_EXPORT_VERSION}`,
      );
    }
    const version = r.u16();
    if (version !== ProtocolVersion.mls10) {
      throw new BackupError('UNSUPPORTED_VERSION', `protocol version ${version} is not MLS 1.0`);
    }
    return {
      cipherSuite: r.u16() as CipherSuiteId,
      context: groupContextCodec.decode(r),
      senderDataSecret: r.opaque(),
      membershipKey: r.opaque(),
      confirmationKey: r.opaque(),
      encryptionSecret: r.opaque(),
      interimTranscriptHash: r.opaque(),
      epochAuthenticator: r.opaque(),
      leafCount: r.u32(),
      members: r.vector((r): MemberSetSource => {
        const type = r.u8();
        if (type === SourceType.inline) return { kind: 'inline', set: memberSetCodec.decode(r) };
        if (type === SourceType.reference) return { kind: 'reference', id: r.opaque() };
        throw new BackupError('MALFORMED_EXPORT', `unknown member set source type ${type}`);
      }),
      authenticatedData: r.opaque(),
    };
  },
};

export function encodeGroupExport(groupExport: GroupExport): Uint8Array {
  const w = new Writer(1024);
  groupExportCodec.encode(w, groupExport);
  return w.finish();
}

/**
 * Decodes and checks a group export. Malformed TLS (truncation, trailing bytes, bad lengths) is
 * an `MlsError`; a wrong version is `UNSUPPORTED_VERSION`; an unknown cipher suite is the
 * engine's `UNSUPPORTED_CIPHER_SUITE`; fields that do not fit together are `MALFORMED_EXPORT`.
 */
export function decodeGroupExport(bytes: Uint8Array): GroupExport {
  const r = new Reader(bytes);
  const groupExport = groupExportCodec.decode(r);
  r.done();
  checkGroupExport(groupExport);
  return groupExport;
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;
}

/** The checks that need no member set: suite, versions, secret sizes, tree shape, ids. */
function checkGroupExport(e: GroupExport): void {
  const malformed = (why: string) => new BackupError('MALFORMED_EXPORT', `group export: ${why}`);
  // Throws MlsError UNSUPPORTED_CIPHER_SUITE for an id the engine does not know.
  const nh = cipherSuite(e.cipherSuite, nodeCrypto).kdf.size;
  if (e.context.version !== ProtocolVersion.mls10) {
    throw malformed(`the group context is for protocol version ${e.context.version}`);
  }
  if (e.context.cipherSuite !== e.cipherSuite) {
    throw malformed(`the group context is for cipher suite ${e.context.cipherSuite}`);
  }
  const secrets = {
    sender_data_secret: e.senderDataSecret,
    membership_key: e.membershipKey,
    confirmation_key: e.confirmationKey,
    encryption_secret: e.encryptionSecret,
    interim_transcript_hash: e.interimTranscriptHash,
    epoch_authenticator: e.epochAuthenticator,
  };
  for (const [name, value] of Object.entries(secrets)) {
    if (value.length !== nh) throw malformed(`${name} has ${value.length} bytes, not ${nh}`);
  }
  if (!isPowerOfTwo(e.leafCount) || e.leafCount > MAX_LEAF_COUNT) {
    throw malformed(`leaf count ${e.leafCount} is not a power of two up to ${MAX_LEAF_COUNT}`);
  }
  if (e.members.length === 0) throw malformed('no members');
  for (const source of e.members) {
    if (source.kind === 'reference' && source.id.length !== MEMBER_SET_ID_SIZE) {
      throw malformed(`a member set id has ${source.id.length} bytes, not ${MEMBER_SET_ID_SIZE}`);
    }
  }
}

/**
 * The export of a group state's current epoch, with its members inline as one set. Uses only
 * the state's public fields. The state's own progress through the epoch does not matter: the
 * export holds the epoch's secrets, from which every message of the epoch can be decrypted.
 */
export function exportGroupState(
  state: GroupState,
  options: { authenticatedData?: Uint8Array } = {},
): GroupExport {
  const { secrets } = state;
  const leaves: (LeafNode | undefined)[] = [];
  for (const [leafIndex, leaf] of membersOfState(state)) leaves[leafIndex] = leaf;
  return {
    cipherSuite: state.suite.id,
    context: state.context,
    senderDataSecret: secrets.senderDataSecret,
    membershipKey: secrets.membershipKey,
    confirmationKey: secrets.confirmationKey,
    encryptionSecret: secrets.encryptionSecret,
    interimTranscriptHash: state.interimTranscriptHash,
    epochAuthenticator: secrets.epochAuthenticator,
    leafCount: state.tree.leafCount,
    members: [
      {
        kind: 'inline',
        set: { cipherSuite: state.suite.id, firstLeaf: 0, leaves: Array.from(leaves) },
      },
    ],
    authenticatedData: options.authenticatedData ?? EMPTY,
  };
}

/**
 * A decrypt-only reader for the export's epoch. Member sets the export refers to are looked up
 * with `memberSet` (the restore side fetches and checks them); `MISSING_MEMBER_SET` when one is
 * not there.
 */
export function readerForExport(
  groupExport: GroupExport,
  memberSet: (id: Uint8Array) => MemberSet | undefined = () => undefined,
  options: { provider?: CryptoProvider; reader?: EpochReaderOptions } = {},
): EpochReader {
  const sets = groupExport.members.map((source) => {
    if (source.kind === 'inline') return source.set;
    const set = memberSet(source.id);
    if (!set) {
      throw new BackupError('MISSING_MEMBER_SET', 'a member set the export refers to is missing');
    }
    return set;
  });
  const { cipherSuite: id, leafCount } = groupExport;
  return createEpochReader(
    {
      suite: cipherSuite(id, options.provider ?? nodeCrypto),
      context: groupExport.context,
      senderDataSecret: groupExport.senderDataSecret,
      encryptionSecret: groupExport.encryptionSecret,
      leafCount,
      members: membersOf(sets, id, leafCount),
    },
    options.reader,
  );
}
