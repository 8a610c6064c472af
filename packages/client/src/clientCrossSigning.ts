/**
 * The client's side of cross-signing and secret storage: setting up a user's cross-signing
 * keys, keeping them in secret storage under the recovery key, and a new device that is given
 * the recovery key (or passphrase) signing itself with the recovered self-signing key.
 *
 * One recovery key does everything. The secret-storage key is the key backup's key (backup.ts,
 * MSC4038), so the recovery key or passphrase the user wrote down for the backup also unlocks
 * the cross-signing keys. Sharing one 32-byte key between the two is safe because every use
 * derives its own keys from it with HKDF-SHA-256 (32 zero bytes of salt) under a different
 * info string, and HKDF outputs under different infos are independent:
 * - backup entries (@trellis/backup sessionCrypto.ts): the session id, `"<epoch>|<base64>"`
 *   (an epoch) or `"members|<base64>"` (a member set): always with a `|`;
 * - member-set ids (@trellis/backup memberSet.ts): `"trellis backup member set id"`;
 * - secrets: their names, `"m.cross_signing.master"`, `"m.cross_signing.self_signing"`,
 *   `"m.cross_signing.user_signing"`: never with a `|`, and none is the string above;
 * - the key check, `""` (the empty name), both in the backup's `auth_data` and in the
 *   secret-storage key description: the same construction for the same purpose, 32 zero bytes
 *   encrypted under independent random IVs with only the MAC kept; two of them tell nothing
 *   but what one tells, whether a key is the key.
 * No name is used by both sides for different data, so no ciphertext of one can be taken for
 * the other: the names are the HKDF info, so a secret moved under a session id fails its MAC,
 * and a secret put into the backup under its own name is refused before decryption, since
 * `openSession` (@trellis/backup sessions.ts) only decrypts under a name `parseSessionId`
 * accepts, which no secret name is. crossSigning.test.ts checks these labels apart.
 *
 * What the device keeps is store.ts's `CrossSigningRecord` (the self-signing and user-signing
 * keys, not the master key).
 */
import { BackupError, parseBackupVersion, type PassphraseInfo } from '@trellis/backup';
import {
  CROSS_SIGNING_SECRET_NAMES,
  MatrixError,
  decodeBase64,
  encodeUnpaddedBase64,
  type Ed25519KeyPair,
} from '@trellis/matrix';
import {
  checkDeviceSignature,
  checkPublishedKeys,
  crossSigningUpload,
  keyIdOf,
  keyPairFromSeed,
  newCrossSigningKeys,
  signDeviceKeys,
  uploadOwnSignature,
  type CrossSigningKeyPairs,
  type DeviceSignatureCheck,
} from './crossSigning.js';
import { ClientError } from './errors.js';
import type { MatrixHttp } from './http.js';
import { isObject, type Json } from './json.js';
import { readSecrets, unlockSecretStorage, writeSecretStorage } from './secretStorage.js';
import type { Store } from './store.js';

export interface SetUpCrossSigningOptions {
  /**
   * The account password. Needed when the user already has cross-signing keys: the server
   * asks for it (user-interactive auth) before it replaces them.
   */
  readonly password?: string;
}

export interface CrossSigningState {
  /** The master public key (unpadded base64). */
  readonly masterKey: string;
  /** The default secret-storage key holding the private keys, when this device wrote it. */
  readonly secretStorageKeyId?: string;
}

const SECRET_NAMES = [
  CROSS_SIGNING_SECRET_NAMES.master,
  CROSS_SIGNING_SECRET_NAMES.self_signing,
  CROSS_SIGNING_SECRET_NAMES.user_signing,
] as const;

export class ClientCrossSigning {
  constructor(
    private readonly store: Store,
    private readonly http: MatrixHttp,
    private readonly userId: string,
    /** This device's `DeviceKeys`, as uploaded. */
    private readonly ownDeviceKeys: () => Json,
  ) {}

  /** The master key this device holds the self-signing key of, if any. */
  get masterKey(): string | undefined {
    return this.store.crossSigning()?.masterKey;
  }

