import { decode, encode } from '../codec/index.js';
import type { Credential } from '../credentials/credential.js';
import { decryptWithLabel, encryptWithLabelEach } from '../crypto/labels.js';
import type { CryptoProvider } from '../crypto/provider.js';
import { cipherSuite, type CipherSuite } from '../crypto/suites.js';
import { MlsError } from '../errors.js';
import { ExtensionType, extensionListCodec, findExtension } from '../extensions/extension.js';
import {
  deriveWelcomeSecret,
  epochFromJoinerSecret,
  verifyConfirmationTag,
  welcomeKeyAndNonce,
  type EpochKeySchedule,
} from '../keySchedule.js';
import { groupInfoCodec, type GroupInfo } from '../messages/groupInfo.js';
import type { KeyPackage } from '../messages/keyPackage.js';
import { groupContextCodec } from '../messages/groupContext.js';
import { leafNodeCodec } from '../messages/leafNode.js';
import { PskType, ResumptionPskUsage, type PreSharedKeyId } from '../messages/preSharedKeyId.js';
import { groupSecretsCodec, type GroupSecrets, type Welcome } from '../messages/welcome.js';
import { pskSecret } from '../psk.js';
import * as math from '../tree/math.js';
import { ratchetTreeCodec, type NodeSlot } from '../tree/nodes.js';
import { PrivateKeys } from '../tree/privateKeys.js';
import { RatchetTree } from '../tree/ratchetTree.js';
import {
  pathSecretForNewMember,
  privateKeysFromPathSecret,
  type PathSecret,
} from '../tree/treekem.js';
import { validateRatchetTree } from '../tree/validation.js';
import { bytesEqual, EMPTY } from '../util/bytes.js';
import { buildEpoch } from './epoch.js';
import {
  checkUniqueExtensions,
  createGroupInfo,
  verifyGroupInfoSignature,
  type GroupInfoOptions,
} from './groupInfo.js';
import { keyPackageRef, type KeyPackageBundle } from './keyPackage.js';
import { sameCredential } from './proposals.js';
import { ownResumptionPsk, resolvePsks, type PskSource } from './psks.js';
import { groupConfig, type GroupConfig, type GroupState } from './state.js';

/** What the committer needs to welcome the members its commit adds (§12.4.3.1). */
export interface WelcomeInput {
  /** The new epoch's state, as the committer holds it. */
  state: GroupState;
  joinerSecret: Uint8Array;
  welcomeSecret: Uint8Array;
  psks: readonly PreSharedKeyId[];
  added: readonly { leafIndex: number; keyPackage: KeyPackage }[];
  /** The UpdatePath's path secrets, when the commit had a path. */
  pathSecrets?: readonly PathSecret[];
  groupInfo: GroupInfoOptions;
}

/** Builds one Welcome for every member a commit adds. */
export function createWelcome(input: WelcomeInput): Welcome {
  const { state } = input;
  const { suite } = state;
  const groupInfo = createGroupInfo(state, input.groupInfo);
  const { key, nonce } = welcomeKeyAndNonce(suite, input.welcomeSecret);
  const encryptedGroupInfo = suite.aead.seal(key, nonce, EMPTY, encode(groupInfoCodec, groupInfo));
  const groupSecrets = input.added.map(({ leafIndex }): GroupSecrets => {
    const pathSecret =
      input.pathSecrets &&
      pathSecretForNewMember({ pathSecrets: [...input.pathSecrets] }, state.ownLeaf, leafIndex);
    return {
      joinerSecret: input.joinerSecret,
      ...(pathSecret && { pathSecret: pathSecret.pathSecret }),
      psks: [...input.psks],
    };
  });
  const ciphertexts = encryptWithLabelEach(
    suite,
    'Welcome',
    encryptedGroupInfo,
    input.added.map(({ keyPackage }, i) => ({
      publicKey: keyPackage.initKey,
      plaintext: encode(groupSecretsCodec, groupSecrets[i]!),
    })),
  );
  const secrets = input.added.map(({ keyPackage }, i) => ({
    newMember: keyPackageRef(suite, keyPackage),
    encryptedGroupSecrets: ciphertexts[i]!,
  }));
  return { cipherSuite: suite.id, secrets, encryptedGroupInfo };
}

