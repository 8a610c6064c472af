/**
 * Text as the chat shows it: other people's text made safe to print, short reasons for
 * failures, and the labels of rooms and devices.
 */

/**
 * Text from other people, made safe to print: control characters (escape sequences could
 * rewrite the screen or fake lines) are replaced; the text stays on one line.
 */
export function printable(text: string): string {
  return text.replace(/\r\n|\r|\n/g, ' ⏎ ').replace(/[\u0000-\u001f\u007f-\u009f]/g, '�');
}

/** A short reason for a failure, without a stack. */
export function shortReason(error: unknown): string {
  if (error instanceof Error) return printable(error.message.replace(/[.\s]+$/, ''));
  return printable(String(error));
}

/** The room's name, or its id when it has none (yet: names live in the encrypted group). */
export function roomLabel(room: {
  readonly roomId: string;
  readonly name: string | undefined;
}): string {
  return room.name !== undefined && room.name !== '' ? printable(room.name) : room.roomId;
}

/** `@alice:server (DEVICE)` for a credential identity `@alice:server|DEVICE`. */
export function deviceLabel(identity: string): string {
  const bar = identity.lastIndexOf('|');
  if (bar === -1) return printable(identity);
  return `${printable(identity.slice(0, bar))} (${printable(identity.slice(bar + 1))})`;
}

/** `alice|DEVICE` for `@alice:server|DEVICE`: short enough for graph lines. */
export function shortIdentity(identity: string): string {
  return printable(identity.replace(/^@([^:|]+):[^|]*\|/, '$1|'));
}

/** `alice` for `@alice:example.org` and for `alice`. */
export function localpartOf(user: string): string {
  if (!user.startsWith('@')) return user;
  const colon = user.indexOf(':');
  return colon === -1 ? user.slice(1) : user.slice(1, colon);
}

/** `1 message`, `2 messages`. */
export function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
