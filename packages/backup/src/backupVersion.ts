/**
 * Backup versions (`POST /room_keys/version` and `GET /room_keys/version`): the algorithm and
 * `auth_data`, and the backup key that goes with them.
 *
 * `auth_data` carries the key check (`iv`, `mac`) and, when the key comes from a passphrase,
 * the PBKDF2 parameters (`passphrase`, and the same again as matrix-js-sdk's `private_key_*`).
 * A key is only handed out as a `BackupKey` once it has passed the check, and every function
 * that encrypts or decrypts sessions takes a `BackupKey`: a mistyped recovery key or passphrase
 * is caught before it is used, as `WRONG_KEY`.
 */
import { randomBytes } from 'node:crypto';
import { BACKUP_ALGORITHM, BACKUP_ALGORITHM_UNSTABLE } from '@trellis/mls';
import { BackupError, describeValue } from './errors.js';
import { computeKeyCheck, verifyKeyCheck } from './keyCheck.js';
import {
  passphraseAuthFields,
  readAuthDataPassphrase,
  type PrivateKeyPassphraseFields,
} from './authDataPassphrase.js';
import { deriveKeyFromPassphrase, newPassphraseInfo, type PassphraseInfo } from './passphrase.js';
import {
  BACKUP_KEY_SIZE,
  checkKeySize,
  decodeRecoveryKey,
  encodeRecoveryKey,
} from './recoveryKey.js';

declare const checkedAgainstAuthData: unique symbol;

/** A 32-byte backup key that has passed the backup's key check (or was made with it). */
export type BackupKey = Uint8Array & { readonly [checkedAgainstAuthData]: true };

/**
 * `auth_data` of an MSC4038 backup version. A passphrase backup has its parameters both in
 * `passphrase` and in the `private_key_*` fields (see authDataPassphrase.ts); a parsed one
 * has them in `passphrase`, from whichever place the writer used.
 */
export interface BackupAuthData extends Partial<PrivateKeyPassphraseFields> {
  iv: string;
  mac: string;
  passphrase?: PassphraseInfo;
}

/** The body of `POST /room_keys/version`; `GET` returns these fields and more. */
export interface BackupVersionBody {
  algorithm: string;
  auth_data: BackupAuthData;
}

export interface NewBackup {
  readonly key: BackupKey;
  /** The key for the user to write down. */
  readonly recoveryKey: string;
  readonly version: BackupVersionBody;
}

/**
 * Creates a backup: a fresh random key, or the key of a passphrase (with a fresh salt and
 * `iterations`, DEFAULT_PBKDF2_ITERATIONS unless given), and the version body holding its key
 * check. A passphrase-derived key also has a recovery key: either one unlocks the backup.
 */
export function createBackup(
  options: { key?: Uint8Array } | { passphrase: string; iterations?: number } = {},
): NewBackup {
  let key: Uint8Array;
  let passphrase: PassphraseInfo | undefined;
  if ('passphrase' in options) {
    passphrase = newPassphraseInfo(
      options.iterations === undefined ? {} : { iterations: options.iterations },
    );
    key = deriveKeyFromPassphrase(options.passphrase, passphrase);
  } else {
    key = options.key ?? new Uint8Array(randomBytes(BACKUP_KEY_SIZE));
    checkKeySize(key);
  }
  const check = computeKeyCheck(key);
  const authData: BackupAuthData = passphrase
    ? { ...check, ...passphraseAuthFields(passphrase) }
    : check;
  return {
    key: Uint8Array.from(key) as BackupKey,
    recoveryKey: encodeRecoveryKey(key),
    version: { algorithm: BACKUP_ALGORITHM, auth_data: authData },
  };
}

/**
 * Reads a received backup version: the algorithm must be MSC4038's (stable or unstable name,
 * else `UNSUPPORTED_ALGORITHM`) and `auth_data` must hold a key check (else
 * `MALFORMED_AUTH_DATA`). The specification lets a missing check mean "assume the key is right";
 * Trellis always writes one and refuses a backup without it, so that a server cannot remove it.
 */
export function parseBackupVersion(json: unknown): BackupVersionBody {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new BackupError('MALFORMED_AUTH_DATA', 'the backup version is not an object');
  }
  const { algorithm, auth_data: authData } = json as Record<string, unknown>;
  if (algorithm !== BACKUP_ALGORITHM && algorithm !== BACKUP_ALGORITHM_UNSTABLE) {
    throw new BackupError(
      'UNSUPPORTED_ALGORITHM',
      `backup algorithm ${describeValue(algorithm)} is not ${BACKUP_ALGORITHM}`,
    );
  }
  if (typeof authData !== 'object' || authData === null || Array.isArray(authData)) {
    throw new BackupError('MALFORMED_AUTH_DATA', 'auth_data is not an object');
  }
  const { iv, mac } = authData as Record<string, unknown>;
  if (typeof iv !== 'string' || typeof mac !== 'string') {
    throw new BackupError('MALFORMED_AUTH_DATA', 'auth_data has no key check (`iv` and `mac`)');
  }
  const parsed: BackupAuthData = { iv, mac };
  const passphrase = readAuthDataPassphrase(authData as Record<string, unknown>);
  if (passphrase) parsed.passphrase = passphrase;
  return { algorithm, auth_data: parsed };
}

/** Checks a raw key against a backup version; `WRONG_KEY` if it is not the backup's key. */
export function unlockWithKey(version: unknown, key: Uint8Array): BackupKey {
  const { auth_data: authData } = parseBackupVersion(version);
  checkKeySize(key);
  verifyKeyCheck(key, authData);
  return Uint8Array.from(key) as BackupKey;
}

/** Decodes a recovery key (its own errors first) and checks it against the backup version. */
export function unlockWithRecoveryKey(version: unknown, recoveryKey: string): BackupKey {
  parseBackupVersion(version);
  return unlockWithKey(version, decodeRecoveryKey(recoveryKey));
}

/**
 * Derives the key of a passphrase with the backup's PBKDF2 parameters and checks it. A backup
 * made without a passphrase has none: `MALFORMED_AUTH_DATA`.
 */
export function unlockWithPassphrase(version: unknown, passphrase: string): BackupKey {
  const { auth_data: authData } = parseBackupVersion(version);
  if (!authData.passphrase) {
    throw new BackupError(
      'MALFORMED_AUTH_DATA',
      'this backup has no passphrase: unlock it with its recovery key',
    );
  }
  return unlockWithKey(version, deriveKeyFromPassphrase(passphrase, authData.passphrase));
}
