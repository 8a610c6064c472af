/**
 * Colour, for a terminal that shows it: each sender in a colour of their own (the same one in
 * every run), notices dimmed, warnings and errors in yellow and red. None when the output is
 * not a terminal, when `NO_COLOR` is set (https://no-color.org), or when `TERM` is `dumb`.
 */

export interface Style {
  readonly enabled: boolean;
  /** A sender's name, in their colour. */
  sender(userId: string, text: string): string;
  /** Times, notices: in the background. */
  dim(text: string): string;
  /** Something to look at: a device of your own you may not know of. */
  warning(text: string): string;
  error(text: string): string;
}

/** Red is left out: it means an error. */
const SENDER_COLOURS = [32, 33, 34, 35, 36, 92, 93, 94, 95, 96] as const;

/** Whether to colour the output written to `output`. */
export function wantsColour(
  env: Readonly<Record<string, string | undefined>>,
  output: { readonly isTTY?: boolean },
): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return output.isTTY === true;
}

export function createStyle(enabled: boolean): Style {
  const sgr = (code: string, text: string) => (enabled ? `\x1b[${code}m${text}\x1b[0m` : text);
  return {
    enabled,
    sender: (userId, text) => sgr(String(senderColour(userId)), text),
    dim: (text) => sgr('2', text),
    warning: (text) => sgr('1;33', text),
    error: (text) => sgr('31', text),
  };
}

/** The colour of a sender: picked by a hash of the user id, so it is the same in every run. */
export function senderColour(userId: string): number {
  // FNV-1a, 32 bits.
  let hash = 0x811c9dc5;
  for (let i = 0; i < userId.length; i++) {
    hash ^= userId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return SENDER_COLOURS[hash % SENDER_COLOURS.length]!;
}
