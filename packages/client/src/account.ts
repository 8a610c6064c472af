/**
 * Getting a device: signing in (registering or logging in), and the account record of a new
 * device. Its signature key is generated and written to the store with the session before
 * anything is uploaded; its device keys and first KeyPackages go up once (a restart that
 * finds them not uploaded yet tries again).
 */
import { cipherSuite, nodeCrypto, type CipherSuite } from '@trellis/mls';
import { DEFAULT_SUITE, type ClientOptions, type Credentials } from './clientOptions.js';
import { deviceKeys } from './devices.js';
import { ClientError } from './errors.js';
import { MatrixHttp, type Session } from './http.js';
import type { DeviceIdentity, KeyPackageStock } from './keyPackages.js';
import type { AccountRecord, Store } from './store.js';

const DEVICE_KEYS_UPLOADED = 'device_keys_uploaded';

/** Registers a new account, or logs in to one, as a new (or given) device. */
export async function signIn(
  options: ClientOptions & Credentials,
  how: 'register' | 'login',
): Promise<Session> {
  const http = new MatrixHttp({
    baseUrl: options.baseUrl,
    ...(options.retry && { retry: options.retry }),
  });
  return http[how](options.username, options.password, options.deviceId, options.displayName);
}

/** Writes a new device's account (with a fresh signature key) to a store that holds none. */
export function storeNewAccount(options: ClientOptions, session: Session): AccountRecord {
  if (options.store.account()) {
    throw new ClientError('NOT_READY', 'the store already holds an account: use Client.open');
  }
  const suite = cipherSuite(options.suite ?? DEFAULT_SUITE, options.provider ?? nodeCrypto);
  const keys = suite.signature.generateKeyPair();
  options.store.setAccount({
    homeserver: options.baseUrl,
    userId: session.userId,
    deviceId: session.deviceId,
    accessToken: session.accessToken,
    suite: suite.id,
    signaturePublicKey: keys.publicKey,
    signaturePrivateKey: keys.privateKey,
  });
  return options.store.account()!;
}

/** The device an account is, in `suite`. */
export function deviceIdentity(account: AccountRecord, suite: CipherSuite): DeviceIdentity {
  return {
    userId: account.userId,
    deviceId: account.deviceId,
    suite,
    signatureKeyPair: {
      publicKey: account.signaturePublicKey,
      privateKey: account.signaturePrivateKey,
    },
  };
}

/** Uploads the device keys and first KeyPackages, unless that was done. */
export async function uploadDeviceKeys(
  store: Store,
  stock: KeyPackageStock,
  device: DeviceIdentity,
): Promise<void> {
  if (store.value(DEVICE_KEYS_UPLOADED)) return;
  await stock.bootstrap(deviceKeys(device));
  store.setValue(DEVICE_KEYS_UPLOADED, '1');
}
