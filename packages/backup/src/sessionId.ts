/**
 * Session ids of the backup (the `{sessionId}` of `/room_keys/keys/{roomId}/{sessionId}`).
 *
 * - An epoch: `<epoch number>|<unpadded base64 of userId|deviceId>` (MSC4038), the epoch number
 *   in decimal and the epoch creator as dMLS names it. Epochs of concurrent branches have the
 *   same number and different creators, so each gets its own entry.
 * - A member set (see memberSet.ts): `members|<unpadded base64 of its 32-byte id>`. `members` is
 *   not a decimal number, so the two kinds cannot be confused.
 */
import { IDENTITY_SEPARATOR } from '@trellis/mls';
import { decodeBase64, encodeBase64, fromUtf8, utf8 } from './encoding.js';
import { BackupError } from './errors.js';

/** The member whose commit created an epoch: a Matrix user and one of its devices. */
export interface EpochCreator {
  readonly userId: string;
  readonly deviceId: string;
}

export type ParsedSessionId =
  | { readonly kind: 'epoch'; readonly epoch: bigint; readonly creator: EpochCreator }
  | { readonly kind: 'member_set'; readonly id: Uint8Array };

const MEMBER_SET_PREFIX = `members${IDENTITY_SEPARATOR}`;
export const MEMBER_SET_ID_SIZE = 32;
const MAX_EPOCH = (1n << 64n) - 1n;
const EPOCH_SESSION = /^(0|[1-9][0-9]{0,19})\|([A-Za-z0-9+/]+)$/;

/**
 * Checks a creator for use in a session id: both parts non-empty, and no separator in the device
 * id (the server refuses such ids), so that splitting at the last separator gives them back.
 */
export function checkCreator(creator: EpochCreator): void {
  const { userId, deviceId } = creator ?? {};
  if (typeof userId !== 'string' || typeof deviceId !== 'string' || !userId || !deviceId) {
    throw new BackupError('INVALID_SESSION_ID', 'an epoch creator has a user id and a device id');
  }
  if (deviceId.includes(IDENTITY_SEPARATOR)) {
    throw new BackupError(
      'INVALID_SESSION_ID',
      `device id ${JSON.stringify(deviceId)} contains ${IDENTITY_SEPARATOR}`,
    );
  }
}

/** `userId|deviceId`: the identity in a device's credential, and the creator in a session id. */
export function creatorIdentity(creator: EpochCreator): string {
  checkCreator(creator);
  return `${creator.userId}${IDENTITY_SEPARATOR}${creator.deviceId}`;
}

/** The creator a `userId|deviceId` identity names, or undefined if it names none. */
export function parseCreatorIdentity(identity: string): EpochCreator | undefined {
  const at = identity.lastIndexOf(IDENTITY_SEPARATOR);
  if (at <= 0 || at === identity.length - 1) return undefined;
  return { userId: identity.slice(0, at), deviceId: identity.slice(at + 1) };
}

export function epochSessionId(epoch: bigint, creator: EpochCreator): string {
  if (typeof epoch !== 'bigint' || epoch < 0n || epoch > MAX_EPOCH) {
    throw new BackupError('INVALID_SESSION_ID', `epoch ${String(epoch)} is not a uint64`);
  }
  return `${epoch}${IDENTITY_SEPARATOR}${encodeBase64(utf8(creatorIdentity(creator)))}`;
}

export function memberSetSessionId(id: Uint8Array): string {
  if (id.length !== MEMBER_SET_ID_SIZE) {
    throw new BackupError('INVALID_SESSION_ID', `a member set id has ${MEMBER_SET_ID_SIZE} bytes`);
  }
  return MEMBER_SET_PREFIX + encodeBase64(id);
}

/** Parses either kind of session id; anything else is `INVALID_SESSION_ID`. */
export function parseSessionId(sessionId: string): ParsedSessionId {
  const invalid = (why: string) =>
    new BackupError('INVALID_SESSION_ID', `session id ${JSON.stringify(sessionId)}: ${why}`);
  if (typeof sessionId !== 'string') throw invalid('not a string');
  if (sessionId.startsWith(MEMBER_SET_PREFIX)) {
    const id = decodeOrUndefined(sessionId.slice(MEMBER_SET_PREFIX.length));
    if (!id || id.length !== MEMBER_SET_ID_SIZE || sessionId.endsWith('=')) {
      throw invalid(`a member set is named by ${MEMBER_SET_ID_SIZE} bytes in unpadded base64`);
    }
    return { kind: 'member_set', id };
  }
  const match = EPOCH_SESSION.exec(sessionId);
  if (!match) throw invalid('not <epoch number>|<base64 creator>');
  const epoch = BigInt(match[1]!);
  if (epoch > MAX_EPOCH) throw invalid('the epoch number does not fit 64 bits');
  const identityBytes = decodeOrUndefined(match[2]!);
  const identity = identityBytes && fromUtf8(identityBytes);
  const creator = identity === undefined ? undefined : parseCreatorIdentity(identity);
  if (!creator) throw invalid('the creator is not base64 of UTF-8 userId|deviceId');
  return { kind: 'epoch', epoch, creator };
}

function decodeOrUndefined(text: string): Uint8Array | undefined {
  try {
    return decodeBase64(text, 'session id');
  } catch {
    return undefined;
  }
}
