/**
 * Secret storage for a client (client-server API, "Secrets", "Storage"): the user's default
 * `m.secret_storage.v1.aes-hmac-sha2` key, described in account data, and secrets encrypted
 * under it in account data. The formats and the cryptography are @trellis/matrix's; this module
 * reads and writes them over HTTP and turns the user's typed recovery key or passphrase into
 * the key.
 *
 * Account data written, in this order (so that a device that finds the default key finds the
 * rest too):
 * - `m.secret_storage.key.<key id>`: `{name, algorithm, iv, mac}` and, when the key comes from a
 *   passphrase, `passphrase: {algorithm: "m.pbkdf2", salt, iterations[, bits]}`;
 * - each secret, `{encrypted: {<key id>: {iv, ciphertext, mac}}}`, under its name;
 * - `m.secret_storage.default_key`: `{key: <key id>}`.
 *
 * Trellis uses the key backup's key (MSC4038, @trellis/backup) as the secret-storage key, so that
 * one recovery key (or passphrase) unlocks both; see clientCrossSigning.ts for why that is safe.
 */
import { randomBytes } from 'node:crypto';
import {
  DEFAULT_KEY_TYPE,
  KEY_DESCRIPTION_PREFIX,
  MatrixError,
  checkSecretStorageKey,
  decodeRecoveryKey,
  deriveKeyFromPassphrase,
  newKeyDescription,
  parseKeyDescription,
  readSecret,
  secretContent,
  type KeyDescription,
  type PassphraseInfo,
} from '@trellis/matrix';
import { ClientError } from './errors.js';
import type { MatrixHttp } from './http.js';

/** The name Trellis gives its key description. */
export const SECRET_STORAGE_KEY_NAME = 'Trellis recovery key';

/** An unlocked secret-storage key. */
export interface SecretStorageKey {
  readonly keyId: string;
  readonly key: Uint8Array;
}

function refused(message: string, cause?: unknown): ClientError {
  return new ClientError(
    'SECRET_STORAGE',
    cause instanceof Error ? `${message}: ${cause.message}` : message,
    cause === undefined ? {} : { cause },
  );
}

/**
 * Makes `key` the user's default secret-storage key and stores `secrets` (name -> secret)
 * under it. `passphrase` is the PBKDF2 parameters `key` was derived with, if it was. Returns
 * the new key id.
 */
export async function writeSecretStorage(
  http: MatrixHttp,
  userId: string,
  key: Uint8Array,
  secrets: Readonly<Record<string, string>>,
  passphrase?: PassphraseInfo,
): Promise<string> {
  // Key ids only need to be unique among the user's keys.
  const keyId = randomBytes(16).toString('hex');
  const description = newKeyDescription(key, {
    name: SECRET_STORAGE_KEY_NAME,
    ...(passphrase !== undefined && { passphrase }),
  });
  await http.setAccountData(userId, KEY_DESCRIPTION_PREFIX + keyId, description);
  const keys = new Map([[keyId, key]]);
  for (const [name, secret] of Object.entries(secrets)) {
    await http.setAccountData(userId, name, secretContent(name, secret, keys));
  }
  await http.setAccountData(userId, DEFAULT_KEY_TYPE, { key: keyId });
  return keyId;
}

/** The default key's id and description, or undefined when the user has no secret storage. */
export async function defaultKey(
  http: MatrixHttp,
  userId: string,
): Promise<{ keyId: string; description: KeyDescription } | undefined> {
  const pointer = await http.accountData(userId, DEFAULT_KEY_TYPE);
  if (pointer === undefined) return undefined;
  if (typeof pointer.key !== 'string' || pointer.key === '') {
    throw refused(`${DEFAULT_KEY_TYPE} names no key`);
  }
  const keyId = pointer.key;
  const json = await http.accountData(userId, KEY_DESCRIPTION_PREFIX + keyId);
  if (json === undefined) throw refused(`the default key ${keyId} has no description`);
  try {
    return { keyId, description: parseKeyDescription(json) };
  } catch (e) {
    if (e instanceof MatrixError) throw refused(`the default key ${keyId}`, e);
    throw e;
  }
}

/**
 * Unlocks the default key with what the user typed: a recovery key, else (when the key has
 * passphrase parameters) a passphrase. The key must pass the description's key check; a
 * description without one is refused, so that a server cannot remove the check and have a
 * wrong key taken. Any refusal is `SECRET_STORAGE`, with the @trellis/matrix error as `cause`
 * (`SECRET_STORAGE_WRONG_KEY` for the wrong key); nothing is written.
 */
export async function unlockSecretStorage(
  http: MatrixHttp,
  userId: string,
  typed: string,
): Promise<SecretStorageKey> {
  const found = await defaultKey(http, userId);
  if (!found) throw refused(`${userId} has no secret storage`);
  const { keyId, description } = found;
  if (description.iv === undefined) throw refused(`the key ${keyId} has no key check`);
  try {
    let key: Uint8Array;
    try {
      key = decodeRecoveryKey(typed);
    } catch (e) {
      if (!(e instanceof MatrixError && e.code === 'INVALID_RECOVERY_KEY')) throw e;
      if (description.passphrase === undefined) throw e;
      key = deriveKeyFromPassphrase(typed, description.passphrase);
    }
    checkSecretStorageKey(key, description);
    return { keyId, key };
  } catch (e) {
    if (e instanceof MatrixError) throw refused('secret storage cannot be unlocked', e);
    throw e;
  }
}

/** Reads and decrypts the secrets `names` with an unlocked key; a missing one is refused. */
export async function readSecrets(
  http: MatrixHttp,
  userId: string,
  { keyId, key }: SecretStorageKey,
  names: readonly string[],
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of names) {
    const content = await http.accountData(userId, name);
    if (content === undefined) throw refused(`secret storage holds no ${name}`);
    try {
      out.set(name, readSecret(content, name, keyId, key));
    } catch (e) {
      if (e instanceof MatrixError) throw refused(`the secret ${name}`, e);
      throw e;
    }
  }
  return out;
}
