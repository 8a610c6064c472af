import { Writer, encode } from '../../../mls/src/codec/index.js';
import { basicCredential } from '../../../mls/src/credentials/credential.js';
import { makeKeyPackageRef, signWithLabel } from '../../../mls/src/crypto/labels.js';
import { nodeCrypto } from '../../../mls/src/crypto/node.js';
import { cipherSuite, type CipherSuiteId } from '../../../mls/src/crypto/suites.js';
import { ExtensionType, type Extension } from '../../../mls/src/extensions/extension.js';
import { WireFormat } from '../../../mls/src/framing/content.js';
import { mlsMessageCodec } from '../../../mls/src/framing/mlsMessage.js';
import {
  encodeKeyPackageTbs,
  keyPackageCodec,
  type KeyPackage,
} from '../../../mls/src/messages/keyPackage.js';
import { LeafNodeSource, type LeafNode } from '../../../mls/src/messages/leafNode.js';
import { keyPackageAlgorithm } from '../../../mls/src/matrix/algorithms.js';
import { signLeafNode } from '../../../mls/src/tree/leafNodeValidation.js';

/**
 * KeyPackages for tests, built with the MLS engine's codecs and signing, with switches that
 * break exactly one rule each so every server check can be exercised.
 */

export interface KeyPackageOptions {
  userId: string;
  deviceId: string;
  suite?: CipherSuiteId;
  lastResort?: boolean;
  /** Seconds since the epoch; defaults to an hour ago until a week from now. */
  notBefore?: bigint;
  notAfter?: bigint;
  /** Faults, one rule each. */
  identity?: string;
  badKeyPackageSignature?: boolean;
  badLeafSignature?: boolean;
  leafSource?: 'update';
  initKey?: Uint8Array;
  initKeyIsEncryptionKey?: boolean;
  wrongKeyId?: boolean;
}

export interface UploadableKeyPackage {
  /** `m.dmls.v1.key_package.<suite>:<KeyPackageRef>` */
  name: string;
  algorithm: string;
  keyId: string;
  /** Unpadded base64 of the MLSMessage. */
  value: string;
  initKey: Uint8Array;
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64').replace(/=+$/, '');

export function makeKeyPackage(options: KeyPackageOptions): UploadableKeyPackage {
  const suiteId = options.suite ?? 1;
  const suite = cipherSuite(suiteId, nodeCrypto);
  const signature = suite.signature.generateKeyPair();
  const encryption = suite.kem.generateKeyPair();
  const initKey = options.initKeyIsEncryptionKey
    ? encryption.publicKey
    : (options.initKey ?? suite.kem.generateKeyPair().publicKey);
  const now = BigInt(Math.floor(Date.now() / 1000));
  const identity = options.identity ?? `${options.userId}|${options.deviceId}`;
  const extensions: Extension[] = options.lastResort
    ? [{ extensionType: ExtensionType.last_resort, extensionData: new Uint8Array() }]
    : [];

  const common = {
    encryptionKey: encryption.publicKey,
    signatureKey: signature.publicKey,
    credential: basicCredential(new TextEncoder().encode(identity)),
    capabilities: {
      versions: [1],
      cipherSuites: [suiteId],
      extensions: [ExtensionType.last_resort],
      proposals: [],
      credentials: [1],
    },
    extensions: [],
    signature: new Uint8Array(),
  };
  let leaf: LeafNode =
    options.leafSource === 'update'
      ? { ...common, leafNodeSource: LeafNodeSource.update }
      : {
          ...common,
          leafNodeSource: LeafNodeSource.key_package,
          lifetime: {
            notBefore: options.notBefore ?? now - 3600n,
            notAfter: options.notAfter ?? now + 7n * 24n * 3600n,
          },
        };
  leaf =
    options.leafSource === 'update'
      ? signLeafNode(suite, signature.privateKey, leaf, new Uint8Array([1]), 0)
      : signLeafNode(suite, signature.privateKey, leaf);
  if (options.badLeafSignature) leaf = { ...leaf, signature: flip(leaf.signature) };

  const unsigned: KeyPackage = {
    version: 1,
    cipherSuite: suiteId,
    initKey,
    leafNode: leaf,
    extensions,
    signature: new Uint8Array(),
  };
  const tbs = new Writer();
  encodeKeyPackageTbs(tbs, unsigned);
  let kpSignature = signWithLabel(suite, signature.privateKey, 'KeyPackageTBS', tbs.finish());
  if (options.badKeyPackageSignature) kpSignature = flip(kpSignature);
  const keyPackage = { ...unsigned, signature: kpSignature };

  const message = encode(mlsMessageCodec, { wireFormat: WireFormat.mls_key_package, keyPackage });
  let keyId = b64(makeKeyPackageRef(suite, encode(keyPackageCodec, keyPackage)));
  if (options.wrongKeyId) keyId = b64(new Uint8Array(32).fill(7));
  const algorithm = keyPackageAlgorithm(suiteId);
  return { name: `${algorithm}:${keyId}`, algorithm, keyId, value: b64(message), initKey };
}

function flip(bytes: Uint8Array): Uint8Array {
  const copy = bytes.slice();
  copy[0] = copy[0]! ^ 0xff;
  return copy;
}

/** `count` one-time KeyPackages and one last-resort KeyPackage for a device, as an upload body. */
export function keyPackageUpload(userId: string, deviceId: string, count: number) {
  const oneTime = Array.from({ length: count }, () => makeKeyPackage({ userId, deviceId }));
  const fallback = makeKeyPackage({ userId, deviceId, lastResort: true });
  return {
    oneTime,
    fallback,
    body: {
      one_time_keys: Object.fromEntries(oneTime.map((k) => [k.name, k.value])),
      fallback_keys: { [fallback.name]: fallback.value },
    },
  };
}
