import { encode, Writer } from '../codec/index.js';
import type { Credential } from '../credentials/credential.js';
import { makeKeyPackageRef, signWithLabel, verifyWithLabel } from '../crypto/labels.js';
import type { KeyPair } from '../crypto/provider.js';
import type { CipherSuite } from '../crypto/suites.js';
import { MlsError } from '../errors.js';
import { ExtensionType, findExtension, isGrease, type Extension } from '../extensions/extension.js';
import { ProtocolVersion } from '../framing/content.js';
import { encodeKeyPackageTbs, keyPackageCodec, type KeyPackage } from '../messages/keyPackage.js';
import { LeafNodeSource, type Capabilities, type Lifetime } from '../messages/leafNode.js';
import { signLeafNode, validateLeafNode } from '../tree/leafNodeValidation.js';
import type { RatchetTree } from '../tree/ratchetTree.js';
import { bytesEqual, EMPTY } from '../util/bytes.js';

/** Default validity of a new KeyPackage: from an hour ago (clock skew) to 28 days ahead. */
export const DEFAULT_KEY_PACKAGE_LIFETIME = { before: 3600n, after: 28n * 24n * 3600n };

export interface KeyPackageOptions {
  credential: Credential;
  /** The member's signature key pair; a fresh one when omitted. */
  signatureKeyPair?: KeyPair;
  /** Explicit lifetime, or `now` (seconds since the epoch) to get the default one around it. */
  lifetime?: Lifetime;
  now?: bigint;
  /** Capabilities beyond the defaults (this suite, MLS 1.0, the credential's type). */
  capabilities?: Partial<Capabilities>;
  /** KeyPackage extensions; their types are added to the capabilities. */
  extensions?: Extension[];
  /** LeafNode extensions; their types are added to the capabilities. */
  leafExtensions?: Extension[];
  /** Marks a last-resort KeyPackage that may be used more than once (extension `last_resort`). */
  lastResort?: boolean;
  /**
   * Advertise one random GREASE value in each capability list (RFC 9420 §13.5 SHOULD), so
   * peers that mishandle unknown values show it. Default true.
   */
  grease?: boolean;
}

/** A KeyPackage with the private keys its owner keeps to use it. */
export interface KeyPackageBundle {
  keyPackage: KeyPackage;
  /** KeyPackageRef: how Welcomes name it (§5.2). */
  ref: Uint8Array;
  initPrivateKey: Uint8Array;
  encryptionPrivateKey: Uint8Array;
  signaturePrivateKey: Uint8Array;
}

const GREASE_VALUES = Array.from({ length: 15 }, (_, i) => (i << 12) | 0x0a00 | (i << 4) | 0x0a);

function withGrease(values: number[], suite: CipherSuite): number[] {
  const pick = GREASE_VALUES[suite.provider.randomBytes(1)[0]! % GREASE_VALUES.length]!;
  return values.some(isGrease) ? values : [...values, pick];
}

function union(...lists: (readonly number[] | undefined)[]): number[] {
  return [...new Set(lists.flatMap((l) => l ?? []))];
}

/** The capabilities a leaf advertises: defaults for the suite and credential, plus `extra`. */
export function defaultCapabilities(
  suite: CipherSuite,
  credential: Credential,
  extra: Partial<Capabilities> = {},
  extensionTypes: readonly number[] = [],
): Capabilities {
  return {
    versions: union([ProtocolVersion.mls10], extra.versions),
    cipherSuites: union([suite.id], extra.cipherSuites),
    extensions: union(extra.extensions, extensionTypes),
    proposals: union(extra.proposals),
    credentials: union([credential.credentialType], extra.credentials),
  };
}

function lifetimeOf(options: KeyPackageOptions): Lifetime {
  if (options.lifetime) return options.lifetime;
  if (options.now === undefined) {
    throw new TypeError('a KeyPackage needs either a lifetime or the current time');
  }
  return {
    notBefore: options.now - DEFAULT_KEY_PACKAGE_LIFETIME.before,
    notAfter: options.now + DEFAULT_KEY_PACKAGE_LIFETIME.after,
  };
}

/** Creates and signs a KeyPackage (RFC 9420 §10) with fresh init and encryption keys. */
export function createKeyPackage(suite: CipherSuite, options: KeyPackageOptions): KeyPackageBundle {
  const signature = options.signatureKeyPair ?? suite.signature.generateKeyPair();
  const init = suite.kem.generateKeyPair();
  const encryption = suite.kem.generateKeyPair();
  const extensions = [...(options.extensions ?? [])];
  if (options.lastResort && !findExtension(extensions, ExtensionType.last_resort)) {
    extensions.push({ extensionType: ExtensionType.last_resort, extensionData: EMPTY });
  }
  const leafExtensions = options.leafExtensions ?? [];
  let capabilities = defaultCapabilities(
    suite,
    options.credential,
    options.capabilities,
    [...extensions, ...leafExtensions].map((e) => e.extensionType),
  );
  if (options.grease ?? true) {
    capabilities = {
      versions: capabilities.versions,
      cipherSuites: withGrease(capabilities.cipherSuites, suite),
      extensions: withGrease(capabilities.extensions, suite),
      proposals: withGrease(capabilities.proposals, suite),
      credentials: withGrease(capabilities.credentials, suite),
    };
  }
  const leafNode = signLeafNode(suite, signature.privateKey, {
    encryptionKey: encryption.publicKey,
    signatureKey: signature.publicKey,
    credential: options.credential,
    capabilities,
    leafNodeSource: LeafNodeSource.key_package,
    lifetime: lifetimeOf(options),
    extensions: leafExtensions,
    signature: EMPTY,
  });
  const unsigned: KeyPackage = {
    version: ProtocolVersion.mls10,
    cipherSuite: suite.id,
    initKey: init.publicKey,
    leafNode,
    extensions,
    signature: EMPTY,
  };
  const keyPackage = {
    ...unsigned,
    signature: signKeyPackageTbs(suite, signature.privateKey, unsigned),
  };
  return {
    keyPackage,
    ref: keyPackageRef(suite, keyPackage),
    initPrivateKey: init.privateKey,
    encryptionPrivateKey: encryption.privateKey,
    signaturePrivateKey: signature.privateKey,
  };
}