/** A decrypted Welcome, before any of its content is trusted. */
export interface OpenedWelcome {
  suite: CipherSuite;
  groupSecrets: GroupSecrets;
  groupInfo: GroupInfo;
  /** The epoch's key schedule, from the joiner secret and PSKs. */
  keySchedule: EpochKeySchedule;
}

/**
 * §12.4.3.1, first steps: finds the secrets encrypted to `bundle`'s KeyPackage, decrypts them,
 * looks up their PSKs, derives the welcome key and decrypts the GroupInfo. Nothing is verified
 * beyond the AEADs and the encodings: see `joinFromWelcome`.
 */
export function openWelcome(
  provider: CryptoProvider,
  welcome: Welcome,
  bundle: Pick<KeyPackageBundle, 'keyPackage' | 'initPrivateKey'>,
  psks: PskSource = {},
): OpenedWelcome {
  const kp = bundle.keyPackage;
  if (welcome.cipherSuite !== kp.cipherSuite) {
    throw new MlsError(
      'NO_MATCHING_KEY_PACKAGE',
      `Welcome for suite ${welcome.cipherSuite}, the KeyPackage is for ${kp.cipherSuite}`,
    );
  }
  const suite = cipherSuite(welcome.cipherSuite, provider);
  const ref = keyPackageRef(suite, kp);
  const entry = welcome.secrets.find((s) => bytesEqual(s.newMember, ref));
  if (!entry)
    throw new MlsError('NO_MATCHING_KEY_PACKAGE', 'the Welcome is not for this KeyPackage');
  const groupSecrets = decode(
    groupSecretsCodec,
    decryptWithLabel(
      suite,
      bundle.initPrivateKey,
      'Welcome',
      welcome.encryptedGroupInfo,
      entry.encryptedGroupSecrets.kemOutput,
      entry.encryptedGroupSecrets.ciphertext,
    ),
  );
  const special = groupSecrets.psks.filter(isReinitOrBranch);
  if (special.length > 0 && groupSecrets.psks.length > 1) {
    throw new MlsError('INVALID_WELCOME', 'a reinit or branch PSK must be the only PSK');
  }
  const psk = pskSecret(suite, resolvePsks(groupSecrets.psks, psks));
  const welcomeSecret = deriveWelcomeSecret(suite, groupSecrets.joinerSecret, psk);
  const { key, nonce } = welcomeKeyAndNonce(suite, welcomeSecret);
  const groupInfo = decode(
    groupInfoCodec,
    suite.aead.open(key, nonce, EMPTY, welcome.encryptedGroupInfo),
  );
  const keySchedule = epochFromJoinerSecret(
    suite,
    groupSecrets.joinerSecret,
    psk,
    encode(groupContextCodec, groupInfo.groupContext),
  );
  return { suite, groupSecrets, groupInfo, keySchedule };
}

function isReinitOrBranch(id: PreSharedKeyId): boolean {
  return (
    id.pskType === PskType.resumption &&
    (id.usage === ResumptionPskUsage.reinit || id.usage === ResumptionPskUsage.branch)
  );
}

export interface JoinOptions {
  /** The tree, when the GroupInfo does not carry a `ratchet_tree` extension. */
  ratchetTree?: readonly NodeSlot[];
  psks?: PskSource;
  /** Seconds since the epoch, for the lifetimes of KeyPackage leaves in the tree. */
  now?: bigint;
  validateCredential?: (credential: Credential, signatureKey: Uint8Array) => boolean;
  config?: Partial<GroupConfig>;
  /**
   * The old group, for a Welcome that resumes it (a reinit or branch PSK, §11.2-11.3): its
   * resumption PSK is taken from it, and the new group is checked against it.
   */
  resumedGroup?: GroupState;
}

