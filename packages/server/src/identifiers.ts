import { randomBytes } from 'node:crypto';
import { IDENTITY_SEPARATOR } from './mls.js';
import { MatrixError, invalidParam } from './errors.js';

/** Matrix identifier grammar (appendices: user, room and event identifiers). */

const LOCALPART = /^[a-z0-9._=\-/+]+$/;
const MAX_ID_LENGTH = 255;

export function userIdFor(localpart: string, serverName: string): string {
  return `@${localpart}:${serverName}`;
}

/** A user id's localpart on this server, or undefined for a remote or malformed id. */
export function localpartOf(userId: string, serverName: string): string | undefined {
  const suffix = `:${serverName}`;
  if (!userId.startsWith('@') || !userId.endsWith(suffix)) return undefined;
  const local = userId.slice(1, -suffix.length);
  return LOCALPART.test(local) ? local : undefined;
}

export function checkLocalpart(localpart: string, serverName: string): void {
  if (!LOCALPART.test(localpart) || userIdFor(localpart, serverName).length > MAX_ID_LENGTH) {
    throw new MatrixError(400, 'M_INVALID_USERNAME', `"${localpart}" is not a valid username`);
  }
}

export const isUserId = (value: string) =>
  /^@[^:]+:.+$/.test(value) && value.length <= MAX_ID_LENGTH;

/**
 * Device ids become half of an MLS credential identity `userId|deviceId`, so the separator may
 * not appear in them.
 */
export function checkDeviceId(deviceId: string): void {
  if (deviceId.includes(IDENTITY_SEPARATOR)) {
    throw invalidParam(`device_id may not contain "${IDENTITY_SEPARATOR}"`);
  }
  if (deviceId.includes('\0')) throw invalidParam('device_id may not contain U+0000');
  if (deviceId.length === 0 || deviceId.length > 255) {
    throw invalidParam('device_id must be 1 to 255 characters');
  }
}

const opaque = (bytes: number) => randomBytes(bytes).toString('base64url');

export const newRoomId = (serverName: string) => `!${opaque(18)}:${serverName}`;
export const newLocalpart = () => `u${randomBytes(6).toString('hex')}`;
