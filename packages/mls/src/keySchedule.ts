/**
 * The MLS key schedule (RFC 9420 §8): from the previous epoch's init_secret, the commit_secret,
 * the psk_secret and the new GroupContext, the secrets of the new epoch.
 *
 * Plain functions over byte strings. Intermediate secrets (the member secret after the PSK
 * extract and the epoch_secret) are never returned, so nothing holds them once a call ends (§9.2).
 */
import type { KeyPair } from './crypto/provider.js';
import { deriveSecret, expandWithLabel } from './crypto/labels.js';
import type { CipherSuite } from './crypto/suites.js';
import { MlsError } from './errors.js';
import { setupBaseR, setupBaseS } from './hpke.js';
import { constantTimeEqual, EMPTY, utf8 } from './util/bytes.js';

/** The secrets of one epoch (the table of §8), each DeriveSecret(epoch_secret, label). */
export interface EpochSecrets {
  /** "sender data": keys for SenderData encryption (§6.3.2). */
  readonly senderDataSecret: Uint8Array;
  /** "encryption": the root of the secret tree (§9). */
  readonly encryptionSecret: Uint8Array;
  /** "exporter": MLS-Exporter (§8.5). */
  readonly exporterSecret: Uint8Array;
  /** "external": seeds the external key pair (§8, §8.3). */
  readonly externalSecret: Uint8Array;
  /** "confirm": the confirmation tag's MAC key. */
  readonly confirmationKey: Uint8Array;
  /** "membership": the membership tag's MAC key (§6.2). */
  readonly membershipKey: Uint8Array;
  /** "resumption": the resumption PSK of this epoch (§8.6). */
  readonly resumptionPsk: Uint8Array;
  /** "authentication": the epoch authenticator (§8.7). */
  readonly epochAuthenticator: Uint8Array;
  /** "init": the init_secret the next epoch starts from. */
  readonly initSecret: Uint8Array;
}

/** What a new epoch yields: its secrets, and what the committer needs to welcome new members. */
export interface EpochKeySchedule {
  /** Sent to new members in GroupSecrets (§12.4.3.1). */
  readonly joinerSecret: Uint8Array;
  /** Encrypts the GroupInfo of a Welcome (see `welcomeKeyAndNonce`). */
  readonly welcomeSecret: Uint8Array;
  readonly secrets: EpochSecrets;
}

/** The inputs of one key-schedule step. */
export interface KeyScheduleInput {
  /** init_secret_[n-1]; for a new group, `freshInitSecret`; after an external commit, §8.3. */
  readonly initSecret: Uint8Array;
  /** commit_secret, or the zero vector of length Nh when the commit has no path. */
  readonly commitSecret: Uint8Array;
  /** psk_secret (psk.ts), or the zero vector of length Nh when there are no PSKs. */
  readonly pskSecret: Uint8Array;
  /** The encoded GroupContext of the new epoch. */
  readonly groupContext: Uint8Array;
}

const EPOCH_SECRET_LABELS = {
  senderDataSecret: 'sender data',
  encryptionSecret: 'encryption',
  exporterSecret: 'exporter',
  externalSecret: 'external',
  confirmationKey: 'confirm',
  membershipKey: 'membership',
  resumptionPsk: 'resumption',
  epochAuthenticator: 'authentication',
  initSecret: 'init',
} as const satisfies Record<keyof EpochSecrets, string>;

/** A random init_secret for the first epoch of a new group (§11). */
export function freshInitSecret(suite: CipherSuite): Uint8Array {
  return suite.provider.randomBytes(suite.kdf.size);
}

/** The all-zero vector of length Nh: commit_secret without a path, psk_secret without PSKs. */
export function zeroSecret(suite: CipherSuite): Uint8Array {
  return new Uint8Array(suite.kdf.size);
}

/** joiner_secret = ExpandWithLabel(Extract(init_secret, commit_secret), "joiner", GroupContext, Nh) */
export function deriveJoinerSecret(
  suite: CipherSuite,
  initSecret: Uint8Array,
  commitSecret: Uint8Array,
  groupContext: Uint8Array,
): Uint8Array {
  const extracted = suite.kdf.extract(initSecret, commitSecret);
  return expandWithLabel(suite, extracted, 'joiner', groupContext, suite.kdf.size);
}

/**
 * welcome_secret = DeriveSecret(Extract(joiner_secret, psk_secret), "welcome"): a joiner needs it
 * to decrypt the GroupInfo before it knows the GroupContext the rest of the schedule hashes.
 */
export function deriveWelcomeSecret(
  suite: CipherSuite,
  joinerSecret: Uint8Array,
  pskSecret: Uint8Array,
): Uint8Array {
  checkLength(suite, joinerSecret, 'joiner_secret');
  checkLength(suite, pskSecret, 'psk_secret');
  return deriveSecret(suite, suite.kdf.extract(joinerSecret, pskSecret), 'welcome');
}

