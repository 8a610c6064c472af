/**
 * A decrypt-only view of one epoch: what a device restoring history from a key backup (MSC4038)
 * holds instead of a group state. It can decrypt and verify the epoch's PrivateMessage
 * application messages, and nothing more: it has no init_secret, exporter, external or
 * resumption secret and no private key, so it cannot follow a commit, send, or join.
 * A reader made from a member's own state (`epochReaderFromState`) holds less still: only the
 * other members' application ratchets, so neither handshake keys nor the member's own sending
 * keys outlive the state.
 *
 * A reader is an immutable value like a `GroupState`: decrypting returns the content and the
 * reader with that message's key used up, and the reader it was called on is left as it was.
 * Keeping an earlier reader is how a caller decrypts the same history twice.
 */
import { Reader, Writer } from '../codec/index.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { cipherSuite, type CipherSuite } from '../crypto/suites.js';
import { MlsError } from '../errors.js';
import { checkGroupAndEpoch } from '../framing/authentication.js';
import { ContentType, ProtocolVersion, WireFormat } from '../framing/content.js';
import type { MlsMessage } from '../framing/mlsMessage.js';
import { decryptPrivateMessage } from '../framing/privateMessage.js';
import { groupContextCodec, type GroupContext } from '../messages/groupContext.js';
import { leafNodeCodec, type LeafNode } from '../messages/leafNode.js';
import { createSecretTree, retainApplicationRatchets, type SecretTree } from '../secretTree.js';
import { decodeSecretTree, encodeSecretTree } from '../secretTreeCodec.js';
import type { GroupState } from './state.js';

/**
 * How far the reader's secret tree reaches, both ahead of the newest key taken and behind it.
 * A group state only needs to tolerate a little reordering of live traffic; a restored history
 * arrives in any order (pagination runs both ways), so the window must span a whole epoch of
 * one sender's messages. Deriving keys costs about 3 HMACs per skipped generation, so the worst
 * case of one message is bounded (65,536 generations: well under a second).
 */
export const DEFAULT_EPOCH_READER_WINDOW = 65_536;

/** What decrypting one epoch's application messages needs: all of it public or per-epoch. */
export interface EpochReaderInput {
  readonly suite: CipherSuite;
  /** The epoch's GroupContext: members sign over it, and it names the group and epoch. */
  readonly context: GroupContext;
  readonly senderDataSecret: Uint8Array;
  /** The root of the epoch's secret tree (RFC 9420 §9). */
  readonly encryptionSecret: Uint8Array;
  /** Leaves of the epoch's ratchet tree (a power of two): the secret tree has the same shape. */
  readonly leafCount: number;
  /** The members' leaf nodes, by leaf index; blank leaves are left out. */
  readonly members: Iterable<readonly [number, LeafNode]>;
}

export interface EpochReaderOptions {
  /** How far ahead of the next expected generation a message may be. */
  readonly maxForwardDistance?: number;
  /** How many generations behind the newest one taken a message may still be decrypted. */
  readonly outOfOrderTolerance?: number;
}

/** A decrypted and verified application message. */
export interface ReadApplicationMessage {
  readonly senderLeaf: number;
  /** The sender's leaf node in this epoch: its credential says who sent the message. */
  readonly sender: LeafNode;
  readonly data: Uint8Array;
  readonly authenticatedData: Uint8Array;
  readonly generation: number;
  /** The reader with this message's key used up: decrypting the message again is refused. */
  readonly reader: EpochReader;
}

export interface EpochReader {
  readonly suite: CipherSuite;
  readonly context: GroupContext;
  readonly leafCount: number;
  /** The member at a leaf index, or undefined for a blank or out-of-range leaf. */
  member(leafIndex: number): LeafNode | undefined;
  /**
   * Decrypts and verifies an application message of this epoch. Refuses, with `MlsError`: other
   * groups and epochs (`WRONG_GROUP`, `WRONG_EPOCH`), anything but a PrivateMessage
   * (`WRONG_WIRE_FORMAT`), proposals and commits (`WRONG_CONTENT_TYPE`, before any key is
   * derived), and every failure `decryptPrivateMessage` reports (AEAD, sender, generation,
   * padding, signature).
   */
  decrypt(message: MlsMessage): ReadApplicationMessage;
}

/**
 * Builds a reader for one epoch. The inputs are checked for consistency (suite, secret lengths,
 * tree shape, leaf indices); a failure is an `MlsError` with code `INVALID_VALUE`.
 */