function keyPackageTbs(kp: KeyPackage): Uint8Array {
  const w = new Writer();
  encodeKeyPackageTbs(w, kp);
  return w.finish();
}

function signKeyPackageTbs(suite: CipherSuite, key: Uint8Array, kp: KeyPackage): Uint8Array {
  return signWithLabel(suite, key, 'KeyPackageTBS', keyPackageTbs(kp));
}

export function keyPackageRef(suite: CipherSuite, kp: KeyPackage): Uint8Array {
  return makeKeyPackageRef(suite, encode(keyPackageCodec, kp));
}

export function isLastResort(kp: KeyPackage): boolean {
  return findExtension(kp.extensions, ExtensionType.last_resort) !== undefined;
}

/** The group a KeyPackage is checked against when it is to be added (an Add or a Welcome). */
export interface KeyPackageGroup {
  tree: RatchetTree;
  groupId: Uint8Array;
  /** The GroupContext extensions in force after the commit's GroupContextExtensions proposal. */
  extensions: readonly Extension[];
  version?: number;
}

export interface KeyPackageCheckOptions {
  /** Seconds since the epoch: the leaf's lifetime must contain it. Omitted: not checked. */
  now?: bigint;
  /** Longest lifetime accepted, in seconds. */
  maxLifetime?: bigint;
  validateCredential?: (credential: Credential, signatureKey: Uint8Array) => boolean;
  /** When given, the leaf must also fit this group (§7.3 against its members). */
  group?: KeyPackageGroup;
}

/**
 * KeyPackage validation (RFC 9420 §10.1): protocol version and cipher suite, the leaf node as a
 * key_package leaf (§7.3), the KeyPackage signature, distinct init and encryption keys, and
 * extensions advertised in the leaf's capabilities. Throws an `MlsError`.
 */
export function validateKeyPackage(
  suite: CipherSuite,
  kp: KeyPackage,
  options: KeyPackageCheckOptions = {},
): void {
  const version = options.group?.version ?? ProtocolVersion.mls10;
  if (kp.version !== version) {
    throw new MlsError('UNSUPPORTED_VERSION', `KeyPackage version ${kp.version}, not ${version}`);
  }
  if (kp.cipherSuite !== suite.id) {
    throw new MlsError(
      'INVALID_KEY_PACKAGE',
      `KeyPackage cipher suite ${kp.cipherSuite}, the group's is ${suite.id}`,
    );
  }
  checkKeyLength(suite, kp.initKey, 'init_key');
  checkKeyLength(suite, kp.leafNode.encryptionKey, 'encryption_key');
  if (bytesEqual(kp.initKey, kp.leafNode.encryptionKey)) {
    throw new MlsError('INVALID_KEY_PACKAGE', 'init_key equals the leaf encryption_key');
  }
  const group = options.group;
  validateLeafNode(
    kp.leafNode,
    { use: 'key_package' },
    {
      suite,
      extensions: group?.extensions ?? [],
      ...(group && { tree: group.tree, groupId: group.groupId }),
      ...(options.now !== undefined && { now: options.now }),
      ...(options.maxLifetime !== undefined && { maxLifetime: options.maxLifetime }),
      ...(options.validateCredential && { validateCredential: options.validateCredential }),
    },
  );
  if (
    !verifyWithLabel(
      suite,
      kp.leafNode.signatureKey,
      'KeyPackageTBS',
      keyPackageTbs(kp),
      kp.signature,
    )
  ) {
    throw new MlsError('BAD_SIGNATURE', 'KeyPackage signature does not verify');
  }
  const types = new Set(kp.extensions.map((e) => e.extensionType));
  if (types.size !== kp.extensions.length) {
    throw new MlsError('INVALID_KEY_PACKAGE', 'a KeyPackage extension type appears twice');
  }
  if (
    isLastResort(kp) &&
    !kp.leafNode.capabilities.extensions.includes(ExtensionType.last_resort)
  ) {
    throw new MlsError('INVALID_KEY_PACKAGE', 'last_resort extension not in the capabilities');
  }
}

function checkKeyLength(suite: CipherSuite, key: Uint8Array, name: string): void {
  if (key.length !== suite.kem.publicKeySize) {
    throw new MlsError(
      'INVALID_KEY',
      `${name} has ${key.length} bytes, not ${suite.kem.publicKeySize}`,
    );
  }
}
