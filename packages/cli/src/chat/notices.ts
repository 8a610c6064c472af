/**
 * What the chat says when something happens in a room: who did what, and why when it is known.
 * Pure sentences from the SDK's events; people are named by the caller's `name` (names.ts).
 */
import {
  ClientError,
  type ClientEvents,
  type GroupMetadata,
  type UntrustedReason,
} from '@trellis/client';
import { deviceOf } from '@trellis/dmls';
import { printable, shortReason } from './text.js';

export type NameOf = (userId: string) => string;

/** `alice` for `@alice:x|LAPTOP`, the user of a device identity, named. */
function deviceUser(identity: string, name: NameOf): string {
  return name(deviceOf(identity).userId);
}

const quoted = (text: string) => `“${printable(text)}”`;

export function describeDecryptionFailure(
  failure: ClientEvents['decryptionFailure'],
  name: NameOf,
): string {
  const from = failure.sender ? name(failure.sender) : 'someone';
  return `a message from ${from} could not be decrypted: ${printable(failure.reason)} (${failure.code}).`;
}

/** Said once per room instead of a failure per message of the backlog. */
export function describeBacklog(): string {
  return 'messages sent before this device was added to the room’s encrypted group cannot be read by it; /restore reads them from your key backup, if you made one.';
}

/** Someone else's membership change: who did it (`you`, when this user did), and why. */
export function describeMembership(
  event: ClientEvents['membership'],
  ownUserId: string,
  name: NameOf,
): string {
  const who = name(event.userId);
  const actor = event.sender === ownUserId ? 'you' : name(event.sender);
  const self = event.sender === event.userId;
  const why = event.reason !== undefined ? `: ${printable(event.reason)}` : '.';
  switch (event.membership) {
    case 'join':
      return `${who} joined.`;
    case 'invite':
      return `${actor} invited ${who}.`;
    case 'leave':
      return self ? `${who} left${why}` : `${actor} removed ${who}${why}`;
    case 'ban':
      return `${actor} banned ${who}${why}`;
    default:
      return `${who}: membership is now ${printable(event.membership)}.`;
  }
}

/** This user was removed or banned from a room by someone else. */
export function describeOwnRemoval(
  event: ClientEvents['membership'],
  room: string,
  name: NameOf,
): string {
  const what = event.membership === 'ban' ? 'banned you from' : 'removed you from';
  const why = event.reason !== undefined ? `: ${printable(event.reason)}` : '.';
  return `${name(event.sender)} ${what} ${printable(room)}${why}`;
}

export function describeInvite(
  event: ClientEvents['invite'],
  number: number,
  name: NameOf,
): string {
  const by = event.inviter ? `${name(event.inviter)} (${printable(event.inviter)})` : 'someone';
  return `${by} invited you to ${event.roomId}: type /join ${number} to accept.`;
}

/** A device added to the room's group: everyone is told, and of whose device it is. */
export function describeAddedDevice(identity: string, ownUserId: string, name: NameOf): string {
  const { userId, deviceId } = deviceOf(identity);
  if (userId === ownUserId)
    return `your device ${printable(deviceId)} was added to the room’s encryption.`;
  return `${name(userId)}’s device ${printable(deviceId)} was added to the room’s encryption.`;
}

/** A device of this user that this device has never seen: it may not be theirs. */
export function describeUnknownOwnDevice(identity: string): string {
  const { deviceId } = deviceOf(identity);
  return `a new device of yours, ${printable(deviceId)}, was added to the room’s encryption: it reads what is sent here from now on. If you did not sign in on a new device, someone else did: change your password.`;
}

export function describeFork(event: ClientEvents['fork']): string {
  return `the room forked: ${event.tips.length} branches (two devices committed at once). Messages on every branch are still read; a device will merge them. /epochs draws the graph.`;
}

export function describeResolved(event: ClientEvents['resolved'], name: NameOf): string {
  const by = event.mine ? 'this device' : deviceUser(event.epoch.creator, name);
  return `the fork was resolved by ${by}: ${event.resolves.length + 1} branches merged into epoch ${event.epoch.epoch}.`;
}

export function describeWelcome(event: ClientEvents['welcome'], name: NameOf): string {
  return `this device joined the room’s encrypted group at epoch ${event.epoch.epoch} (added by ${deviceUser(event.sender, name)}’s device): you can read and send now.`;
}

/** What a refused commit tried, by the stable code of its refusal. */
const REFUSED_COMMITS: Record<string, string> = {
  INVALID_RESOLVES:
    'it claims to merge a branch of the room’s history that it may not merge (one already merged, or one that does not exist)',
  REMOVAL_UNDONE: 'it would bring back a device that was removed on a branch it merges',
  KEY_MISMATCH:
    'it adds a device under a key that its user did not publish for it: someone posing as that device',
  DUPLICATE_IDENTITY: 'it puts two members in the group in the name of one device',
  INVALID_METADATA:
    'its signed note of where it belongs in the room’s history is missing or does not match the event',
  SENDER_MISMATCH: 'it was sent in the name of another device',
  EPOCH_EXPIRED:
    'it builds on an epoch this device has let go of, so it came too late to apply; this device will ask to be added again',
};

