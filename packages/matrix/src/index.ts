/**
 * @trellis/matrix: Matrix-level JSON signing and the key structures above it, shared by server
 * and client. See README.md for the spec sections each module follows.
 */
export { MatrixError, MATRIX_ERROR_CODES, type MatrixErrorCode } from './errors.js';
export { decodeBase64, encodeUnpaddedBase64 } from './base64.js';

// Canonical JSON and signed JSON (appendices)
export {
  MAX_CANONICAL_INTEGER,
  MAX_JSON_DEPTH,
  canonicalJson,
  canonicalJsonBytes,
  compareCodePoints,
} from './canonicalJson.js';
export {
  ED25519_KEY_SIZE,
  ED25519_SIGNATURE_SIZE,
  ed25519KeyPairFromSeed,
  ed25519Sign,
  ed25519Verify,
  generateEd25519KeyPair,
  type Ed25519KeyPair,
} from './ed25519.js';
export {
  ED25519_ALGORITHM,
  ed25519KeyId,
  readSignatures,
  signJson,
  signedBytes,
  verifyJsonSignature,
  type JsonObject,
  type Signatures,
} from './signedJson.js';

// Cross-signing
export {
  CROSS_SIGNING_SECRET_NAMES,
  CROSS_SIGNING_USAGES,
  crossSigningKeyJson,
  parseCrossSigningKey,
  verifyDeviceKeys,
  verifyMasterKeySignedByUser,
  verifySelfSigningKey,
  verifyUserSigningKey,
  type CrossSigningKey,
  type CrossSigningKeyJson,
  type CrossSigningUsage,
} from './crossSigning.js';

// Secret storage
export {
  DEFAULT_KEY_TYPE,
  KEY_DESCRIPTION_PREFIX,
  SECRET_STORAGE_ALGORITHM,
  checkSecretStorageKey,
  decodeRecoveryKey,
  decryptSecret,
  deriveKeyFromPassphrase,
  encodeRecoveryKey,
  encryptSecret,
  newKeyDescription,
  parseKeyDescription,
  readSecret,
  secretContent,
  type EncryptedSecret,
  type KeyDescription,
  type PassphraseInfo,
} from './secretStorage.js';

// SAS verification
export {
  HASH_METHOD,
  KEY_AGREEMENT_PROTOCOL,
  KEY_IDS,
  MAC_METHOD,
  SAS_DECIMAL_BYTES,
  SAS_EMOJI_BYTES,
  SAS_METHOD,
  calculateMac,
  generateSasKeyPair,
  keyIdsMacInput,
  macInfo,
  sasBytes,
  sasCommitment,
  sasDecimals,
  sasEmoji,
  sasEmojiIndices,
  sasInfo,
  sasKeyPairFromPrivateKey,
  sasMacContent,
  sasSharedSecret,
  verifySasCommitment,
  verifySasMac,
  type MacParties,
  type SasKeyPair,
  type SasParties,
} from './sas.js';
export { SAS_EMOJI, type SasEmoji } from './sasEmoji.js';