/** The ratchet tree of a GroupInfo: from its extension or supplied out of band (§12.4.3.3). */
export function treeFromGroupInfo(info: GroupInfo, supplied?: readonly NodeSlot[]): RatchetTree {
  const ext = findExtension(info.extensions, ExtensionType.ratchet_tree);
  const nodes = ext ? decode(ratchetTreeCodec, ext.extensionData) : supplied;
  if (!nodes)
    throw new MlsError('MISSING_RATCHET_TREE', 'no ratchet tree in or with the GroupInfo');
  return RatchetTree.fromNodeList(nodes);
}

/**
 * Verifies a GroupInfo and its tree as a joiner must (§12.4.3.1): suite, unique extensions,
 * signature by the `signer` leaf, and the integrity of the whole tree.
 */
export function verifyGroupInfoAndTree(
  suite: CipherSuite,
  info: GroupInfo,
  tree: RatchetTree,
  options: Pick<JoinOptions, 'now' | 'validateCredential'>,
): void {
  const gc = info.groupContext;
  if (gc.cipherSuite !== suite.id) {
    throw new MlsError('INVALID_GROUP_INFO', `GroupInfo suite ${gc.cipherSuite}, not ${suite.id}`);
  }
  checkUniqueExtensions(info.extensions, 'GroupInfo');
  checkUniqueExtensions(gc.extensions, 'GroupContext');
  const signer = tree.leaf(info.signer);
  if (!signer) throw new MlsError('INVALID_GROUP_INFO', `GroupInfo signer ${info.signer} is blank`);
  verifyGroupInfoSignature(suite, info, signer.signatureKey);
  validateRatchetTree(tree, {
    suite,
    groupId: gc.groupId,
    treeHash: gc.treeHash,
    extensions: gc.extensions,
    ...(options.now !== undefined && { now: options.now }),
    ...(options.validateCredential && { validateCredential: options.validateCredential }),
  });
}

/** Joins a group from a Welcome with one of this client's KeyPackages (§12.4.3.1). */
export function joinFromWelcome(
  provider: CryptoProvider,
  welcome: Welcome,
  bundle: KeyPackageBundle,
  options: JoinOptions = {},
): GroupState {
  return joinWithGroupInfo(provider, welcome, bundle, options).state;
}

/**
 * `joinFromWelcome`, also returning the GroupInfo it verified: its extensions are signed by the
 * member who added this one, for applications that carry their own data there.
 */
