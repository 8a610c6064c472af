/**
 * KeyPackages of other devices: claimed from the server to add a device, or taken from a
 * device's own rejoin request. Either way a KeyPackage is used only if it is of the room's
 * suite, valid now, names the device it is for in its credential, and is signed with the key
 * that device's user published for it (pinned when first seen, devices.ts).
 */
import { deviceOf, fromBase64, toBase64 } from '@trellis/dmls';
import {
  bytesEqual,
  CredentialType,
  decode,
  keyPackageAlgorithm,
  keyPackageRef,
  mlsMessageCodec,
  validateKeyPackage,
  WireFormat,
  type CipherSuite,
  type KeyPackage,
} from '@trellis/mls';
import type { MatrixHttp } from './http.js';
import { isObject } from './json.js';

/** Unpadded base64 of an MLSMessage(mls_key_package), as the server and rejoin requests carry it. */
export function decodeKeyPackage(value: string): KeyPackage {
  const message = decode(mlsMessageCodec, fromBase64(value, 'key package'));
  if (message.wireFormat !== WireFormat.mls_key_package) throw new Error('not a KeyPackage');
  return message.keyPackage;
}

/**
 * Throws, saying why, unless `kp` may be used to add `identity`: valid for `suite` at `now`
 * (seconds), its basic credential naming `identity`, signed with `published`, the pinned key of
 * that device (missing: the device's key is not known).
 */
export function checkKeyPackage(
  suite: CipherSuite,
  kp: KeyPackage,
  identity: string,
  published: Uint8Array | null | undefined,
  now: bigint,
): void {
  validateKeyPackage(suite, kp, { now });
  const credential = kp.leafNode.credential;
  if (
    credential.credentialType !== CredentialType.basic ||
    new TextDecoder().decode(credential.identity) !== identity
  ) {
    throw new Error('the credential names another device');
  }
  if (!published || !bytesEqual(published, kp.leafNode.signatureKey)) {
    throw new Error('signed with a key the device list does not show');
  }
}

export interface ClaimContext {
  readonly http: MatrixHttp;
  readonly suite: CipherSuite;
  /** The pinned signature key of a device, if it was ever seen. */
  pinnedKey(identity: string): Uint8Array | undefined;
  /** A device whose KeyPackage could not be claimed or was not usable. */
  unusable(identity: string, error: unknown): void;
}

/** Claims one KeyPackage per device, and keeps those that pass `checkKeyPackage`. */
export async function claimKeyPackages(
  ctx: ClaimContext,
  identities: readonly string[],
): Promise<Map<string, KeyPackage>> {
  const algorithm = keyPackageAlgorithm(ctx.suite.id);
  const wanted: Record<string, Record<string, string>> = {};
  for (const identity of identities) {
    const { userId, deviceId } = deviceOf(identity);
    (wanted[userId] ??= {})[deviceId] = algorithm;
  }
  const answer = await ctx.http.claimKeys(wanted);
  const out = new Map<string, KeyPackage>();
  const now = BigInt(Math.floor(Date.now() / 1000));
  for (const identity of identities) {
    const { userId, deviceId } = deviceOf(identity);
    const user = answer[userId];
    const keys = isObject(user) ? user[deviceId] : undefined;
    const [name, value] = isObject(keys) ? (Object.entries(keys)[0] ?? []) : [];
    try {
      if (
        typeof name !== 'string' ||
        !name.startsWith(`${algorithm}:`) ||
        typeof value !== 'string'
      ) {
        throw new Error('no KeyPackage');
      }
      const kp = decodeKeyPackage(value);
      checkKeyPackage(ctx.suite, kp, identity, ctx.pinnedKey(identity), now);
      if (toBase64(keyPackageRef(ctx.suite, kp)) !== name.slice(algorithm.length + 1)) {
        throw new Error('key id is not the KeyPackageRef');
      }
      out.set(identity, kp);
    } catch (error) {
      ctx.unusable(identity, error);
    }
  }
  return out;
}
