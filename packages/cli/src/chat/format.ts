/**
 * Everything `trellis chat` prints, as pure functions from plain data to lines of text. The
 * session turns the SDK's events and state into these inputs; nothing here touches a terminal,
 * so the wording is tested on its own.
 */
import type { ClientEvents } from '@trellis/client';
import type { EpochId } from '@trellis/dmls';
import { COMMAND_HELP } from './commands.js';

/** A room as the lists and labels show it. */
export interface RoomSummary {
  readonly roomId: string;
  readonly name: string | undefined;
  readonly topic: string | undefined;
  readonly joinedUsers: number;
  /** This device is a member of the room's group (it can read and send). */
  readonly inGroup: boolean;
}

export interface InviteSummary {
  readonly roomId: string;
  readonly inviter: string | undefined;
}

export interface DeviceSummary {
  readonly deviceId: string;
  /** A member of the epoch this device sends in. */
  readonly inEpoch: boolean;
  readonly thisDevice: boolean;
}

export interface MemberSummary {
  readonly userId: string;
  readonly devices: readonly DeviceSummary[];
}

export interface MembersView {
  readonly room: RoomSummary;
  readonly members: readonly MemberSummary[];
  /** The epoch this device sends in, if it has the group. */
  readonly epoch: EpochId | undefined;
  /** Members of that epoch that belong to no joined user (they leave with the next commit). */
  readonly leaving: readonly string[];
}

/**
 * Text from other people, made safe to print: control characters (escape sequences could
 * rewrite the screen or fake lines) are replaced; the text stays on one line.
 */
export function printable(text: string): string {
  return text.replace(/\r\n|\r|\n/g, ' ⏎ ').replace(/[\u0000-\u001f\u007f-\u009f]/g, '�');
}