export function joinWithGroupInfo(
  provider: CryptoProvider,
  welcome: Welcome,
  bundle: KeyPackageBundle,
  options: JoinOptions = {},
): { state: GroupState; groupInfo: GroupInfo } {
  const resumed = options.resumedGroup;
  const psks: PskSource = resumed
    ? {
        ...options.psks,
        resumption: (groupId, epoch) =>
          bytesEqual(groupId, resumed.context.groupId)
            ? ownResumptionPsk(resumed, epoch)
            : options.psks?.resumption?.(groupId, epoch),
      }
    : (options.psks ?? {});
  const opened = openWelcome(provider, welcome, bundle, psks);
  const { suite, groupSecrets, groupInfo, keySchedule } = opened;
  const gc = groupInfo.groupContext;
  if (gc.version !== bundle.keyPackage.version) {
    throw new MlsError(
      'INVALID_WELCOME',
      `group version ${gc.version} differs from the KeyPackage's`,
    );
  }
  const tree = treeFromGroupInfo(groupInfo, options.ratchetTree);
  verifyGroupInfoAndTree(suite, groupInfo, tree, options);

  // The leaf identical to the KeyPackage's: its encryption key is unique in a valid tree, so
  // only the one leaf holding it needs comparing in full.
  const kpLeaf = bundle.keyPackage.leafNode;
  const ownLeaf =
    tree
      .nodesWithEncryptionKey(kpLeaf.encryptionKey)
      .filter(math.isLeaf)
      .map(math.nodeToLeaf)
      .find((leafIndex) => {
        const leaf = tree.leaf(leafIndex);
        return leaf && bytesEqual(encode(leafNodeCodec, leaf), encode(leafNodeCodec, kpLeaf));
      }) ?? -1;
  if (ownLeaf < 0)
    throw new MlsError('INVALID_WELCOME', "the tree does not hold this KeyPackage's leaf");

  let privateKeys = PrivateKeys.forLeaf(ownLeaf, {
    privateKey: bundle.encryptionPrivateKey,
    publicKey: bundle.keyPackage.leafNode.encryptionKey,
  });
  if (groupSecrets.pathSecret) {
    privateKeys = privateKeysFromPathSecret(
      suite,
      tree,
      privateKeys,
      groupInfo.signer,
      groupSecrets.pathSecret,
    );
  }
  verifyConfirmationTag(
    suite,
    keySchedule.secrets.confirmationKey,
    gc.confirmedTranscriptHash,
    groupInfo.confirmationTag,
  );
  const special = groupSecrets.psks.find(isReinitOrBranch);
  if (special) checkResumption(special, gc, tree, resumed);

  const state = buildEpoch({
    suite,
    config: groupConfig(options.config),
    context: gc,
    tree,
    ownLeaf,
    privateKeys,
    signaturePrivateKey: bundle.signaturePrivateKey,
    secrets: keySchedule.secrets,
    confirmationTag: groupInfo.confirmationTag,
  });
  return { state, groupInfo };
}

/** §11.2-11.3: a group resumed from another by reinit or branch is the one it claims to be. */
function checkResumption(
  id: PreSharedKeyId,
  gc: GroupInfo['groupContext'],
  tree: RatchetTree,
  resumed: GroupState | undefined,
): void {
  if (id.pskType !== PskType.resumption) return;
  if (gc.epoch !== 1n) {
    throw new MlsError('INVALID_WELCOME', `a resumed group starts at epoch 1, not ${gc.epoch}`);
  }
  if (!resumed || !bytesEqual(resumed.context.groupId, id.pskGroupId)) {
    throw new MlsError('INVALID_WELCOME', 'the group this Welcome resumes is not at hand');
  }
  const oldMembers = [...resumed.tree.members()].map(([, leaf]) => leaf.credential);
  const newMembers = [...tree.members()].map(([, leaf]) => leaf.credential);
  const covers = (outer: Credential[], inner: Credential[]) =>
    inner.every((c) => outer.some((o) => sameCredential(o, c)));
  if (id.usage === ResumptionPskUsage.reinit) {
    const reinit = resumed.reinit;
    if (
      !reinit ||
      !bytesEqual(reinit.groupId, gc.groupId) ||
      reinit.version !== gc.version ||
      reinit.cipherSuite !== gc.cipherSuite ||
      !bytesEqual(
        encode(extensionListCodec, reinit.extensions),
        encode(extensionListCodec, gc.extensions),
      )
    ) {
      throw new MlsError('INVALID_WELCOME', 'the new group does not match the ReInit proposal');
    }
    if (!covers(newMembers, oldMembers)) {
      throw new MlsError(
        'INVALID_WELCOME',
        'a member of the old group is missing from the new one',
      );
    }
  } else {
    if (gc.version !== resumed.context.version || gc.cipherSuite !== resumed.context.cipherSuite) {
      throw new MlsError('INVALID_WELCOME', 'a branch keeps the version and cipher suite');
    }
    if (!covers(oldMembers, newMembers)) {
      throw new MlsError('INVALID_WELCOME', 'a branch may only hold members of the old group');
    }
  }
}
