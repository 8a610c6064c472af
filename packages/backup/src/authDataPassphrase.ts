/**
 * Where a backup's `auth_data` keeps its passphrase parameters. Two places are in use:
 *
 * - `passphrase: {algorithm: "m.pbkdf2", salt, iterations, bits}`, the shape secret storage
 *   gives a key description ("Deriving keys from passphrases");
 * - top-level `private_key_salt`, `private_key_iterations` and `private_key_bits`, which is where
 *   matrix-js-sdk reads them (`keyFromAuthData`) and its backup types declare them.
 *
 * The derivation is the same `m.pbkdf2` either way. Trellis writes both, so that either kind of
 * client can restore with the passphrase, and reads either.
 */
import { BackupError } from './errors.js';
import { parsePassphraseInfo, PBKDF2_ALGORITHM, type PassphraseInfo } from './passphrase.js';

/** The top-level fields of `auth_data` that matrix-js-sdk reads. */
export interface PrivateKeyPassphraseFields {
  private_key_salt: string;
  private_key_iterations: number;
  private_key_bits?: number;
}

/** `auth_data` fields for a passphrase: under both names. */
export function passphraseAuthFields(
  info: PassphraseInfo,
): { passphrase: PassphraseInfo } & PrivateKeyPassphraseFields {
  return {
    passphrase: info,
    private_key_salt: info.salt,
    private_key_iterations: info.iterations,
    ...(info.bits !== undefined && { private_key_bits: info.bits }),
  };
}

/**
 * The passphrase parameters of a received `auth_data`, from either place, or undefined when it
 * has none. Each place is checked as `parsePassphraseInfo` checks (so a half-written pair of
 * `private_key_*` fields is `INVALID_PASSPHRASE_INFO`, not silently no passphrase). When both
 * are present they must say the same: a server that changed one could otherwise make two
 * clients derive two keys from one passphrase.
 */
export function readAuthDataPassphrase(
  authData: Readonly<Record<string, unknown>>,
): PassphraseInfo | undefined {
  const {
    passphrase,
    private_key_salt: salt,
    private_key_iterations: iterations,
    private_key_bits: bits,
  } = authData;
  const nested = passphrase === undefined ? undefined : parsePassphraseInfo(passphrase);
  const flat =
    salt === undefined && iterations === undefined && bits === undefined
      ? undefined
      : parsePassphraseInfo({ algorithm: PBKDF2_ALGORITHM, salt, iterations, bits });
  if (nested && flat && (nested.salt !== flat.salt || nested.iterations !== flat.iterations)) {
    throw new BackupError(
      'INVALID_PASSPHRASE_INFO',
      'auth_data.passphrase and auth_data.private_key_salt/private_key_iterations disagree',
    );
  }
  return nested ?? flat;
}
