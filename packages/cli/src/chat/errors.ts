/**
 * Failures as sentences that say what went wrong and what to do about it. The SDK's errors
 * carry stable codes (and the server's `errcode`); the advice is picked from those, never from
 * the wording of a message.
 */
import { ClientError } from '@trellis/client';
import { shortReason } from './format.js';

/** `action` completes "Could not …", e.g. "send the message". */
export function describeError(error: unknown, action: string): string {
  return `Could not ${action}: ${reasonAndAdvice(error)}`;
}

function reasonAndAdvice(error: unknown): string {
  if (!(error instanceof ClientError)) return `${shortReason(error)}.`;
  switch (error.code) {
    case 'NETWORK':
      return 'the server does not answer. Check that it is running and that --server points at it, then try again.';
    case 'HTTP':
      return httpAdvice(error);
    case 'NOT_READY':
      return 'this device is not in the room’s encrypted group yet. Wait until a member’s device adds it (a notice says so), then try again.';
    case 'UNKNOWN_ROOM':
      return 'you are not in that room. /rooms lists the rooms you are in.';
    case 'NOT_ENCRYPTED':
      return 'the room is not encrypted with Trellis, so this client cannot use it. Pick another room with /rooms.';
    case 'BACKUP':
      return `${shortReason(error)}. Check the recovery key or passphrase and try again, or start a backup with /backup.`;
    case 'NOT_LOGGED_IN':
      return 'this device is not logged in. Start trellis chat again with --user NAME to log in.';
    case 'STOPPED':
      return 'the client is stopping.';
    case 'BAD_RESPONSE':
      return `the server sent something unexpected (${shortReason(error)}). Try again; if it keeps failing, check that the server runs the same Trellis version.`;
  }
}

function httpAdvice(error: ClientError): string {
  const said = shortReason(error);
  switch (error.errcode) {
    case 'M_FORBIDDEN':
      return `the server refused (${said}). Check that you are allowed to do this here.`;
    case 'M_USER_IN_USE':
      return 'that user name is taken. Pick another one, or leave out --register to log in to it.';
    case 'M_UNKNOWN_TOKEN':
    case 'M_MISSING_TOKEN':
      return 'the server no longer knows this device. Start trellis chat again with --user NAME to log in.';
    case 'M_LIMIT_EXCEEDED':
      return 'the server is limiting how fast you go. Wait a few seconds and try again.';
    case 'M_NOT_FOUND':
      return `the server does not know it (${said}). Check the id and try again.`;
    case 'M_INVALID_USERNAME':
      return `the server does not accept that user name (${said}). Use letters, digits and . _ = - /.`;
    default:
      return `the server answered ${error.errcode ?? `HTTP ${error.status ?? '?'}`} (${said}).`;
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