export function describeCommitRefused(event: ClientEvents['commitRefused'], name: NameOf): string {
  const what = REFUSED_COMMITS[event.code] ?? printable(event.reason);
  const from = event.sender ? name(event.sender) : 'someone';
  return `a change to the room’s encryption from ${from} was refused: ${what} (${event.code}). The room carries on without it.`;
}

/** Why a device is kept out of this user's rooms, by its stable code. */
const UNTRUSTED: Record<UntrustedReason, string> = {
  UNSIGNED: 'its user did not sign it (cross-signing), and this chat runs with --trust strict',
  MASTER_KEY_CHANGED:
    'it is signed under a new master key of its user, and you verified the old one: accept the new key once you have checked it',
};

/**
 * A device worth a word: one kept out of the rooms (always said), and, once the chat has seen
 * its user's devices, a new one or one whose state changed (signed by its user, or let in
 * unsigned under --trust tofu). Undefined: nothing to say.
 */
export function describeDeviceTrust(
  event: ClientEvents['deviceTrust'],
  name: (userId: string) => string,
): { text: string; warn: boolean } | undefined {
  const device = `${name(event.userId)}'s device ${printable(event.deviceId)}`;
  const { trust } = event;
  if (!trust.trusted) {
    return {
      text: `${device} is NOT TRUSTED and is kept out of your rooms: ${UNTRUSTED[trust.reason]}.`,
      warn: true,
    };
  }
  if (event.firstLook) return undefined;
  if (trust.signed) return { text: `${device} is signed by its user.`, warn: false };
  return {
    text: `${device} is not signed by its user; it is let into your rooms because this chat runs with --trust tofu. Check it with /devices.`,
    warn: true,
  };
}

export function describeMasterKeyChanged(
  event: ClientEvents['masterKeyChanged'],
  name: (userId: string) => string,
): string {
  const who = name(event.userId);
  return event.verified
    ? `${who}'s master key changed, and you had verified the old one: ${who}'s new devices are kept out of your rooms until you accept the new key.`
    : `${who}'s master key changed (you had not verified the old one): the new key is used from now on.`;
}

export function describeRejoin(): string {
  return 'this device lost track of the room’s encrypted group (it was away too long, or was removed and let back in): it asked the other devices to add it again.';
}

export function describeRemoved(): string {
  return 'a commit removed this device from a branch of the room’s group: it reads no new messages on that branch.';
}

/**
 * A name or topic change. `before` is what this chat showed until now; `by` made the change
 * (unknown for a change made before this device joined: then the room's state is told).
 */
export function describeMetadata(
  event: ClientEvents['metadata'],
  before: GroupMetadata,
  ownUserId: string,
  name: NameOf,
): string {
  if (event.by === undefined) {
    const parts: string[] = [];
    if (event.name !== undefined) parts.push(`is called ${quoted(event.name)}`);
    if (event.topic !== undefined) parts.push(`has the topic ${quoted(event.topic)}`);
    return parts.length === 0
      ? 'the room has no name or topic.'
      : `the room ${parts.join(' and ')}.`;
  }
  const userId = deviceOf(event.by).userId;
  const actor = userId === ownUserId ? 'you' : name(userId);
  const changes: string[] = [];
  if (event.name !== before.name) {
    changes.push(
      event.name === undefined
        ? 'removed the room’s name'
        : `renamed the room ${quoted(event.name)}`,
    );
  }
  if (event.topic !== before.topic) {
    changes.push(
      event.topic === undefined ? 'cleared the topic' : `set the topic to ${quoted(event.topic)}`,
    );
  }
  if (changes.length === 0) changes.push('changed the room’s settings');
  return `${actor} ${changes.join(' and ')}.`;
}

/** This user's change lost to another made at the same time. */
export function describeReplaced(event: ClientEvents['metadataReplaced'], name: NameOf): string {
  const theirs = event.by === undefined ? 'another one' : `${deviceUser(event.by, name)}’s`;
  const value = (v: string | undefined) => (v === undefined ? 'none' : quoted(v));
  return `your ${event.field} change (${value(event.mine)}) was replaced by ${theirs} (${value(event.value)}), made at the same time.`;
}

export function describeConnectionLost(error: unknown): string {
  let why: string;
  if (error instanceof ClientError && error.code === 'NETWORK') why = 'it does not answer';
  else if (error instanceof ClientError && error.code === 'HTTP') {
    why = `it answers with errors (HTTP ${error.status ?? 'error'})`;
  } else why = shortReason(error);
  return `cannot reach the server: ${why}. Messages you type wait here, and go as soon as it answers again.`;
}

export function describeReconnected(): string {
  return 'reconnected: the server answers again.';
}

export function describeLoggedOut(event: ClientEvents['loggedOut']): string {
  return `the server logged this device out (${printable(event.reason)}). Type /quit, then start trellis chat again with --user to log in as a new device.`;
}
