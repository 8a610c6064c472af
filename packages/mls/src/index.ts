/**
 * @trellis/mls: an RFC 9420 (Messaging Layer Security) engine. Pure and synchronous; group
 * states are immutable values (see group/state.ts).
 */
export { MlsError, MLS_ERROR_CODES, type MlsErrorCode } from './errors.js';
export { Reader, Writer, decode, encode, type Codec } from './codec/index.js';
export { bytesEqual, fromHex, toHex } from './util/bytes.js';

// Crypto
export type { CryptoProvider, KeyPair } from './crypto/provider.js';
export { nodeCrypto } from './crypto/node.js';
export { portableCrypto } from './crypto/portable.js';
export {
  CIPHER_SUITES,
  CipherSuiteId,
  cipherSuite,
  isCipherSuiteId,
  type CipherSuite,
} from './crypto/suites.js';
export {
  makeKeyPackageRef,
  makeProposalRef,
  signWithLabel,
  verifyWithLabel,
} from './crypto/labels.js';

// Wire structures
export { basicCredential, CredentialType, type Credential } from './credentials/credential.js';
export { ExtensionType, findExtension, type Extension } from './extensions/extension.js';
export {
  externalPubCodec,
  externalSendersCodec,
  requiredCapabilitiesCodec,
  type ExternalSender,
  type RequiredCapabilities,
} from './extensions/bodies.js';
export {
  ContentType,
  ProtocolVersion,
  SenderType,
  WireFormat,
  type Sender,
} from './framing/content.js';
export { mlsMessageCodec, type MlsMessage } from './framing/mlsMessage.js';
export { keyPackageCodec, type KeyPackage } from './messages/keyPackage.js';
export {
  leafNodeCodec,
  type Capabilities,
  type LeafNode,
  type Lifetime,
} from './messages/leafNode.js';
export { groupInfoCodec, type GroupInfo } from './messages/groupInfo.js';
export { groupContextCodec, type GroupContext } from './messages/groupContext.js';
export { welcomeCodec, type Welcome } from './messages/welcome.js';
export {
  ProposalType,
  proposalOfType,
  type CustomProposal,
  type Proposal,
  type ReInit,
} from './messages/proposals.js';
export { PskType, ResumptionPskUsage, type PreSharedKeyId } from './messages/preSharedKeyId.js';
export { ratchetTreeCodec, type NodeSlot } from './tree/nodes.js';

// Groups
export {
  createKeyPackage,
  isLastResort,
  keyPackageRef,
  validateKeyPackage,
  type KeyPackageBundle,
  type KeyPackageOptions,
} from './group/keyPackage.js';
export { createGroup, type CreateGroupOptions } from './group/create.js';
export {
  createCommit,
  type CommitOptions,
  type CommitSummary,
  type CreatedCommit,
  type ProcessedCommit,
} from './group/commit.js';
export { processMessage, type Received } from './group/process.js';
export {
  createEpochReader,
  deserializeEpochReader,
  epochReaderFromState,
  serializeEpochReader,
  DEFAULT_EPOCH_READER_WINDOW,
  type EpochReader,
  type EpochReaderInput,
  type EpochReaderOptions,
  type ReadApplicationMessage,
} from './group/epochReader.js';
export {
  encryptApplication,
  epochAuthenticator,
  exportSecret,
  propose,
  proposeUpdate,
} from './group/send.js';
export {
  joinFromWelcome,
  joinWithGroupInfo,
  openWelcome,
  type JoinOptions,
} from './group/welcome.js';
export {
  createExternalProposal,
  createNewMemberProposal,
  joinByExternalCommit,
  type ExternalJoin,
  type ExternalJoinOptions,
} from './group/external.js';
export { createGroupInfo, type GroupInfoOptions } from './group/groupInfo.js';
export { branchGroup, reinitializeGroup, type ResumeOptions } from './group/resumption.js';
export { deserializeGroupState, serializeGroupState } from './group/serialize.js';
export type { PskSource } from './group/psks.js';
export type { ProposalPolicy } from './group/proposals.js';
export {
  DEFAULT_GROUP_CONFIG,
  GROUP_CONFIG_LIMITS,
  groupConfig,
  members,
  ownLeafNode,
  type GroupConfig,
  type GroupState,
} from './group/state.js';

// Names Trellis uses on the Matrix wire
export * from './matrix/algorithms.js';
