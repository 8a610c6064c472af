/**
 * Opaque tokens. A sync token `s<stream>_<toDevice>` names the stream position the client has
 * seen and the last to-device message it was given (acknowledged by presenting the token). A
 * pagination token `t<stream>` names a point between events: `t5` is after event 5.
 */

export interface SyncToken {
  stream: number;
  toDevice: number;
}

export const formatSyncToken = (t: SyncToken) => `s${t.stream}_${t.toDevice}`;

export function parseSyncToken(token: string): SyncToken | undefined {
  const match = /^s(\d{1,15})_(\d{1,15})$/.exec(token);
  if (!match) return undefined;
  return { stream: Number(match[1]), toDevice: Number(match[2]) };
}

export const formatPaginationToken = (stream: number) => `t${Math.max(0, stream)}`;

/** Accepts pagination tokens and sync tokens (`from` may be a sync `next_batch`). */
export function parsePaginationToken(token: string): number | undefined {
  const match = /^t(\d{1,15})$/.exec(token);
  if (match) return Number(match[1]);
  return parseSyncToken(token)?.stream;
}
