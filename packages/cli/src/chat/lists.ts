/**
 * What the chat prints when asked: the commands, the rooms and invitations, a room's members and
 * their devices, one person, the recovery key, and the outcome of a restore. Pure, from the plain
 * summaries roomState.ts reads from the SDK.
 */
import type { EpochId } from '@trellis/dmls';
import { COMMAND_HELP } from './commands.js';
import { count, deviceLabel, printable, roomLabel } from './text.js';

/** A room as the lists and labels show it. */
export interface RoomSummary {
  readonly roomId: string;
  readonly name: string | undefined;
  readonly topic: string | undefined;
  readonly joinedUsers: number;
  /** This device is a member of the room's group (it can read and send). */
  readonly inGroup: boolean;
  /** Messages that came while another room was the current one. */
  readonly unread: number;
}

export interface InviteSummary {
  readonly roomId: string;
  /** The inviter's user id and name, when known. */
  readonly inviter: { readonly userId: string; readonly name: string } | undefined;
}

export interface DeviceSummary {
  readonly deviceId: string;
  /** A member of the epoch this device sends in. */
  readonly inEpoch: boolean;
  readonly thisDevice: boolean;
}

export interface MemberSummary {
  readonly userId: string;
  readonly name: string;
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

export function helpLines(): string[] {
  const width = Math.max(...COMMAND_HELP.map(([c]) => c.length));
  return [
    'Type a line to send it to the current room (start it with // to send a line that begins with /).',
    ...COMMAND_HELP.map(([command, what]) => `  ${command.padEnd(width)}  ${what}`),
  ];
}

/** Rooms, then invitations, in one numbering: /room N and /join N take the same numbers. */
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
    const about = [count(room.joinedUsers, 'member')];
    if (room.unread > 0) about.push(`${room.unread} unread`);
    if (!room.inGroup) about.push('waiting to be added to the encrypted group');
    const label = room.name ? `${roomLabel(room)} (${room.roomId})` : room.roomId;
    const topic = room.topic ? ` — ${printable(room.topic)}` : '';
    lines.push(`${mark} ${i + 1}. ${label}${topic} [${about.join(', ')}]`);
  });
  if (invites.length > 0) {
    lines.push('Invitations (accept with /join N):');
    invites.forEach((invite, i) => {
      const by = invite.inviter
        ? ` from ${invite.inviter.name} (${printable(invite.inviter.userId)})`
        : '';
      lines.push(`  ${rooms.length + i + 1}. ${invite.roomId}${by}`);
    });
  }
  return lines;
}

export function memberLines(view: MembersView): string[] {
  const lines = [`Members of ${roomLabel(view.room)}:`];
  for (const member of view.members) lines.push(...personLines(member));
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

/** One member: name, user id and devices (/whois). */
export function personLines(member: MemberSummary): string[] {
  const lines = [`  ${member.name} (${printable(member.userId)})`];
  if (member.devices.length === 0) lines.push('    (no encryption devices known yet)');
  for (const device of member.devices) {
    const where = device.inEpoch ? 'in the current epoch' : 'not in the current epoch yet';
    lines.push(deviceLine(device.deviceId, where, device.thisDevice));
  }
  return lines;
}

/** One device under its user: `device ID: what is said of it[, this device]`. */
export function deviceLine(deviceId: string, state: string, thisDevice: boolean): string {
  return `    device ${printable(deviceId)}: ${state}${thisDevice ? ', this device' : ''}`;
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
    `Restored ${count(report.epochs, 'epoch')} from the backup and read ${count(report.messages, 'message')} with them.`,
  ];
  if (report.unreadable > 0) {
    lines.push(
      `${report.unreadable} older ${report.unreadable === 1 ? 'message stays' : 'messages stay'} unreadable: none of your devices was in the room when ${report.unreadable === 1 ? 'it was' : 'they were'} sent.`,
    );
  }
  return lines;
}
