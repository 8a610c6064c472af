import { encode, Writer } from '../codec/index.js';
import { signWithLabel, verifyWithLabel } from '../crypto/labels.js';
import type { CipherSuite } from '../crypto/suites.js';
import { MlsError } from '../errors.js';
import { externalPubCodec } from '../extensions/bodies.js';
import { ExtensionType, type Extension } from '../extensions/extension.js';
import { encodeGroupInfoTbs, type GroupInfo } from '../messages/groupInfo.js';
import { externalKeyPair } from '../keySchedule.js';
import { ratchetTreeCodec } from '../tree/nodes.js';
import type { RatchetTree } from '../tree/ratchetTree.js';
import type { GroupState } from './state.js';

function groupInfoTbs(info: GroupInfo): Uint8Array {
  const w = new Writer();
  encodeGroupInfoTbs(w, info);
  return w.finish();
}

/** The `ratchet_tree` extension carrying a whole public tree (§12.4.3.3). */
export function ratchetTreeExtension(tree: RatchetTree): Extension {
  return {
    extensionType: ExtensionType.ratchet_tree,
    extensionData: encode(ratchetTreeCodec, tree.toNodeList()),
  };
}

export interface GroupInfoOptions {
  /** Include `external_pub` so others can join by external commit (§12.4.3.2). */
  externalPub?: boolean;
  /** Include the whole ratchet tree (`ratchet_tree`), so joiners need no other source. */
  ratchetTree?: boolean;
  /** Further extensions for joiners (e.g. GREASE); unknown ones are ignored by receivers. */
  extensions?: Extension[];
}

/** A GroupInfo for the state's epoch, signed by this member (§12.4.3). */
export function createGroupInfo(state: GroupState, options: GroupInfoOptions = {}): GroupInfo {
  const { suite } = state;
  const extensions: Extension[] = [];
  if (options.ratchetTree) extensions.push(ratchetTreeExtension(state.tree));
  if (options.externalPub) {
    const { publicKey } = externalKeyPair(suite, state.secrets.externalSecret);
    extensions.push({
      extensionType: ExtensionType.external_pub,
      extensionData: encode(externalPubCodec, publicKey),
    });
  }
  extensions.push(...(options.extensions ?? []));
  const unsigned: GroupInfo = {
    groupContext: state.context,
    extensions,
    confirmationTag: state.confirmationTag,
    signer: state.ownLeaf,
    signature: new Uint8Array(0),
  };
  const signature = signWithLabel(
    suite,
    state.signaturePrivateKey,
    'GroupInfoTBS',
    groupInfoTbs(unsigned),
  );
  return { ...unsigned, signature };
}

/** Throws `BAD_SIGNATURE` unless the GroupInfo is signed by `signerKey`. */
export function verifyGroupInfoSignature(
  suite: CipherSuite,
  info: GroupInfo,
  signerKey: Uint8Array,
): void {
  if (!verifyWithLabel(suite, signerKey, 'GroupInfoTBS', groupInfoTbs(info), info.signature)) {
    throw new MlsError('BAD_SIGNATURE', 'GroupInfo signature does not verify');
  }
}

/** Throws `INVALID_GROUP_INFO` if an extension type appears twice (§13.4). */
export function checkUniqueExtensions(extensions: readonly Extension[], where: string): void {
  const types = new Set(extensions.map((e) => e.extensionType));
  if (types.size !== extensions.length) {
    throw new MlsError('INVALID_GROUP_INFO', `${where}: an extension type appears twice`);
  }
}
