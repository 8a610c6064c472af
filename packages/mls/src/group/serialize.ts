import { Reader, Writer } from '../codec/index.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { cipherSuite } from '../crypto/suites.js';
import { MlsError } from '../errors.js';
import { authenticatedContentCodec, ContentType } from '../framing/content.js';
import type { EpochSecrets } from '../keySchedule.js';
import { groupContextCodec } from '../messages/groupContext.js';
import { reInitCodec } from '../messages/proposals.js';
import { decodeSecretTree, encodeSecretTree } from '../secretTreeCodec.js';
import * as math from '../tree/math.js';
import { ratchetTreeCodec } from '../tree/nodes.js';
import { PrivateKeys } from '../tree/privateKeys.js';
import { RatchetTree } from '../tree/ratchetTree.js';
import { treeHash } from '../tree/treeHash.js';
import { bytesEqual } from '../util/bytes.js';
import { proposalRef } from './process.js';
import { groupConfig, type CachedProposal, type GroupConfig, type GroupState } from './state.js';

/**
 * A group state as bytes, so clients can persist it (TLS encoding, versioned). It holds every
 * secret of the epoch: store it as securely as the keys themselves.
 */
const FORMAT_VERSION = 1;

const SECRET_NAMES = [
  'senderDataSecret',
  'encryptionSecret',
  'exporterSecret',
  'externalSecret',
  'confirmationKey',
  'membershipKey',
  'resumptionPsk',
  'epochAuthenticator',
  'initSecret',
] as const satisfies readonly (keyof EpochSecrets)[];

function encodeConfig(w: Writer, c: GroupConfig): void {
  w.u32(c.paddingBlock);
  w.u32(c.maxForwardDistance);
  w.u32(c.outOfOrderTolerance);
  w.u32(c.resumptionPskHistory);
  w.u8(c.encryptHandshake ? 1 : 0);
}

function decodeConfig(r: Reader): GroupConfig {
  const config = {
    paddingBlock: r.u32(),
    maxForwardDistance: r.u32(),
    outOfOrderTolerance: r.u32(),
    resumptionPskHistory: r.u32(),
    encryptHandshake: r.u8(),
  };
  if (config.encryptHandshake > 1) throw new MlsError('INVALID_VALUE', 'bad boolean');
  // Bounded like settings given to createGroup: the bytes may come from anywhere.
  return groupConfig({ ...config, encryptHandshake: config.encryptHandshake === 1 });
}

/** Serialises a group state. */
export function serializeGroupState(state: GroupState): Uint8Array {
  const w = new Writer(4096);
  w.u16(FORMAT_VERSION);
  w.u16(state.suite.id);
  encodeConfig(w, state.config);
  groupContextCodec.encode(w, state.context);
  ratchetTreeCodec.encode(w, state.tree.toNodeList());
  w.u32(state.ownLeaf);
  w.vector(state.privateKeys.nodes, (w, node) => {
    const pair = state.privateKeys.get(node)!;
    w.u32(node);
    w.opaque(pair.publicKey);
    w.opaque(pair.privateKey);
  });
  w.opaque(state.signaturePrivateKey);
  for (const name of SECRET_NAMES) w.opaque(state.secrets[name]);
  encodeSecretTree(w, state.secretTree);
  w.opaque(state.interimTranscriptHash);
  w.opaque(state.confirmationTag);
  w.vector(state.proposals, (w, p) => {
    authenticatedContentCodec.encode(w, p.authenticated);
    w.optional(p.updatePrivateKey, (w, key) => w.opaque(key));
  });
  w.vector(state.pastResumptionPsks, (w, p) => {
    w.u64(p.epoch);
    w.opaque(p.psk);
  });
  w.optional(state.reinit, reInitCodec.encode);
  return w.finish();
}

/**
 * Restores a serialised group state. Malformed bytes are refused with an `MlsError`, and so is
 * a state whose parts do not fit together (tree hash, own leaf, keys).
 */
export function deserializeGroupState(provider: CryptoProvider, bytes: Uint8Array): GroupState {
  const r = new Reader(bytes);
  const version = r.u16();
  if (version !== FORMAT_VERSION) {
    throw new MlsError('UNSUPPORTED_VERSION', `group state format ${version} is not supported`);
  }
  const suite = cipherSuite(r.u16(), provider);
  const config = decodeConfig(r);
  const context = groupContextCodec.decode(r);
  const tree = RatchetTree.fromNodeList(ratchetTreeCodec.decode(r));
  const ownLeaf = r.u32();
  const pairs = r.vector(
    (r) => [r.u32(), { publicKey: r.opaque(), privateKey: r.opaque() }] as const,
  );
  const signaturePrivateKey = r.opaque();
  const secrets = {} as Record<(typeof SECRET_NAMES)[number], Uint8Array>;
  for (const name of SECRET_NAMES) secrets[name] = r.opaque();
  const secretTree = decodeSecretTree(r, suite, tree.leafCount, config);
  const interimTranscriptHash = r.opaque();
  const confirmationTag = r.opaque();
  const cached = r.vector((r) => ({
    authenticated: authenticatedContentCodec.decode(r),
    updatePrivateKey: r.optional((r) => r.opaque()),
  }));
  const pastResumptionPsks = r.vector((r) => ({ epoch: r.u64(), psk: r.opaque() }));
  const reinit = r.optional(reInitCodec.decode);
  r.done();

  if (context.cipherSuite !== suite.id) throw new MlsError('INVALID_STATE', 'suite mismatch');
  if (!bytesEqual(treeHash(tree, suite.hash), context.treeHash)) {
    throw new MlsError('INVALID_STATE', 'the tree does not match the group context');
  }
  const ownNode = tree.leaf(ownLeaf);
  const ownPair = pairs.find(([node]) => node === math.leafToNode(ownLeaf));
  if (!ownNode || !ownPair || !bytesEqual(ownPair[1].publicKey, ownNode.encryptionKey)) {
    throw new MlsError('INVALID_STATE', 'own leaf and its key do not match');
  }
  const privateKeys = PrivateKeys.forLeaf(ownLeaf, ownPair[1]).with(pairs);

  const partial: GroupState = {
    suite,
    config,
    context,
    tree,
    ownLeaf,
    privateKeys,
    signaturePrivateKey,
    secrets,
    secretTree,
    interimTranscriptHash,
    confirmationTag,
    proposals: [],
    pastResumptionPsks,
    ...(reinit && { reinit }),
  };
  const proposals: CachedProposal[] = cached.map(({ authenticated, updatePrivateKey }) => {
    const { content } = authenticated;
    if (content.contentType !== ContentType.proposal) {
      throw new MlsError('INVALID_STATE', 'a cached proposal is not a proposal');
    }
    return {
      ref: proposalRef(partial, authenticated),
      proposal: content.proposal,
      sender: content.sender,
      authenticated,
      ...(updatePrivateKey && { updatePrivateKey }),
    };
  });
  return { ...partial, proposals };
}
