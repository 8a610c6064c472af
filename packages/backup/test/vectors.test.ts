/**
 * Every entry of test-vectors/backup/secret-storage.json (Matrix recovery keys, the
 * secret-storage key check, aes-hmac-sha2 encryption, m.pbkdf2).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  BackupError,
  computeKeyCheck,
  decodeRecoveryKey,
  decryptAesHmacSha2,
  deriveKeyFromPassphrase,
  encodeRecoveryKey,
  encryptAesHmacSha2,
  parseAesHmacSha2Json,
  toAesHmacSha2Json,
  verifyKeyCheck,
  type BackupErrorCode,
} from '../src/index.js';
import { decodeBase64 } from '../src/encoding.js';
import { PBKDF2_ALGORITHM } from '../src/passphrase.js';
import { flipped } from './support/bytes.js';

interface Vectors {
  recovery_key_decode: {
    recovery_key: string;
    key_hex?: string;
    key_base64?: string;
    key_bytes?: number[];
    encode_exact?: boolean;
  }[];
  recovery_key_invalid: { recovery_key: string; why: string }[];
  key_check: {
    recovery_key?: string;
    passphrase?: string;
    salt?: string;
    iterations?: number;
    bits?: number;
    key_hex?: string;
    iv: string;
    mac: string;
  }[];
  encrypt: {
    key_hex: string;
    name: string;
    plaintext: string;
    iv: string;
    ciphertext: string;
    mac: string;
  }[];
  pbkdf2_sha512: {
    passphrase: string;
    salt: string;
    iterations: number;
    bits: number;
    key_hex: string;
  }[];
}

const vectors = JSON.parse(
  readFileSync(
    new URL('../../../test-vectors/backup/secret-storage.json', import.meta.url),
    'utf8',
  ),
) as Vectors;

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const fromHex = (text: string) => new Uint8Array(Buffer.from(text, 'hex'));

/** The expected key of a decode entry, whichever of its three forms the entry uses. */
function expectedKey(entry: Vectors['recovery_key_decode'][number]): Uint8Array {
  const forms = [
    entry.key_hex !== undefined && fromHex(entry.key_hex),
    entry.key_base64 !== undefined && decodeBase64(entry.key_base64, 'key_base64'),
    entry.key_bytes !== undefined && Uint8Array.from(entry.key_bytes),
  ].filter((form): form is Uint8Array => form !== false);
  assert.equal(forms.length, 1, 'each entry gives its key in exactly one form');
  return forms[0]!;
}

const REASON_CODES: Record<string, BackupErrorCode> = {
  parity: 'RECOVERY_KEY_PARITY',
  prefix: 'RECOVERY_KEY_PREFIX',
  length: 'RECOVERY_KEY_LENGTH',
  character: 'RECOVERY_KEY_CHARACTER',
};