export function createEpochReader(
  input: EpochReaderInput,
  options: EpochReaderOptions = {},
): EpochReader {
  const { suite, context, leafCount } = input;
  const invalid = (what: string) => new MlsError('INVALID_VALUE', `epoch reader: ${what}`);
  if (context.version !== ProtocolVersion.mls10) {
    throw invalid(`protocol version ${context.version} is not MLS 1.0`);
  }
  if (context.cipherSuite !== suite.id) {
    throw invalid(`the context is for cipher suite ${context.cipherSuite}, not ${suite.id}`);
  }
  for (const [name, secret] of [
    ['sender data secret', input.senderDataSecret],
    ['encryption secret', input.encryptionSecret],
  ] as const) {
    if (secret.length !== suite.kdf.size) {
      throw invalid(`the ${name} has ${secret.length} bytes, not ${suite.kdf.size}`);
    }
  }
  if (!isLeafCount(leafCount)) throw invalid(`leaf count ${leafCount} is not a power of two`);
  const members = new Map<number, LeafNode>();
  for (const [leafIndex, leaf] of input.members) {
    if (!Number.isInteger(leafIndex) || leafIndex < 0 || leafIndex >= leafCount) {
      throw invalid(`leaf ${leafIndex} is outside a tree of ${leafCount} leaves`);
    }
    if (members.has(leafIndex)) throw invalid(`leaf ${leafIndex} is given twice`);
    members.set(leafIndex, leaf);
  }
  const window = {
    maxForwardDistance: options.maxForwardDistance ?? DEFAULT_EPOCH_READER_WINDOW,
    outOfOrderTolerance: options.outOfOrderTolerance ?? DEFAULT_EPOCH_READER_WINDOW,
  };
  for (const [name, value] of Object.entries(window)) {
    if (!Number.isSafeInteger(value) || value < 0) throw invalid(`${name} ${value} is invalid`);
  }
  const secretTree = createSecretTree(suite, input.encryptionSecret, leafCount, window);
  return reader(
    { suite, context, leafCount, senderDataSecret: input.senderDataSecret, members },
    secretTree,
  );
}

function isLeafCount(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 0x80000000 && (n & (n - 1)) === 0;
}

/** What every reader of one epoch shares; only the secret tree differs between them. */
export interface EpochKeys {
  readonly suite: CipherSuite;
  readonly context: GroupContext;
  readonly leafCount: number;
  readonly senderDataSecret: Uint8Array;
  readonly members: ReadonlyMap<number, LeafNode>;
}

/** What each reader holds, for `serializeEpochReader`. */
const internals = new WeakMap<EpochReader, { epoch: EpochKeys; secretTree: SecretTree }>();

function reader(epoch: EpochKeys, secretTree: SecretTree): EpochReader {
  const { suite, context, members } = epoch;
  const value: EpochReader = Object.freeze({
    suite,
    context,
    leafCount: epoch.leafCount,
    member: (leafIndex: number) => members.get(leafIndex),
    decrypt(message: MlsMessage): ReadApplicationMessage {
      if (message.wireFormat !== WireFormat.mls_private_message) {
        throw new MlsError(
          'WRONG_WIRE_FORMAT',
          `wire format ${message.wireFormat} is not a PrivateMessage; a restored epoch only reads application messages`,
        );
      }
      const m = message.privateMessage;
      checkGroupAndEpoch(m.groupId, m.epoch, context);
      if (m.contentType !== ContentType.application) {
        throw new MlsError(
          'WRONG_CONTENT_TYPE',
          `content type ${m.contentType} is a handshake message; a restored epoch only reads application messages`,
        );
      }
      const decrypted = decryptPrivateMessage(suite, m, {
        senderDataSecret: epoch.senderDataSecret,
        secretTree,
        context,
        senderSignatureKey: (leaf) => members.get(leaf)?.signatureKey,
      });
      const { content } = decrypted.authenticated;
      // The content type is bound into both AEADs, so this holds for every message that decrypts.
      if (content.contentType !== ContentType.application) {
        throw new MlsError('WRONG_CONTENT_TYPE', 'decrypted content is not application data');
      }
      const senderLeaf = decrypted.senderData.leafIndex;
      return {
        senderLeaf,
        // Present: decryptPrivateMessage refused a sender without a signature key (a non-member).
        sender: members.get(senderLeaf)!,
        data: content.applicationData,
        authenticatedData: content.authenticatedData,
        generation: decrypted.senderData.generation,
        reader: reader(epoch, decrypted.secretTree),
      };
    },
  });
  internals.set(value, { epoch, secretTree });
  return value;
}

