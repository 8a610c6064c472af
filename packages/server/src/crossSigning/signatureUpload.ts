/**
 * The checks of POST /keys/signatures/upload (client-server API, "Cross-signing";
 * api/cross_signing.yaml), one signed object at a time: "The signed JSON object must match the
 * key previously uploaded or retrieved for the given key ID, with the exception of the
 * `signatures` property, which contains the new signature(s) to add." Three kinds are taken:
 *
 * - the uploader's own device keys, signed by the uploader's self-signing key;
 * - the uploader's own master key, signed by one or more of the uploader's devices;
 * - another user's master key, signed by the uploader's user-signing key.
 *
 * Every signature is checked against the stored key before it is returned for storing; a
 * refusal is a per-key failure (`{ errcode, error }`), not an error of the whole request.
 */
import {
  ED25519_ALGORITHM,
  MatrixError as KeyError,
  decodeBase64,
  parseCrossSigningKey,
  readSignatures,
  signedBytes,
  verifyDeviceKeys,
  verifyJsonSignature,
  verifyMasterKeySignedByUser,
  type CrossSigningKey,
} from '@trellis/matrix';
import type { Stored } from './keyUpload.js';
import type { StoredSignature } from './store.js';

type Json = Record<string, unknown>;

export interface SignatureFailure {
  errcode: 'M_INVALID_SIGNATURE' | 'M_INVALID_PARAM' | 'M_NOT_FOUND';
  error: string;
}

export type SignatureCheck =
  { ok: true; signatures: StoredSignature[] } | { ok: false; failure: SignatureFailure };

/** What the check needs to know about the stored keys. */
export interface SignatureContext {
  /** The uploader. */
  me: string;
  /** The uploader's cross-signing keys. */
  mine: Stored;
  /** The uploader's device keys, by device id (as uploaded to /keys/upload). */
  myDevices: ReadonlyMap<string, Json>;
  /** The master key of the target user, when the target is another user. */
  theirMaster: CrossSigningKey | undefined;
}

const fail = (errcode: SignatureFailure['errcode'], error: string): SignatureCheck => ({
  ok: false,
  failure: { errcode, error },
});

function invalidSignature(e: unknown): SignatureCheck {
  if (!(e instanceof KeyError)) throw e;
  return fail('M_INVALID_SIGNATURE', e.message);
}

/** Whether `submitted` is `stored` but for `signatures` (and `unsigned`, which no one signs). */
function sameSignedContent(submitted: Json, stored: Json): boolean {
  try {
    const a = signedBytes(submitted);
    const b = signedBytes(stored);
    return a.length === b.length && a.every((byte, i) => byte === b[i]);
  } catch {
    return false; // not canonical JSON (a float, say): cannot be what was stored
  }
}

/** `stored` with only the one signature under test: nothing else of the upload is trusted. */
const withOnly = (stored: Json, entity: string, keyId: string, signature: string): Json => ({
  ...stored,
  signatures: { [entity]: { [keyId]: signature } },
});

function submittedSignatures(submitted: Json, entity: string): Record<string, string> {
  return readSignatures(submitted)[entity] ?? {};
}

function checkDeviceKeys(
  ctx: SignatureContext,
  deviceId: string,
  stored: Json,
  submitted: Json,
): SignatureCheck {
  const selfSigning = ctx.mine.self_signing;
  if (!selfSigning) return fail('M_INVALID_SIGNATURE', 'You have no self-signing key');
  const signerKeyId = `${ED25519_ALGORITHM}:${selfSigning.keyId}`;
  const signature = submittedSignatures(submitted, ctx.me)[signerKeyId];
  if (signature === undefined) {
    return fail('M_INVALID_SIGNATURE', `No signature by your self-signing key ${signerKeyId}`);
  }
  try {
    const signer = parseCrossSigningKey(selfSigning.json, ctx.me, 'self_signing');
    verifyDeviceKeys(withOnly(stored, ctx.me, signerKeyId, signature), signer);
  } catch (e) {
    return invalidSignature(e);
  }
  return {
    ok: true,
    signatures: [
      { targetUserId: ctx.me, targetKeyId: deviceId, signerUserId: ctx.me, signerKeyId, signature },
    ],
  };
}

