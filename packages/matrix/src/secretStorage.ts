/**
 * Secret storage (client-server API, "Secrets", "Storage"): `m.secret_storage.v1.aes-hmac-sha2`
 * keys and secrets in account data, and keys from passphrases (`m.pbkdf2`).
 *
 * The cryptography is @trellis/backup's, which MSC4038 key backup already uses for the same
 * scheme, reused rather than written twice:
 * - encrypting a secret: HKDF-SHA-256 of the key with 32 zero bytes of salt and the secret's name
 *   as info gives 64 bytes, the AES-256 key then the HMAC-SHA-256 key; AES-CTR-256 under a
 *   random 16-byte IV with bit 63 cleared; HMAC-SHA-256 of the ciphertext
 *   (`encryptAesHmacSha2` / `decryptAesHmacSha2`);
 * - the key description's `iv` and `mac`: the same encryption of 32 zero bytes under the empty
 *   name, ciphertext dropped (`computeKeyCheck` / `verifyKeyCheck`);
 * - `m.pbkdf2`: PBKDF2-HMAC-SHA-512 over the passphrase and the salt string
 *   (`deriveKeyFromPassphrase`, `parsePassphraseInfo`);
 * - the recovery key text of a raw key (appendix "Cryptographic key representation";
 *   `encodeRecoveryKey` / `decodeRecoveryKey`).
 * What is here is the secret-storage side: the account-data shapes (`KeyDescription`,
 * `Secret`), which key a secret is under, strings in and out, and MatrixError codes.
 */
import {
  computeKeyCheck,
  decodeRecoveryKey as decodeBackupRecoveryKey,
  decryptAesHmacSha2,
  deriveKeyFromPassphrase as deriveBackupKeyFromPassphrase,
  encodeRecoveryKey as encodeBackupRecoveryKey,
  encryptAesHmacSha2,
  parseAesHmacSha2Json,
  parsePassphraseInfo as parseBackupPassphraseInfo,
  toAesHmacSha2Json,
  verifyKeyCheck,
  type PassphraseInfo,
} from '@trellis/backup';
import { MatrixError, describeValue, isJsonObject } from './errors.js';
import { fromBackup } from './fromBackup.js';

export const SECRET_STORAGE_ALGORITHM = 'm.secret_storage.v1.aes-hmac-sha2';
/** The account-data type of a key description is this prefix and the key id. */
export const KEY_DESCRIPTION_PREFIX = 'm.secret_storage.key.';
export const DEFAULT_KEY_TYPE = 'm.secret_storage.default_key';

export type { PassphraseInfo };

/** `AesHmacSha2KeyDescription`: the account data `m.secret_storage.key.[key ID]`. */
export interface KeyDescription {
  name?: string;
  algorithm: typeof SECRET_STORAGE_ALGORITHM;
  passphrase?: PassphraseInfo;
  iv?: string;
  mac?: string;
}

/** `AesHmacSha2EncryptedData`: one entry of a secret's `encrypted` map. */
export interface EncryptedSecret {
  iv: string;
  ciphertext: string;
  mac: string;
}

/**
 * Reads a received key description. The algorithm must be SECRET_STORAGE_ALGORITHM
 * (`SECRET_STORAGE_UNSUPPORTED_ALGORITHM`); `name`, `iv` and `mac` are optional strings, and
 * `iv` and `mac` come together (`SECRET_STORAGE_MALFORMED`); `passphrase`, if any, must be
 * valid `m.pbkdf2` parameters (`INVALID_PASSPHRASE_INFO`, or the unsupported-algorithm code).
 */
export function parseKeyDescription(json: unknown): KeyDescription {
  if (!isJsonObject(json)) {
    throw new MatrixError(
      'SECRET_STORAGE_MALFORMED',
      `a key description is an object, not ${describeValue(json)}`,
    );
  }
  const { name, algorithm, passphrase, iv, mac } = json;
  if (algorithm !== SECRET_STORAGE_ALGORITHM) {
    throw new MatrixError(
      'SECRET_STORAGE_UNSUPPORTED_ALGORITHM',
      `key algorithm ${describeValue(algorithm)} is not ${SECRET_STORAGE_ALGORITHM}`,
    );
  }
  for (const [field, value] of [
    ['name', name],
    ['iv', iv],
    ['mac', mac],
  ] as const) {
    if (value !== undefined && typeof value !== 'string') {
      throw new MatrixError(
        'SECRET_STORAGE_MALFORMED',
        `the key description's ${field} is not a string`,
      );
    }
  }
  if ((iv === undefined) !== (mac === undefined)) {
    throw new MatrixError(
      'SECRET_STORAGE_MALFORMED',
      'the key description has one of iv and mac without the other',
    );
  }
  const description: KeyDescription = { algorithm };
  if (name !== undefined) description.name = name as string;
  if (passphrase !== undefined)
    description.passphrase = fromBackup(() => parseBackupPassphraseInfo(passphrase));
  if (iv !== undefined) {
    description.iv = iv as string;
    description.mac = mac as string;
  }
  return description;
}

/**
 * A new key description for `key` with its key check (`iv` and `mac`). `iv` is for tests; by
 * default it is fresh (16 random bytes, bit 63 cleared).
 */
