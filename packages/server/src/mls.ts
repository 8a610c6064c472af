/**
 * The one door from the server into the MLS engine: Matrix wire names and KeyPackage
 * validation. Everything the server needs from `@trellis/mls` passes through here.
 */
export {
  BACKUP_ALGORITHM,
  BACKUP_ALGORITHM_UNSTABLE,
  CredentialType,
  ExtensionType,
  IDENTITY_SEPARATOR,
  MlsError,
  WireFormat,
  cipherSuite,
  decode,
  findExtension,
  keyPackageCodec,
  makeKeyPackageRef,
  mlsMessageCodec,
  nodeCrypto,
  parseAlgorithm,
  // RFC 9420 §10.1: version, suite, leaf node (§7.3), signatures, lifetime, init_key.
  validateKeyPackage,
  type KeyPackage,
} from '@trellis/mls';
