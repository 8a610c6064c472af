/**
 * Which error a restore reports for a secret that does not unlock the backup: a mistyped
 * recovery key is reported as such, not as a wrong passphrase, nor as "this backup has no
 * passphrase".
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BackupError, createBackup, type BackupErrorCode } from '@trellis/backup';
import { unlockSecret } from '../src/backup.js';

/** A recovery key with one character changed into another base58 character. */
function typo(recoveryKey: string, at = 10): string {
  const chars = [...recoveryKey];
  chars[at] = chars[at] === 'a' ? 'b' : 'a';
  return chars.join('');
}

function refusal(info: unknown, secret: string): BackupErrorCode {
  try {
    unlockSecret(info, secret);
  } catch (error) {
    if (error instanceof BackupError) return error.code;
    throw error;
  }
  assert.fail(`${JSON.stringify(secret)} unlocked the backup`);
}

describe('unlocking a backup with what the user typed', () => {
  const withKey = createBackup();
  const withPassphrase = createBackup({ passphrase: 'a long passphrase here', iterations: 1000 });

  test('the recovery key unlocks either backup; the passphrase its own', () => {
    assert.deepEqual(unlockSecret(withKey.version, withKey.recoveryKey), withKey.key);
    assert.deepEqual(
      unlockSecret(withPassphrase.version, withPassphrase.recoveryKey),
      withPassphrase.key,
    );
    assert.deepEqual(
      unlockSecret(withPassphrase.version, 'a long passphrase here'),
      withPassphrase.key,
    );
  });

  test('a recovery key with a typo is reported as a mistyped recovery key', () => {
    for (const backup of [withKey, withPassphrase]) {
      const code = refusal(backup.version, typo(backup.recoveryKey));
      assert.ok(code.startsWith('RECOVERY_KEY_') || code === 'WRONG_KEY', code);
      assert.notEqual(code, 'MALFORMED_AUTH_DATA');
      // One character left out, and a 0 typed for an o.
      const short = backup.recoveryKey.replace(/\S(?=\s*$)/, '');
      assert.match(refusal(backup.version, short), /^RECOVERY_KEY_/);
      const zero = backup.recoveryKey.replace(/^\S/, '0');
      assert.equal(refusal(backup.version, zero), 'RECOVERY_KEY_CHARACTER');
    }
  });

  test('the recovery key of another backup is the wrong key', () => {
    assert.equal(refusal(withKey.version, createBackup().recoveryKey), 'WRONG_KEY');
  });

  test('without a passphrase in the backup, anything else is refused as a recovery key', () => {
    const code = refusal(withKey.version, 'my passphrase');
    assert.ok(code.startsWith('RECOVERY_KEY_'), code);
  });

  test('a wrong passphrase is the wrong key', () => {
    assert.equal(refusal(withPassphrase.version, 'not the passphrase'), 'WRONG_KEY');
  });
});
