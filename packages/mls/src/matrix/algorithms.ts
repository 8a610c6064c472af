import { CIPHER_SUITES, type CipherSuiteId } from '../crypto/suites.js';

/**
 * Every name Trellis puts on the Matrix wire for MLS, in one place (MSC2883, MSC4038).
 * A cipher suite appears by its RFC 9420 name without the security-level prefix, lower-cased
 * with dashes: MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 → dhkemx25519-aes128gcm-sha256-ed25519.
 */

export function suiteAlgorithmName(suite: CipherSuiteId): string {
  const name = CIPHER_SUITES.get(suite)?.name;
  if (!name) throw new RangeError(`unknown cipher suite ${suite}`);
  return name
    .replace(/^MLS_\d+_/, '')
    .toLowerCase()
    .replaceAll('_', '-');
}

const SUITE_BY_NAME = new Map<string, CipherSuiteId>(
  [...CIPHER_SUITES.keys()].map((id) => [
    suiteAlgorithmName(id as CipherSuiteId),
    id as CipherSuiteId,
  ]),
);

/** The cipher suite a suite name stands for, or undefined. */
export function suiteFromAlgorithmName(name: string): CipherSuiteId | undefined {
  return SUITE_BY_NAME.get(name);
}

const PREFIX = 'm.dmls.v1';

/** `m.room.encryption` and room event algorithm: `m.dmls.v1.<suite>`. */
export const roomAlgorithm = (suite: CipherSuiteId) => `${PREFIX}.${suiteAlgorithmName(suite)}`;

/** To-device Welcome algorithm: `m.dmls.v1.welcome.<suite>`. */
export const welcomeAlgorithm = (suite: CipherSuiteId) =>
  `${PREFIX}.welcome.${suiteAlgorithmName(suite)}`;

/** One-time key (and fallback key) algorithm for KeyPackages: `m.dmls.v1.key_package.<suite>`. */
export const keyPackageAlgorithm = (suite: CipherSuiteId) =>
  `${PREFIX}.key_package.${suiteAlgorithmName(suite)}`;

/** Parses `m.dmls.v1.<kind>.<suite>` names back to their suite; `kind` is '' for room events. */
export function parseAlgorithm(
  algorithm: string,
): { kind: '' | 'welcome' | 'key_package'; suite: CipherSuiteId } | undefined {
  const match = /^m\.dmls\.v1\.(?:(welcome|key_package)\.)?([a-z0-9-]+)$/.exec(algorithm);
  if (!match) return undefined;
  const suite = suiteFromAlgorithmName(match[2]!);
  if (suite === undefined) return undefined;
  return { kind: (match[1] ?? '') as '' | 'welcome' | 'key_package', suite };
}

/** MSC4038 backup algorithm, and the MSC's unstable name, accepted on input. */
export const BACKUP_ALGORITHM = 'm.dmls_backup.v1.aes-hmac-sha2';
export const BACKUP_ALGORITHM_UNSTABLE = 'org.matrix.msc4038.v0.aes-hmac-sha2';

/** The separator in a device credential's identity `userId|deviceId`. */
export const IDENTITY_SEPARATOR = '|';
