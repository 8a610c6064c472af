/**
 * The lines of the chat's scrollback: messages (time, sender, body), notices of what happened,
 * and warnings. Pure: the caller gives the names, the time now and the style.
 */
import type { MessageSource } from '@trellis/client';
import type { Style } from './style.js';
import { printable } from './text.js';
import { timeOf } from './time.js';

/** A message as shown: live, read later, or typed here and not sent yet. */
export interface ShownMessage {
  /** The sender's user id (their colour follows it). */
  readonly sender: string;
  /** The sender's name as the chat shows it (names.ts). */
  readonly name: string;
  readonly type: string;
  readonly content: Readonly<Record<string, unknown>>;
  /** When it was sent (ms); when the server gave no time, it is shown with the time now. */
  readonly ts: number | undefined;
  readonly source: MessageSource | 'pending';
  /** The room's label, when it is not the current room. */
  readonly room?: string;
}

const SUFFIX: Record<ShownMessage['source'], string> = {
  live: '',
  backfill: ' (late)',
  backup: ' (from the backup)',
  pending: ' (not sent yet: it goes when the server answers)',
};

export function messageLine(message: ShownMessage, now: Date, style: Style): string {
  const time = style.dim(timeOf(new Date(message.ts ?? now.getTime()), now));
  const where = message.room !== undefined ? `[${printable(message.room)}] ` : '';
  const name = style.sender(message.sender, printable(message.name));
  const body = message.content.body;
  let text: string;
  if (message.type === 'm.room.message' && typeof body === 'string') {
    text =
      message.content.msgtype === 'm.emote'
        ? `* ${name} ${printable(body)}`
        : `${name}: ${printable(body)}`;
  } else {
    text = `${name}: (a ${printable(message.type)} event)`;
  }
  const suffix = SUFFIX[message.source];
  return `${time} ${where}${text}${suffix === '' ? '' : style.dim(suffix)}`;
}

/** Something that happened, not a message: dimmed, after the time it was seen. */
export function noticeLine(text: string, now: Date, style: Style, room?: string): string {
  const where = room !== undefined ? `[${printable(room)}] ` : '';
  return style.dim(`${timeOf(now, now)} -- ${where}${text}`);
}

/** Something to look at: stands out from the notices. */
export function warningLine(text: string, now: Date, style: Style, room?: string): string {
  const where = room !== undefined ? `[${printable(room)}] ` : '';
  return style.warning(`${timeOf(now, now)} !! ${where}${text}`);
}