  /**
   * Makes new cross-signing keys for the user, publishes them, stores the private keys in
   * secret storage under the key backup's key (with the backup's passphrase parameters, if it
   * was made from a passphrase), and signs this device. The key backup must be enabled or
   * restored on this device first: its key is the secret-storage key.
   */
  async setUp(options: SetUpCrossSigningOptions = {}): Promise<CrossSigningState> {
    const backup = this.store.backup();
    if (!backup) {
      throw new ClientError(
        'SECRET_STORAGE',
        'enable or restore the key backup first: its key is the secret-storage key',
      );
    }
    const passphrase = await this.backupPassphrase(backup.version);
    const keys = newCrossSigningKeys();
    try {
      await this.http.uploadCrossSigningKeys(
        { ...crossSigningUpload(this.userId, keys) },
        options.password === undefined
          ? undefined
          : { userId: this.userId, password: options.password },
      );
    } catch (e) {
      if (e instanceof ClientError && e.status === 401 && options.password === undefined) {
        throw new ClientError(
          'CROSS_SIGNING',
          'the user has cross-signing keys: replacing them needs the account password',
          { cause: e },
        );
      }
      throw e;
    }
    const secretStorageKeyId = await writeSecretStorage(
      this.http,
      this.userId,
      backup.key,
      {
        [CROSS_SIGNING_SECRET_NAMES.master]: encodeUnpaddedBase64(keys.master.seed),
        [CROSS_SIGNING_SECRET_NAMES.self_signing]: encodeUnpaddedBase64(keys.selfSigning.seed),
        [CROSS_SIGNING_SECRET_NAMES.user_signing]: encodeUnpaddedBase64(keys.userSigning.seed),
      },
      passphrase,
    );
    this.keep(keys);
    await this.signOwn(this.ownDeviceKeys(), keys.selfSigning);
    return { masterKey: keyIdOf(keys.master), secretStorageKeyId };
  }

  /**
   * Unlocks secret storage with the recovery key or passphrase, takes the cross-signing keys
   * from it, checks them against the keys the user publishes, keeps them, and signs this
   * device with the self-signing key. A wrong key, or keys that are not the published ones,
   * are refused (`SECRET_STORAGE`, `CROSS_SIGNING`) before anything is written.
   */
  async recover(secret: string): Promise<CrossSigningState> {
    const unlocked = await unlockSecretStorage(this.http, this.userId, secret);
    const secrets = await readSecrets(this.http, this.userId, unlocked, SECRET_NAMES);
    const pair = (name: string): Ed25519KeyPair => {
      try {
        return keyPairFromSeed(decodeBase64(secrets.get(name)!, name));
      } catch (e) {
        if (!(e instanceof MatrixError)) throw e;
        throw new ClientError('SECRET_STORAGE', `${name} is not an Ed25519 key`, { cause: e });
      }
    };
    const keys: CrossSigningKeyPairs = {
      master: pair(CROSS_SIGNING_SECRET_NAMES.master),
      selfSigning: pair(CROSS_SIGNING_SECRET_NAMES.self_signing),
      userSigning: pair(CROSS_SIGNING_SECRET_NAMES.user_signing),
    };
    checkPublishedKeys(await this.http.queryAllKeys([this.userId]), this.userId, keys);
    this.keep(keys);
    await this.signOwn(this.ownDeviceKeys(), keys.selfSigning);
    return { masterKey: keyIdOf(keys.master) };
  }

  /**
   * Signs another device of this user with the self-signing key this device holds. Only for a
   * device the user has confirmed is theirs: the keys signed are the ones the server lists.
   */
  async signDevice(deviceId: string): Promise<void> {
    const held = this.store.crossSigning();
    if (!held) throw new ClientError('CROSS_SIGNING', 'this device holds no self-signing key');
    const answer = await this.http.queryAllKeys([this.userId]);
    const published = answer.master_keys[this.userId];
    const keys = isObject(published) && isObject(published.keys) ? published.keys : {};
    if (!Object.hasOwn(keys, `ed25519:${held.masterKey}`)) {
      throw new ClientError(
        'CROSS_SIGNING',
        'the published master key is not the one this device signs for',
      );
    }
    const devices = answer.device_keys[this.userId];
    const device = isObject(devices) ? devices[deviceId] : undefined;
    if (!isObject(device) || device.device_id !== deviceId) {
      throw new ClientError('CROSS_SIGNING', `${this.userId} has no device ${deviceId}`);
    }
    await this.signOwn(device, keyPairFromSeed(held.selfSigningSeed));
  }

  /** Whether the server's keys show `userId`'s device signed by its user (crossSigning.ts). */
  async check(userId: string, deviceId: string): Promise<DeviceSignatureCheck> {
    return checkDeviceSignature(await this.http.queryAllKeys([userId]), userId, deviceId);
  }

  private keep(keys: CrossSigningKeyPairs): void {
    this.store.setCrossSigning({
      masterKey: keyIdOf(keys.master),
      selfSigningSeed: keys.selfSigning.seed,
      userSigningSeed: keys.userSigning.seed,
    });
  }

  private async signOwn(deviceKeys: Json, selfSigning: Ed25519KeyPair): Promise<void> {
    const signed = signDeviceKeys(deviceKeys, this.userId, selfSigning);
    await uploadOwnSignature(this.http, this.userId, String(deviceKeys.device_id), signed);
  }

  /** The PBKDF2 parameters of the backup `version`, if it is the server's and has them. */
  private async backupPassphrase(version: string): Promise<PassphraseInfo | undefined> {
    const info = await this.http.backupVersion();
    if (!info || info.version !== version) return undefined;
    try {
      return parseBackupVersion(info).auth_data.passphrase;
    } catch (e) {
      if (!(e instanceof BackupError)) throw e;
      throw new ClientError('BACKUP', `the backup version: ${e.message}`, { cause: e });
    }
  }
}