/** Every secret from the joiner_secret on: where a member joining by Welcome starts. */
export function epochFromJoinerSecret(
  suite: CipherSuite,
  joinerSecret: Uint8Array,
  pskSecret: Uint8Array,
  groupContext: Uint8Array,
): EpochKeySchedule {
  checkLength(suite, joinerSecret, 'joiner_secret');
  checkLength(suite, pskSecret, 'psk_secret');
  const memberSecret = suite.kdf.extract(joinerSecret, pskSecret);
  const welcomeSecret = deriveSecret(suite, memberSecret, 'welcome');
  const epochSecret = expandWithLabel(suite, memberSecret, 'epoch', groupContext, suite.kdf.size);
  return { joinerSecret, welcomeSecret, secrets: deriveEpochSecrets(suite, epochSecret) };
}

/** One full step of the key schedule (§8), as every existing member and the committer run it. */
export function nextEpoch(suite: CipherSuite, input: KeyScheduleInput): EpochKeySchedule {
  checkLength(suite, input.initSecret, 'init_secret');
  checkLength(suite, input.commitSecret, 'commit_secret');
  const joinerSecret = deriveJoinerSecret(
    suite,
    input.initSecret,
    input.commitSecret,
    input.groupContext,
  );
  return epochFromJoinerSecret(suite, joinerSecret, input.pskSecret, input.groupContext);
}

/** The table of §8: each epoch secret is DeriveSecret(epoch_secret, <label>). */
export function deriveEpochSecrets(suite: CipherSuite, epochSecret: Uint8Array): EpochSecrets {
  const derive = (label: string) => deriveSecret(suite, epochSecret, label);
  const L = EPOCH_SECRET_LABELS;
  return {
    senderDataSecret: derive(L.senderDataSecret),
    encryptionSecret: derive(L.encryptionSecret),
    exporterSecret: derive(L.exporterSecret),
    externalSecret: derive(L.externalSecret),
    confirmationKey: derive(L.confirmationKey),
    membershipKey: derive(L.membershipKey),
    resumptionPsk: derive(L.resumptionPsk),
    epochAuthenticator: derive(L.epochAuthenticator),
    initSecret: derive(L.initSecret),
  };
}

/** §12.4.3.1: the AEAD key and nonce that encrypt a Welcome's GroupInfo. */
export function welcomeKeyAndNonce(
  suite: CipherSuite,
  welcomeSecret: Uint8Array,
): { key: Uint8Array; nonce: Uint8Array } {
  return {
    key: expandWithLabel(suite, welcomeSecret, 'key', EMPTY, suite.aead.keySize),
    nonce: expandWithLabel(suite, welcomeSecret, 'nonce', EMPTY, suite.aead.nonceSize),
  };
}

/** external_priv, external_pub = KEM.DeriveKeyPair(external_secret) (§8). */
export function externalKeyPair(suite: CipherSuite, externalSecret: Uint8Array): KeyPair {
  return suite.kem.deriveKeyPair(externalSecret);
}

/** confirmation_tag = MAC(confirmation_key, confirmed_transcript_hash) (§6.1). */
export function confirmationTag(
  suite: CipherSuite,
  confirmationKey: Uint8Array,
  confirmedTranscriptHash: Uint8Array,
): Uint8Array {
  return suite.hash.mac(confirmationKey, confirmedTranscriptHash);
}

/** Throws `BAD_CONFIRMATION_TAG` unless `tag` is the confirmation tag of the transcript. */
export function verifyConfirmationTag(
  suite: CipherSuite,
  confirmationKey: Uint8Array,
  confirmedTranscriptHash: Uint8Array,
  tag: Uint8Array,
): void {
  const expected = confirmationTag(suite, confirmationKey, confirmedTranscriptHash);
  if (!constantTimeEqual(expected, tag)) {
    throw new MlsError('BAD_CONFIRMATION_TAG', 'confirmation tag does not match');
  }
}

const EXTERNAL_INIT_LABEL = utf8('MLS 1.0 external init secret');

/**
 * §8.3, joiner side: a fresh init_secret for the group, and the kem_output that carries it to the
 * members in an ExternalInit proposal. `ikmE` fixes the ephemeral key, for tests only.
 */
export function externalInitSend(
  suite: CipherSuite,
  externalPub: Uint8Array,
  ikmE?: Uint8Array,
): { kemOutput: Uint8Array; initSecret: Uint8Array } {
  const { enc, context } = setupBaseS(suite, externalPub, EMPTY, ikmE);
  return { kemOutput: enc, initSecret: context.export(EXTERNAL_INIT_LABEL, suite.kdf.size) };
}

/** §8.3, member side: the init_secret an ExternalInit's kem_output carries. */
export function externalInitReceive(
  suite: CipherSuite,
  externalPriv: Uint8Array,
  kemOutput: Uint8Array,
): Uint8Array {
  const context = setupBaseR(suite, kemOutput, externalPriv, EMPTY);
  return context.export(EXTERNAL_INIT_LABEL, suite.kdf.size);
}

function checkLength(suite: CipherSuite, secret: Uint8Array, name: string): void {
  if (secret.length !== suite.kdf.size) {
    throw new MlsError(
      'INVALID_LENGTH',
      `${name} has ${secret.length} bytes, the suite needs ${suite.kdf.size}`,
    );
  }
}