export function newKeyDescription(
  key: Uint8Array,
  options: { name?: string; passphrase?: PassphraseInfo; iv?: Uint8Array } = {},
): KeyDescription {
  const check = fromBackup(() => computeKeyCheck(key, options.iv));
  return {
    ...(options.name !== undefined && { name: options.name }),
    algorithm: SECRET_STORAGE_ALGORITHM,
    ...(options.passphrase !== undefined && {
      passphrase: fromBackup(() => parseBackupPassphraseInfo(options.passphrase)),
    }),
    iv: check.iv,
    mac: check.mac,
  };
}

/**
 * Checks that `key` is the key `description` describes: the MAC of 32 zero bytes encrypted under
 * the empty name with the stored IV must equal the stored `mac` (`SECRET_STORAGE_WRONG_KEY`
 * otherwise). Without `iv` and `mac` there is nothing to check, and the spec says "clients must
 * assume that the key is valid": then this returns without error.
 */
export function checkSecretStorageKey(key: Uint8Array, description: KeyDescription): void {
  const checked = parseKeyDescription(description);
  if (checked.iv === undefined) return;
  fromBackup(() => verifyKeyCheck(key, { iv: checked.iv, mac: checked.mac }));
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** Encrypts the secret `secret` (a string, as all secrets are) named `name` under `key`. */
export function encryptSecret(
  key: Uint8Array,
  name: string,
  secret: string,
  iv?: Uint8Array,
): EncryptedSecret {
  if (typeof name !== 'string' || typeof secret !== 'string') {
    throw new MatrixError('SECRET_STORAGE_MALFORMED', 'a secret and its name are strings');
  }
  return fromBackup(() =>
    toAesHmacSha2Json(encryptAesHmacSha2(key, name, utf8Encoder.encode(secret), iv)),
  );
}

/**
 * Decrypts one `AesHmacSha2EncryptedData` of the secret named `name`. A wrong key, a wrong name
 * or altered data is `SECRET_STORAGE_BAD_MAC`; missing or mistyped fields
 * `SECRET_STORAGE_MALFORMED`; bad base64 `INVALID_BASE64`; an IV with bit 63 set
 * `SECRET_STORAGE_INVALID_IV`; a plaintext that is not UTF-8 `SECRET_STORAGE_MALFORMED`.
 */
export function decryptSecret(key: Uint8Array, name: string, encrypted: unknown): string {
  const plaintext = fromBackup(() =>
    decryptAesHmacSha2(
      key,
      name,
      parseAesHmacSha2Json(encrypted, 'the encrypted secret', 'MALFORMED_SESSION'),
    ),
  );
  try {
    return utf8Decoder.decode(plaintext);
  } catch (e) {
    throw new MatrixError(
      'SECRET_STORAGE_MALFORMED',
      `the secret ${JSON.stringify(name)} is not UTF-8`,
      { cause: e },
    );
  }
}

/** The account-data content of a secret encrypted under each of `keys` (key id -> key). */
export function secretContent(
  name: string,
  secret: string,
  keys: ReadonlyMap<string, Uint8Array>,
): { encrypted: Record<string, EncryptedSecret> } {
  const encrypted: Record<string, EncryptedSecret> = {};
  for (const [keyId, key] of keys) encrypted[keyId] = encryptSecret(key, name, secret);
  return { encrypted };
}

/**
 * Reads the secret named `name` from its account-data content (`Secret`: `encrypted` maps key
 * ids to encrypted data) with the key `keyId`. No entry for that key is
 * `SECRET_STORAGE_MISSING_KEY`.
 */
export function readSecret(content: unknown, name: string, keyId: string, key: Uint8Array): string {
  if (!isJsonObject(content) || !isJsonObject(content.encrypted)) {
    throw new MatrixError(
      'SECRET_STORAGE_MALFORMED',
      `the secret ${JSON.stringify(name)} has no encrypted map`,
    );
  }
  if (!Object.hasOwn(content.encrypted, keyId)) {
    throw new MatrixError(
      'SECRET_STORAGE_MISSING_KEY',
      `the secret ${JSON.stringify(name)} is not encrypted under the key ${JSON.stringify(keyId)}`,
    );
  }
  return decryptSecret(key, name, content.encrypted[keyId]);
}

/** `m.pbkdf2`: the 32-byte key a passphrase gives under a key description's `passphrase`. */
export function deriveKeyFromPassphrase(passphrase: string, info: unknown): Uint8Array {
  return fromBackup(() =>
    deriveBackupKeyFromPassphrase(passphrase, parseBackupPassphraseInfo(info)),
  );
}

/** A 32-byte secret-storage key as the user sees it (appendix "Cryptographic key representation"). */
export function encodeRecoveryKey(key: Uint8Array): string {
  return fromBackup(() => encodeBackupRecoveryKey(key));
}

/**
 * The key a typed recovery key stands for; any fault is `INVALID_RECOVERY_KEY`, with
 * @trellis/backup's finer code (`RECOVERY_KEY_CHARACTER`, `_LENGTH`, `_PREFIX`, `_PARITY`) on
 * the error's `cause` for a user interface that wants to say which.
 */
export function decodeRecoveryKey(text: string): Uint8Array {
  return fromBackup(() => decodeBackupRecoveryKey(text));
}