function expectBackupError(fn: () => unknown, code: BackupErrorCode): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BackupError, `expected BackupError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

describe('secret-storage vectors', () => {
  test('the file has every section, none empty', () => {
    for (const section of [
      'recovery_key_decode',
      'recovery_key_invalid',
      'key_check',
      'encrypt',
      'pbkdf2_sha512',
    ] as const) {
      assert.ok(vectors[section].length > 0, section);
    }
  });

  test('recovery_key_decode: every key decodes; encode_exact keys encode to the same text', () => {
    let exact = 0;
    for (const entry of vectors.recovery_key_decode) {
      const key = expectedKey(entry);
      assert.equal(hex(decodeRecoveryKey(entry.recovery_key)), hex(key), entry.recovery_key);
      // Every key round-trips through our own encoding, which is the canonical spaced form.
      const encoded = encodeRecoveryKey(key);
      assert.equal(hex(decodeRecoveryKey(encoded)), hex(key));
      assert.equal(encoded.replaceAll(' ', ''), entry.recovery_key.replace(/\s+/g, ''));
      assert.match(encoded, /^(\S{4} )*\S{1,4}$/);
      if (entry.encode_exact) {
        assert.equal(encoded, entry.recovery_key);
        exact++;
      }
    }
    assert.ok(exact >= 1, 'at least one encode_exact entry was checked');
  });

  test('recovery_key_invalid: each reason has its own error code', () => {
    const seen = new Set<BackupErrorCode>();
    for (const entry of vectors.recovery_key_invalid) {
      const code = REASON_CODES[entry.why];
      assert.ok(code, `known reason ${entry.why}`);
      expectBackupError(() => decodeRecoveryKey(entry.recovery_key), code);
      seen.add(code);
    }
    assert.equal(seen.size, new Set(vectors.recovery_key_invalid.map((e) => e.why)).size);
    // The fourth kind of mistake, not in the file: a character outside the base58 alphabet.
    expectBackupError(
      () => decodeRecoveryKey('EsTc LW2K PGiF wKEA 3As5 g5c4 BXwk qeeJ ZJV8 Q9fu gUMN UE40'),
      'RECOVERY_KEY_CHARACTER',
    );
  });

  test('key_check: the stored iv and mac verify the key; another key is WRONG_KEY', () => {
    for (const entry of vectors.key_check) {
      let key: Uint8Array;
      if (entry.recovery_key !== undefined) key = decodeRecoveryKey(entry.recovery_key);
      else if (entry.passphrase !== undefined) {
        key = deriveKeyFromPassphrase(entry.passphrase, {
          algorithm: PBKDF2_ALGORITHM,
          salt: entry.salt!,
          iterations: entry.iterations!,
          ...(entry.bits !== undefined && { bits: entry.bits }),
        });
      } else key = fromHex(entry.key_hex!);

      verifyKeyCheck(key, { iv: entry.iv, mac: entry.mac });
      // Recomputing with the stored IV gives the stored MAC (padding aside).
      const recomputed = computeKeyCheck(key, decodeBase64(entry.iv, 'iv'));
      assert.equal(recomputed.mac, entry.mac.replace(/=+$/, ''));
      const other = flipped(key, 0, 1);
      expectBackupError(() => verifyKeyCheck(other, { iv: entry.iv, mac: entry.mac }), 'WRONG_KEY');
    }
  });

  test('encrypt: aes-hmac-sha2 gives the vector ciphertext and MAC, and decrypts back', () => {
    for (const entry of vectors.encrypt) {
      const key = fromHex(entry.key_hex);
      const iv = decodeBase64(entry.iv, 'iv');
      const encrypted = encryptAesHmacSha2(
        key,
        entry.name,
        new TextEncoder().encode(entry.plaintext),
        iv,
      );
      const json = toAesHmacSha2Json(encrypted);
      assert.equal(json.ciphertext, entry.ciphertext.replace(/=+$/, ''));
      assert.equal(json.mac, entry.mac.replace(/=+$/, ''));
      assert.equal(json.iv, entry.iv.replace(/=+$/, ''));

      const parsed = parseAesHmacSha2Json(
        { iv: entry.iv, ciphertext: entry.ciphertext, mac: entry.mac },
        'vector',
        'MALFORMED_SESSION',
      );
      const plaintext = decryptAesHmacSha2(key, entry.name, parsed);
      assert.equal(new TextDecoder().decode(plaintext), entry.plaintext);
      expectBackupError(() => decryptAesHmacSha2(key, `${entry.name}.other`, parsed), 'BAD_MAC');
    }
  });

  test('pbkdf2_sha512: m.pbkdf2 derives the vector key', () => {
    for (const entry of vectors.pbkdf2_sha512) {
      const key = deriveKeyFromPassphrase(entry.passphrase, {
        algorithm: PBKDF2_ALGORITHM,
        salt: entry.salt,
        iterations: entry.iterations,
        bits: entry.bits,
      });
      assert.equal(hex(key), entry.key_hex);
    }
  });
});