/**
 * The reader of a member's epoch: what a superseded epoch is reduced to once only its
 * application messages still matter. It holds the sender-data secret, the members' leaves and
 * the application ratchets of the other members, as far as the state has used them: keys the
 * member has already used stay out of it. It keeps no handshake ratchet, no node secret of the
 * secret tree and no ratchet of the member's own leaf (its own messages are known when sent), so
 * a message it cannot read any more is refused with `RATCHET_DELETED` (`WRONG_CONTENT_TYPE` for
 * a handshake message, as from every reader).
 */
export function epochReaderFromState(state: GroupState): EpochReader {
  const members = new Map(state.tree.members());
  const epoch: EpochKeys = {
    suite: state.suite,
    context: state.context,
    leafCount: state.tree.leafCount,
    senderDataSecret: state.secrets.senderDataSecret,
    members,
  };
  const others = [...members.keys()].filter((leafIndex) => leafIndex !== state.ownLeaf);
  return reader(epoch, retainApplicationRatchets(state.secretTree, others));
}

/**
 * What a reader holds, for tests that check it holds no more than it should. Not part of the
 * package's API (not exported from the index).
 */
export function epochReaderHoldings(
  value: EpochReader,
): { readonly epoch: EpochKeys; readonly secretTree: SecretTree } | undefined {
  return internals.get(value);
}

/**
 * 2: the secret tree in the partial format (ratchets may be deleted). 1, still read: the full
 * format, written when a reader from a state kept the whole secret tree; such a reader is cut
 * down to its members' application ratchets when read (it does not know its own leaf).
 */
const READER_FORMAT = 2;
const LEGACY_READER_FORMAT = 1;

/** A reader as bytes, used keys excluded; it holds secrets, so store it as such. */
export function serializeEpochReader(value: EpochReader): Uint8Array {
  const held = internals.get(value);
  if (!held) throw new MlsError('INVALID_STATE', 'not an epoch reader of this engine');
  const { epoch, secretTree } = held;
  const w = new Writer(1024);
  w.u16(READER_FORMAT);
  w.u16(epoch.suite.id);
  groupContextCodec.encode(w, epoch.context);
  w.opaque(epoch.senderDataSecret);
  w.u32(epoch.leafCount);
  w.u32(secretTree.maxForwardDistance);
  w.u32(secretTree.outOfOrderTolerance);
  w.vector([...epoch.members], (w, [leafIndex, leaf]) => {
    w.u32(leafIndex);
    leafNodeCodec.encode(w, leaf);
  });
  encodeSecretTree(w, secretTree, 'partial');
  return w.finish();
}

export function deserializeEpochReader(provider: CryptoProvider, bytes: Uint8Array): EpochReader {
  const r = new Reader(bytes);
  const format = r.u16();
  if (format !== READER_FORMAT && format !== LEGACY_READER_FORMAT) {
    throw new MlsError('UNSUPPORTED_VERSION', `epoch reader format ${format} is not supported`);
  }
  const suite = cipherSuite(r.u16(), provider);
  const context = groupContextCodec.decode(r);
  const senderDataSecret = r.opaque();
  const leafCount = r.u32();
  const window = { maxForwardDistance: r.u32(), outOfOrderTolerance: r.u32() };
  const members = r.vector((r) => [r.u32(), leafNodeCodec.decode(r)] as const);
  if (!isLeafCount(leafCount)) throw new MlsError('INVALID_STATE', `bad leaf count ${leafCount}`);
  const decoded = decodeSecretTree(
    r,
    suite,
    leafCount,
    window,
    format === READER_FORMAT ? 'partial' : 'full',
  );
  r.done();
  // The same checks as for a fresh reader; then its secret tree replaces the fresh one.
  createEpochReader(
    {
      suite,
      context,
      senderDataSecret,
      encryptionSecret: new Uint8Array(suite.kdf.size),
      leafCount,
      members,
    },
    window,
  );
  const secretTree =
    format === READER_FORMAT
      ? decoded
      : retainApplicationRatchets(
          decoded,
          members.map(([leafIndex]) => leafIndex),
        );
  return reader(
    { suite, context, leafCount, senderDataSecret, members: new Map(members) },
    secretTree,
  );
}