function checkOwnMaster(ctx: SignatureContext, stored: Json, submitted: Json): SignatureCheck {
  const masterKeyId = `${ED25519_ALGORITHM}:${ctx.mine.master!.keyId}`;
  const bySigner = Object.entries(submittedSignatures(submitted, ctx.me)).filter(
    ([keyId]) => keyId !== masterKeyId,
  );
  if (bySigner.length === 0) {
    return fail('M_INVALID_SIGNATURE', 'No signature of the master key by one of your devices');
  }
  const signatures: StoredSignature[] = [];
  for (const [signerKeyId, signature] of bySigner) {
    const prefix = `${ED25519_ALGORITHM}:`;
    const deviceId = signerKeyId.startsWith(prefix) ? signerKeyId.slice(prefix.length) : '';
    const device = ctx.myDevices.get(deviceId);
    const deviceKey = (device?.keys as Record<string, unknown> | undefined)?.[signerKeyId];
    if (typeof deviceKey !== 'string') {
      return fail('M_INVALID_SIGNATURE', `${signerKeyId} is not the key of one of your devices`);
    }
    try {
      const publicKey = decodeBase64(deviceKey, `the key of device ${deviceId}`);
      verifyJsonSignature(
        withOnly(stored, ctx.me, signerKeyId, signature),
        ctx.me,
        deviceId,
        publicKey,
      );
    } catch (e) {
      return invalidSignature(e);
    }
    signatures.push({
      targetUserId: ctx.me,
      targetKeyId: ctx.mine.master!.keyId,
      signerUserId: ctx.me,
      signerKeyId,
      signature,
    });
  }
  return { ok: true, signatures };
}

function checkOtherMaster(
  ctx: SignatureContext,
  theirs: CrossSigningKey,
  submitted: Json,
): SignatureCheck {
  const userSigning = ctx.mine.user_signing;
  if (!userSigning) return fail('M_INVALID_SIGNATURE', 'You have no user-signing key');
  const signerKeyId = `${ED25519_ALGORITHM}:${userSigning.keyId}`;
  const signature = submittedSignatures(submitted, ctx.me)[signerKeyId];
  if (signature === undefined) {
    return fail('M_INVALID_SIGNATURE', `No signature by your user-signing key ${signerKeyId}`);
  }
  try {
    const signer = parseCrossSigningKey(userSigning.json, ctx.me, 'user_signing');
    const signed = parseCrossSigningKey(
      withOnly(theirs.json as unknown as Json, ctx.me, signerKeyId, signature),
      theirs.userId,
      'master',
    );
    verifyMasterKeySignedByUser(signed, signer);
  } catch (e) {
    return invalidSignature(e);
  }
  return {
    ok: true,
    signatures: [
      {
        targetUserId: theirs.userId,
        targetKeyId: theirs.keyId,
        signerUserId: ctx.me,
        signerKeyId,
        signature,
      },
    ],
  };
}

/** Checks the object uploaded for `userId`'s key `keyId`. */
export function checkSignedObject(
  ctx: SignatureContext,
  userId: string,
  keyId: string,
  submitted: Json,
): SignatureCheck {
  try {
    readSignatures(submitted);
  } catch (e) {
    if (!(e instanceof KeyError)) throw e;
    return fail('M_INVALID_PARAM', e.message);
  }
  let stored: Json | undefined;
  let check: () => SignatureCheck;
  if (userId === ctx.me) {
    const device = ctx.myDevices.get(keyId);
    if (ctx.mine.master?.keyId === keyId) {
      stored = ctx.mine.master.json;
      check = () => checkOwnMaster(ctx, stored!, submitted);
    } else if (device) {
      stored = device;
      check = () => checkDeviceKeys(ctx, keyId, device, submitted);
    } else if (ctx.mine.self_signing?.keyId === keyId || ctx.mine.user_signing?.keyId === keyId) {
      return fail('M_INVALID_PARAM', 'Only device keys and master keys take signatures here');
    } else {
      return fail('M_NOT_FOUND', `You have no device or master key ${keyId}`);
    }
  } else {
    const theirs = ctx.theirMaster;
    if (!theirs || theirs.keyId !== keyId) {
      return fail('M_NOT_FOUND', `${userId} has no master key ${keyId}`);
    }
    stored = theirs.json as unknown as Json;
    check = () => checkOtherMaster(ctx, theirs, submitted);
  }
  if (!sameSignedContent(submitted, stored)) {
    return fail('M_INVALID_PARAM', 'The signed object does not match the stored key');
  }
  return check();
}
