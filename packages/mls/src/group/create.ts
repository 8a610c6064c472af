import { encode } from '../codec/index.js';
import type { Credential } from '../credentials/credential.js';
import type { KeyPair } from '../crypto/provider.js';
import type { CipherSuite } from '../crypto/suites.js';
import type { Extension } from '../extensions/extension.js';
import { ProtocolVersion } from '../framing/content.js';
import { confirmationTag, deriveEpochSecrets } from '../keySchedule.js';
import { groupContextCodec, type GroupContext } from '../messages/groupContext.js';
import type { Capabilities, Lifetime } from '../messages/leafNode.js';
import { PrivateKeys } from '../tree/privateKeys.js';
import { RatchetTree } from '../tree/ratchetTree.js';
import { treeHash } from '../tree/treeHash.js';
import { EMPTY } from '../util/bytes.js';
import { buildEpoch } from './epoch.js';
import { checkUniqueExtensions } from './groupInfo.js';
import { createKeyPackage } from './keyPackage.js';
import { groupConfig, type GroupConfig, type GroupState } from './state.js';
import { validateLeafNode } from '../tree/leafNodeValidation.js';

export interface CreateGroupOptions {
  /** Random Nh bytes when omitted (§11 SHOULD). */
  groupId?: Uint8Array;
  credential: Credential;
  signatureKeyPair?: KeyPair;
  /** The creator's leaf lifetime, or `now` to get the default one around it. */
  lifetime?: Lifetime;
  now?: bigint;
  capabilities?: Partial<Capabilities>;
  leafExtensions?: Extension[];
  /** GroupContext extensions: required_capabilities, external_senders, application metadata. */
  extensions?: Extension[];
  config?: Partial<GroupConfig>;
}

/**
 * Creates a one-member group (RFC 9420 §11): epoch 0, the creator's leaf alone in the tree, a
 * random epoch secret, and the confirmation tag and interim transcript hash derived from it.
 */
export function createGroup(suite: CipherSuite, options: CreateGroupOptions): GroupState {
  const config = groupConfig(options.config);
  const extensions = options.extensions ?? [];
  checkUniqueExtensions(extensions, 'GroupContext');
  // The creator's leaf is a KeyPackage leaf of its own: the GroupContext extensions are then
  // among the types it declares it supports.
  const bundle = createKeyPackage(suite, {
    credential: options.credential,
    ...(options.signatureKeyPair && { signatureKeyPair: options.signatureKeyPair }),
    ...(options.lifetime && { lifetime: options.lifetime }),
    ...(options.now !== undefined && { now: options.now }),
    capabilities: {
      ...options.capabilities,
      extensions: [
        ...(options.capabilities?.extensions ?? []),
        ...extensions.map((e) => e.extensionType),
      ],
    },
    ...(options.leafExtensions && { leafExtensions: options.leafExtensions }),
  });
  const leaf = bundle.keyPackage.leafNode;
  validateLeafNode(leaf, { use: 'key_package' }, { suite, extensions });
  const tree = RatchetTree.single(leaf);
  const context: GroupContext = {
    version: ProtocolVersion.mls10,
    cipherSuite: suite.id,
    groupId: options.groupId ?? suite.provider.randomBytes(suite.kdf.size),
    epoch: 0n,
    treeHash: treeHash(tree, suite.hash),
    confirmedTranscriptHash: EMPTY,
    extensions,
  };
  const secrets = deriveEpochSecrets(suite, suite.provider.randomBytes(suite.kdf.size));
  return buildEpoch({
    suite,
    config,
    context,
    tree,
    ownLeaf: 0,
    privateKeys: PrivateKeys.forLeaf(0, {
      privateKey: bundle.encryptionPrivateKey,
      publicKey: leaf.encryptionKey,
    }),
    signaturePrivateKey: bundle.signaturePrivateKey,
    secrets,
    confirmationTag: confirmationTag(
      suite,
      secrets.confirmationKey,
      context.confirmedTranscriptHash,
    ),
  });
}

/** The encoded GroupContext, as the key schedule and signatures use it. */
export function encodeContext(context: GroupContext): Uint8Array {
  return encode(groupContextCodec, context);
}
