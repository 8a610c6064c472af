/**
 * Failures as sentences that say what went wrong and what to do about it. The SDK's errors
 * carry stable codes (and the server's `errcode`); the advice is picked from those, never from
 * the wording of a message, and no raw HTTP line reaches the screen: where the server explained
 * itself, its explanation is quoted.
 */
import { BackupError } from '@trellis/backup';
import { MatrixError } from '@trellis/matrix';
import { ClientError } from '@trellis/client';
import { printable, shortReason } from './text.js';

/**
 * `action` completes "Could not …", e.g. "send the message"; `target` names what the command
 * was about ("@bob:server", "the room !id"), for the sentences that need it.
 */
export function describeError(error: unknown, action: string, target?: string): string {
  return `Could not ${action}: ${reasonAndAdvice(error, target)}`;
}

/** What went wrong, and what to do about it, as a sentence (after "Could not …: "). */
export function reasonAndAdvice(error: unknown, target?: string): string {
  if (!(error instanceof ClientError)) return `${shortReason(error)}.`;
  switch (error.code) {
    case 'NETWORK':
      return 'the server does not answer. Check that it is running and that --server points at it, then try again.';
    case 'HTTP':
      return httpAdvice(error, target);
    case 'NOT_READY':
      return 'this device is not in the room’s encrypted group yet. Wait until a member’s device adds it (a notice says so), then try again.';
    case 'UNKNOWN_ROOM':
      return 'you are not in that room. /rooms lists the rooms you are in.';
    case 'NOT_ENCRYPTED':
      return 'the room is not encrypted with Trellis, so this client cannot use it. Pick another room with /rooms.';
    case 'BACKUP':
    case 'CROSS_SIGNING':
    case 'SECRET_STORAGE':
      return `${shortReason(error)}.`;
    case 'NOT_LOGGED_IN':
      return 'this device is not logged in. Start trellis chat again with --user NAME to log in.';
    case 'STOPPED':
      return 'the client is stopping.';
    case 'BAD_RESPONSE':
      return 'the server sent something this client does not understand. Try again; if it keeps failing, check that the server runs the same Trellis version.';
  }
}

function httpAdvice(error: ClientError, target: string | undefined): string {
  const said = error.serverError ? ` (the server says: ${printable(error.serverError)})` : '';
  switch (error.errcode) {
    case 'M_FORBIDDEN':
      return `the server does not allow it${said}.`;
    case 'M_USER_IN_USE':
      return 'that user name is taken. Pick another one, or leave out --register to log in to it.';
    case 'M_UNKNOWN_TOKEN':
    case 'M_MISSING_TOKEN':
      return 'the server no longer knows this device. Start trellis chat again with --user NAME to log in.';
    case 'M_LIMIT_EXCEEDED':
      return 'the server is limiting how fast you go. Wait a few seconds and try again.';
    case 'M_NOT_FOUND':
      return `${target ?? 'what you named'} does not exist on the server. Check the spelling and try again.`;
    case 'M_INVALID_USERNAME':
      return 'the server does not accept that user name. Use lower-case letters, digits and . _ = - /.';
    case 'M_TOO_LARGE':
      return 'it is too large for the server. Send it in smaller parts.';
    default:
      return `the server refused it (${error.errcode ?? `HTTP status ${error.status ?? 'unknown'}`})${said}.`;
  }
}

/** Login fails the same way for a wrong user and a wrong password: say so. */
export function describeLoginError(error: unknown, register: boolean): string {
  if (
    error instanceof ClientError &&
    error.code === 'HTTP' &&
    error.errcode === 'M_FORBIDDEN' &&
    !register
  ) {
    return 'Could not log in: the user name or password is wrong. Check them, or add --register to create the account.';
  }
  return describeError(error, register ? 'create the account' : 'log in');
}

/**
 * Why a restore failed. A restore never suggests starting a new backup: that would leave the
 * old one, with the history in it, behind.
 */
export function describeRestoreError(error: unknown): string {
  const cause = error instanceof ClientError ? error.details.cause : undefined;
  if (error instanceof ClientError && error.code === 'BACKUP' && cause === undefined) {
    return 'Nothing was restored: the server holds no key backup for your account.';
  }
  if (cause instanceof BackupError) {
    switch (cause.code) {
      case 'RECOVERY_KEY_PARITY':
      case 'RECOVERY_KEY_PREFIX':
        return 'Nothing was restored: the recovery key has a typo in it. Check it character by character, then /restore again.';
      case 'RECOVERY_KEY_LENGTH':
        return 'Nothing was restored: the recovery key is too short or too long (a group of four missing, or one too many?). Check it, then /restore again.';
      case 'RECOVERY_KEY_CHARACTER':
        return `Nothing was restored: that is not a recovery key (${shortReason(cause)}). Type the backup’s recovery key, or its passphrase if it has one, then /restore again.`;
      case 'WRONG_KEY':
        return 'Nothing was restored: that is the wrong key. It does not unlock your backup: check the recovery key (or passphrase), then /restore again.';
      default:
        return `Nothing was restored: the backup cannot be read (${shortReason(cause)}).`;
    }
  }
  return describeError(error, 'restore from the backup');
}

/**
 * Why /recovery could not recover the cross-signing keys. Like a restore, it never suggests
 * setting up new keys: that would leave every device the old ones signed unsigned.
 */
export function describeRecoveryError(error: unknown): string {
  if (!(error instanceof ClientError))
    return describeError(error, 'recover the cross-signing keys');
  const cause = error.details.cause;
  if (error.code === 'SECRET_STORAGE') {
    if (cause instanceof MatrixError && cause.code === 'SECRET_STORAGE_WRONG_KEY') {
      return 'This device was not signed: that is the wrong key. It does not unlock your secret storage: check the recovery key (or passphrase), then /recovery again.';
    }
    if (cause instanceof MatrixError && cause.code === 'INVALID_RECOVERY_KEY') {
      return `This device was not signed: that is not a recovery key (${shortReason(cause)}), and your backup was made without a passphrase. Type the backup’s recovery key, then /recovery again.`;
    }
    return `This device was not signed: your secret storage cannot be read (${shortReason(error)}).`;
  }
  if (error.code === 'CROSS_SIGNING') {
    return `This device was not signed: the keys in your secret storage are not the ones your account publishes (${shortReason(error)}). They were replaced on another device, or the server changed them.`;
  }
  return describeError(error, 'recover the cross-signing keys');
}