/** `HH:MM:SS` in local time. */
export function clock(at: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}`;
}

/** The room's name, or its id when it has none (yet: names live in the encrypted group). */
export function roomLabel(room: Pick<RoomSummary, 'roomId' | 'name'>): string {
  return room.name !== undefined && room.name !== '' ? printable(room.name) : room.roomId;
}

/**
 * A message: time, sender (user and device), body. `room` is given when the message is not in
 * the current room, so the reader knows where it belongs.
 */
export function formatMessage(
  message: ClientEvents['message'],
  at: Date,
  room?: Pick<RoomSummary, 'roomId' | 'name'>,
): string {
  const where = room ? `[${roomLabel(room)}] ` : '';
  const from = `${message.sender} (${printable(message.senderDevice)})`;
  const origin =
    message.source === 'backup'
      ? ' (from the backup)'
      : message.source === 'backfill'
        ? ' (late)'
        : '';
  return `${clock(at)} ${where}${from}: ${messageBody(message)}${origin}`;
}

function messageBody(message: ClientEvents['message']): string {
  const body = message.content.body;
  if (message.type === 'm.room.message' && typeof body === 'string') {
    return message.content.msgtype === 'm.emote' ? `* ${printable(body)}` : printable(body);
  }
  return `(a ${printable(message.type)} event)`;
}

/** A notice: something that happened, not a message. */
export function notice(at: Date, text: string): string {
  return `${clock(at)} -- ${text}`;
}

export function describeDecryptionFailure(failure: ClientEvents['decryptionFailure']): string {
  return `a message from ${failure.sender} could not be decrypted: ${printable(failure.reason)} (${failure.code}).`;
}

/** Said once per room instead of a failure per message of the backlog. */
export function describeBacklog(): string {
  return 'messages sent before this device was added to the room’s encrypted group cannot be read by it; /restore reads them from your key backup, if you made one.';
}

export function describeMembership(event: ClientEvents['membership'], ownUserId: string): string {
  const who = event.userId === ownUserId ? 'you' : event.userId;
  switch (event.membership) {
    case 'join':
      return `${who} joined.`;
    case 'invite':
      return `${who} ${who === 'you' ? 'were' : 'was'} invited.`;
    case 'leave':
      return `${who} left (or ${who === 'you' ? 'were' : 'was'} removed).`;
    case 'ban':
      return `${who} ${who === 'you' ? 'were' : 'was'} banned.`;
    default:
      return `${who}: membership is now ${printable(event.membership)}.`;
  }
}

export function describeInvite(event: ClientEvents['invite'], number: number): string {
  const by = event.inviter ? ` by ${event.inviter}` : '';
  return `you were invited${by} to ${event.roomId}: type /join ${number} to accept.`;
}

export function describeFork(event: ClientEvents['fork']): string {
  return `the room forked: ${event.tips.length} branches (two devices committed at once). Messages on every branch are still read; a device will merge them. /epochs draws the graph.`;
}

export function describeResolved(event: ClientEvents['resolved']): string {
  const by = event.mine ? 'this device' : `${deviceLabel(event.epoch.creator)}`;
  return `the fork was resolved by ${by}: ${event.resolves.length + 1} branches merged into epoch ${event.epoch.epoch}.`;
}

export function describeWelcome(event: ClientEvents['welcome']): string {
  return `this device joined the room’s encrypted group at epoch ${event.epoch.epoch} (added by ${deviceLabel(event.sender)}): you can read and send now.`;
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

export function describeCommitRefused(event: ClientEvents['commitRefused']): string {
  const what = REFUSED_COMMITS[event.code] ?? printable(event.reason);
  return `a change to the room’s encryption from ${event.sender || 'someone'} was refused: ${what} (${event.code}). The room carries on without it.`;
}

export function describeRejoin(): string {
  return 'this device lost track of the room’s encrypted group (it was away too long, or was removed and let back in): it asked the other devices to add it again.';
}

export function describeRemoved(): string {
  return 'a commit removed this device from a branch of the room’s group: it reads no new messages on that branch.';
}

export function describeMetadata(event: ClientEvents['metadata']): string {
  const parts: string[] = [];
  if (event.name !== undefined) parts.push(`name “${printable(event.name)}”`);
  if (event.topic !== undefined) parts.push(`topic “${printable(event.topic)}”`);
  return parts.length === 0
    ? 'the room’s name and topic were cleared.'
    : `the room now has ${parts.join(' and ')}.`;
}

export function describeSyncError(event: ClientEvents['syncError']): string {
  const seconds = Math.max(1, Math.round(event.retryInMs / 1000));
  return `cannot reach the server (${shortReason(event.error)}); trying again in ${seconds} s.`;
}

export function describeLoggedOut(event: ClientEvents['loggedOut']): string {
  return `the server logged this device out (${printable(event.reason)}). Type /quit, then start trellis chat again with --user to log in as a new device.`;
}

/** `@alice:server (DEVICE)` for a credential identity `@alice:server|DEVICE`. */
export function deviceLabel(identity: string): string {
  const bar = identity.lastIndexOf('|');
  if (bar === -1) return identity;
  return `${identity.slice(0, bar)} (${printable(identity.slice(bar + 1))})`;
}

/** `alice|DEVICE` for `@alice:server|DEVICE`: short enough for graph lines. */
export function shortIdentity(identity: string): string {
  return printable(identity.replace(/^@([^:|]+):[^|]*\|/, '$1|'));
}

export function helpLines(): string[] {
  const width = Math.max(...COMMAND_HELP.map(([c]) => c.length));
  return [
    'Type a line to send it to the current room (start it with // to send a line that begins with /).',
    ...COMMAND_HELP.map(([command, what]) => `  ${command.padEnd(width)}  ${what}`),
  ];
}

export function roomListLines(
  rooms: readonly RoomSummary[],
  invites: readonly InviteSummary[],
  currentRoomId: string | undefined,
): string[] {
  const lines: string[] = [];
  if (rooms.length === 0) lines.push('You are in no room yet: /create NAME makes one.');
  else lines.push('Your rooms (switch with /room N):');
  rooms.forEach((room, i) => {
    const mark = room.roomId === currentRoomId ? '*' : ' ';
    const people = `${room.joinedUsers} ${room.joinedUsers === 1 ? 'member' : 'members'}`;
    const waiting = room.inGroup ? '' : ', waiting to be added to the encrypted group';
    const label = room.name ? `${roomLabel(room)} (${room.roomId})` : room.roomId;
    const topic = room.topic ? ` — ${printable(room.topic)}` : '';
    lines.push(`${mark} ${i + 1}. ${label}${topic} [${people}${waiting}]`);
  });
  if (invites.length > 0) {
    lines.push('Invitations (accept with /join N):');
    invites.forEach((invite, i) => {
      const by = invite.inviter ? ` from ${invite.inviter}` : '';
      lines.push(`  ${i + 1}. ${invite.roomId}${by}`);
    });
  }
  return lines;
}

export function memberLines(view: MembersView): string[] {
  const lines = [`Members of ${roomLabel(view.room)}:`];
  for (const member of view.members) {
    lines.push(`  ${member.userId}`);
    if (member.devices.length === 0) {
      lines.push('    (no encryption devices known yet)');
    }
    for (const device of member.devices) {
      const where = device.inEpoch ? 'in the current epoch' : 'not in the current epoch yet';
      const self = device.thisDevice ? ', this device' : '';
      lines.push(`    ${printable(device.deviceId)}: ${where}${self}`);
    }
  }
  for (const identity of view.leaving) {
    lines.push(
      `  ${deviceLabel(identity)}: still in the current epoch, leaves with the next commit`,
    );
  }
  lines.push(
    view.epoch
      ? `Current epoch: ${view.epoch.epoch}, created by ${deviceLabel(view.epoch.creator)}.`
      : 'This device is not in the encrypted group yet: a member’s device will add it.',
  );
  return lines;
}

/** The recovery key, once, with the warning that it will not be shown again. */
export function recoveryKeyLines(recoveryKey: string, version: string): string[] {
  const rule = '='.repeat(Math.max(48, recoveryKey.length + 4));
  return [
    rule,
    `Key backup ${version} is on. Your RECOVERY KEY (shown this once only):`,
    '',
    `  ${recoveryKey}`,
    '',
    'Write it down now and keep it somewhere safe. It is the only way to read your',
    'history on a new device, and it will not be shown again.',
    rule,
  ];
}

export function restoreReportLines(report: {
  readonly epochs: number;
  readonly messages: number;
  readonly unreadable: number;
}): string[] {
  const lines = [
    `Restored ${report.epochs} ${report.epochs === 1 ? 'epoch' : 'epochs'} from the backup and read ${report.messages} ${report.messages === 1 ? 'message' : 'messages'} with them.`,
  ];
  if (report.unreadable > 0) {
    lines.push(
      `${report.unreadable} older ${report.unreadable === 1 ? 'message stays' : 'messages stay'} unreadable: none of your devices was in the room when ${report.unreadable === 1 ? 'it was' : 'they were'} sent.`,
    );
  }
  return lines;
}

/** A short reason for a failure, without a stack. */
export function shortReason(error: unknown): string {
  if (error instanceof Error) return printable(error.message.replace(/[.\s]+$/, ''));
  return printable(String(error));
}
