/** Recovery keys, base58, base64, passphrases, the key check and backup versions. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { BACKUP_ALGORITHM, BACKUP_ALGORITHM_UNSTABLE } from '@trellis/mls';
import {
  BackupError,
  computeKeyCheck,
  createBackup,
  decodeRecoveryKey,
  decryptAesHmacSha2,
  DEFAULT_PBKDF2_ITERATIONS,
  deriveKeyFromPassphrase,
  encodeRecoveryKey,
  encryptAesHmacSha2,
  MAX_PBKDF2_ITERATIONS,
  newPassphraseInfo,
  parseBackupVersion,
  parsePassphraseInfo,
  unlockWithKey,
  unlockWithPassphrase,
  unlockWithRecoveryKey,
  verifyKeyCheck,
  type BackupErrorCode,
} from '../src/index.js';
import { decodeBase58, encodeBase58 } from '../src/base58.js';
import { decodeBase64, encodeBase64 } from '../src/encoding.js';
import { flipped } from './support/bytes.js';

function expectBackupError(fn: () => unknown, code: BackupErrorCode): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BackupError, `expected BackupError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const fromHex = (text: string) => new Uint8Array(Buffer.from(text, 'hex'));

describe('base58 (Bitcoin alphabet)', () => {
  test('known encodings, leading zero bytes as leading 1s', () => {
    // From Bitcoin Core's base58_encode_decode.json.
    const known: [string, string][] = [
      ['', ''],
      ['61', '2g'],
      ['626262', 'a3gV'],
      ['636363', 'aPEr'],
      ['73696d706c792061206c6f6e6720737472696e67', '2cFupjhnEsSn59qHXstmK2ffpLv2'],
      ['00eb15231dfceb60925886b67d065299925915aeb172c06647', '1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L'],
      ['516b6fcd0f', 'ABnLTmg'],
      ['bf4f89001e670274dd', '3SEo3LWLoPntC'],
      ['572e4794', '3EFU7m'],
      ['ecac89cad93923c02321', 'EJDM8drfXA6uyA'],
      ['10c8511e', 'Rt5zm'],
      ['00000000000000000000', '1111111111'],
      ['0000287fb4cd', '11233QC4'],
    ];
    for (const [bytes, text] of known) {
      assert.equal(encodeBase58(fromHex(bytes)), text);
      assert.equal(hex(decodeBase58(text)!), bytes);
    }
    for (const bad of ['0', 'O', 'I', 'l', '+', ' ', 'é'])
      assert.equal(decodeBase58(`2g${bad}`), undefined);
  });
});

describe('recovery keys', () => {
  test('random keys round-trip, in groups of four characters', () => {
    for (let i = 0; i < 300; i++) {
      const key = new Uint8Array(randomBytes(32));
      if (i === 0) key.fill(0);
      if (i === 1) key.fill(0xff);
      const text = encodeRecoveryKey(key);
      assert.match(text, /^([1-9A-HJ-NP-Za-km-z]{4} )+[1-9A-HJ-NP-Za-km-z]{1,4}$/);
      assert.deepEqual(decodeRecoveryKey(text), key);
    }
  });

  test('whitespace of any kind is ignored', () => {
    const key = new Uint8Array(randomBytes(32));
    const text = encodeRecoveryKey(key);
    const bare = text.replaceAll(' ', '');
    for (const typed of [
      bare,
      `\t${text}\n`,
      bare.split('').join(' '),
      bare.replace(/(.{7})/g, '$1\r\n'),
    ]) {
      assert.deepEqual(decodeRecoveryKey(typed), key);
    }
  });

  test('each kind of mistake has its own code', () => {
    const key = new Uint8Array(randomBytes(32));
    const bare = encodeRecoveryKey(key).replaceAll(' ', '');
    for (const char of ['0', 'O', 'I', 'l', '-', '.']) {
      expectBackupError(
        () => decodeRecoveryKey(bare.slice(0, 10) + char + bare.slice(11)),
        'RECOVERY_KEY_CHARACTER',
      );
    }
    expectBackupError(() => decodeRecoveryKey(''), 'RECOVERY_KEY_LENGTH');
    expectBackupError(() => decodeRecoveryKey('   '), 'RECOVERY_KEY_LENGTH');
    // Base58 length is not byte length: one character less still decodes to 35 bytes (with the
    // prefix gone), two less to 34.
    expectBackupError(() => decodeRecoveryKey(bare.slice(0, -1)), 'RECOVERY_KEY_PREFIX');
    expectBackupError(() => decodeRecoveryKey(bare.slice(0, -2)), 'RECOVERY_KEY_LENGTH');
    expectBackupError(() => decodeRecoveryKey(`${bare}2`), 'RECOVERY_KEY_LENGTH');
    // Correct parity over a wrong prefix.
    const wrongPrefix = new Uint8Array(35);
    wrongPrefix.set([0x8b, 0x02]);
    wrongPrefix.set(key, 2);
    wrongPrefix[34] = wrongPrefix.subarray(0, 34).reduce((x, b) => x ^ b, 0);
    expectBackupError(() => decodeRecoveryKey(encodeBase58(wrongPrefix)), 'RECOVERY_KEY_PREFIX');
    // One key byte changed, parity not.
    const typo = new Uint8Array(35);
    typo.set([0x8b, 0x01]);
    typo.set(key, 2);
    typo[34] = typo.subarray(0, 34).reduce((x, b) => x ^ b, 0) ^ 0x10;
    expectBackupError(() => decodeRecoveryKey(encodeBase58(typo)), 'RECOVERY_KEY_PARITY');
    expectBackupError(() => encodeRecoveryKey(new Uint8Array(31)), 'INVALID_KEY');
  });
});

describe('base64 as Matrix uses it', () => {
  test('unpadded out; padded or unpadded in; nothing else', () => {
    assert.equal(encodeBase64(fromHex('ffee')), '/+4');
    assert.equal(hex(decodeBase64('/+4', 'x')), 'ffee');
    assert.equal(hex(decodeBase64('/+4=', 'x')), 'ffee');
    assert.equal(hex(decodeBase64('', 'x')), '');
    for (const bad of ['/+4==', '/+5', '/+4 ', '-_4', 'a', 'ab=', 'abc==', '====', 'ab=c']) {
      expectBackupError(() => decodeBase64(bad, 'x'), 'INVALID_BASE64');
    }
  });
});

describe('aes-hmac-sha2', () => {
  const key = new Uint8Array(randomBytes(32));

  test('fresh IVs are random with bit 63 clear', () => {
    const ivs = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const { iv } = encryptAesHmacSha2(key, 'name', new Uint8Array(1));
      assert.equal(iv.length, 16);
      assert.equal(iv[8]! & 0x80, 0);
      ivs.add(hex(iv));
    }
    assert.equal(ivs.size, 500);
  });

  test('the MAC is checked first: a bad MAC is BAD_MAC whatever else is wrong', () => {
    const data = encryptAesHmacSha2(key, 'name', new TextEncoder().encode('secret'));
    assert.equal(new TextDecoder().decode(decryptAesHmacSha2(key, 'name', data)), 'secret');
    const badMac = { ...data, mac: flipped(data.mac, 31, 1) };
    expectBackupError(() => decryptAesHmacSha2(key, 'name', badMac), 'BAD_MAC');
    expectBackupError(
      () => decryptAesHmacSha2(key, 'name', { ...badMac, iv: new Uint8Array(3) }),
      'BAD_MAC',
    );
    expectBackupError(
      () => decryptAesHmacSha2(key, 'name', { ...data, mac: data.mac.subarray(0, 16) }),
      'BAD_MAC',
    );
    expectBackupError(
      () => decryptAesHmacSha2(key, 'name', { ...data, iv: new Uint8Array(3) }),
      'MALFORMED_SESSION',
    );
    expectBackupError(() => decryptAesHmacSha2(key, 'other name', data), 'BAD_MAC');
    expectBackupError(() => decryptAesHmacSha2(new Uint8Array(16), 'name', data), 'INVALID_KEY');
  });
});

describe('passphrases (m.pbkdf2)', () => {
  test('new parameters use the strong default and a fresh salt', () => {
    assert.ok(DEFAULT_PBKDF2_ITERATIONS >= 600_000);
    const info = newPassphraseInfo();
    assert.equal(info.algorithm, 'm.pbkdf2');
    assert.equal(info.iterations, DEFAULT_PBKDF2_ITERATIONS);
    assert.equal(info.bits, 256);
    assert.equal(decodeBase64(info.salt, 'salt').length, 24);
    assert.notEqual(newPassphraseInfo().salt, info.salt);
  });

  test('received parameters are checked', () => {
    const good = { algorithm: 'm.pbkdf2', salt: 'salt', iterations: 10 };
    assert.deepEqual(parsePassphraseInfo(good), good);
    assert.deepEqual(parsePassphraseInfo({ ...good, bits: 256 }), { ...good, bits: 256 });
    expectBackupError(
      () => parsePassphraseInfo({ ...good, algorithm: 'm.scrypt' }),
      'UNSUPPORTED_ALGORITHM',
    );
    const bad: unknown[] = [
      null,
      [],
      { ...good, salt: '' },
      { ...good, salt: 5 },
      { ...good, iterations: 0 },
      { ...good, iterations: 1.5 },
      { ...good, iterations: '1000' },
      { ...good, iterations: MAX_PBKDF2_ITERATIONS + 1 },
      { ...good, bits: 128 },
      { ...good, bits: '256' },
    ];
    for (const info of bad)
      expectBackupError(() => parsePassphraseInfo(info), 'INVALID_PASSPHRASE_INFO');
  });

  test('the same passphrase and parameters give the same key; others do not', () => {
    const info = parsePassphraseInfo({ algorithm: 'm.pbkdf2', salt: 'NaCl', iterations: 50 });
    const key = deriveKeyFromPassphrase('pässwörd', info);
    assert.equal(key.length, 32);
    assert.deepEqual(deriveKeyFromPassphrase('pässwörd', info), key);
    assert.notDeepEqual(deriveKeyFromPassphrase('passwörd', info), key);
    assert.notDeepEqual(deriveKeyFromPassphrase('pässwörd', { ...info, salt: 'NaCl2' }), key);
    assert.notDeepEqual(deriveKeyFromPassphrase('pässwörd', { ...info, iterations: 51 }), key);
  });
});

describe('backup versions and the key check', () => {
  test('a new backup: MSC4038 algorithm, auth_data with the key check', () => {
    const { key, recoveryKey, version } = createBackup();
    assert.equal(version.algorithm, BACKUP_ALGORITHM);
    assert.deepEqual(Object.keys(version.auth_data).sort(), ['iv', 'mac']);
    verifyKeyCheck(key, version.auth_data);
    assert.deepEqual(decodeRecoveryKey(recoveryKey), key);
    // The check is 32 zero bytes encrypted under the empty name.
    const iv = decodeBase64(version.auth_data.iv, 'iv');
    const zeros = encryptAesHmacSha2(key, '', new Uint8Array(32), iv);
    assert.equal(encodeBase64(zeros.mac), version.auth_data.mac);
    assert.deepEqual(computeKeyCheck(key, iv), version.auth_data);
  });

  test('a passphrase backup carries its parameters, and its recovery key works too', () => {
    const backup = createBackup({ passphrase: 'open sesame', iterations: 20 });
    const info = backup.version.auth_data.passphrase!;
    assert.equal(info.iterations, 20);
    const json = JSON.parse(JSON.stringify(backup.version)) as unknown;
    assert.deepEqual(unlockWithPassphrase(json, 'open sesame'), backup.key);
    assert.deepEqual(unlockWithRecoveryKey(json, backup.recoveryKey), backup.key);
    assert.deepEqual(unlockWithKey(json, backup.key), backup.key);
    expectBackupError(() => unlockWithPassphrase(json, 'open sesame '), 'WRONG_KEY');
    expectBackupError(
      () => unlockWithPassphrase(createBackup().version, 'open sesame'),
      'MALFORMED_AUTH_DATA',
    );
  });

  test('the MSC’s unstable algorithm name is accepted; other algorithms are not', () => {
    const { key, version } = createBackup();
    assert.deepEqual(unlockWithKey({ ...version, algorithm: BACKUP_ALGORITHM_UNSTABLE }, key), key);
    for (const algorithm of ['m.megolm_backup.v1.curve25519-aes-sha2', undefined, 7]) {
      expectBackupError(
        () => unlockWithKey({ ...version, algorithm }, key),
        'UNSUPPORTED_ALGORITHM',
      );
    }
  });

  test('auth_data without a usable key check is refused, not trusted', () => {
    const { key, version } = createBackup();
    const { iv, mac } = version.auth_data;
    const shapes: unknown[] = [
      null,
      { algorithm: BACKUP_ALGORITHM },
      { algorithm: BACKUP_ALGORITHM, auth_data: [] },
      { algorithm: BACKUP_ALGORITHM, auth_data: {} },
      { algorithm: BACKUP_ALGORITHM, auth_data: { iv } },
      { algorithm: BACKUP_ALGORITHM, auth_data: { mac } },
      { algorithm: BACKUP_ALGORITHM, auth_data: { iv: 1, mac } },
      { algorithm: BACKUP_ALGORITHM, auth_data: { iv: iv.slice(0, 8), mac } },
      { algorithm: BACKUP_ALGORITHM, auth_data: { iv, mac: mac.slice(0, 20) } },
    ];
    for (const shape of shapes)
      expectBackupError(() => unlockWithKey(shape, key), 'MALFORMED_AUTH_DATA');
    expectBackupError(
      () => unlockWithKey({ ...version, auth_data: { iv, mac: '!' } }, key),
      'INVALID_BASE64',
    );
    const bad = { ...version, auth_data: { iv, mac, passphrase: { algorithm: 'm.pbkdf2' } } };
    expectBackupError(() => parseBackupVersion(bad), 'INVALID_PASSPHRASE_INFO');
    // Extra fields (signatures, say) are kept out of the way, not refused.
    assert.deepEqual(
      unlockWithKey({ ...version, auth_data: { iv, mac, signatures: {} } }, key),
      key,
    );
    expectBackupError(() => unlockWithKey(version, new Uint8Array(33)), 'INVALID_KEY');
  });
});
