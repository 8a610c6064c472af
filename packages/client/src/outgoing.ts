/**
 * A room's commit on its way out: written to the store (with the Welcome it carries) before it
 * is sent, and kept until its Welcome is sent too, so a client that crashes half-way sends the
 * same commit again (its transaction id makes the repeat harmless) and then the Welcome.
 */
import {
  deviceOf,
  ROOM_EVENT_TYPE,
  type RoomEventContent,
  type WelcomeContent,
} from '@trellis/dmls';
import { ClientError } from './errors.js';
import type { MatrixHttp } from './http.js';
import type { Store } from './store.js';

export interface OutgoingCommit {
  readonly txnId: string;
  readonly content: RoomEventContent;
  readonly added: readonly string[];
  /** The Welcome, without the commit's event id (known once the server stored the commit). */
  readonly welcome?: Omit<WelcomeContent, 'commit_event'>;
  readonly eventId?: string;
}

/** Welcome copies sent in one to-device request at most (the server takes 2 MiB bodies). */
const WELCOME_REQUEST_BYTES = 1 << 20;

export function readOutgoing(store: Store, roomId: string): OutgoingCommit | undefined {
  const text = store.value(key(roomId));
  return text === undefined ? undefined : (JSON.parse(text) as OutgoingCommit);
}

export function writeOutgoing(
  store: Store,
  roomId: string,
  outgoing: OutgoingCommit | undefined,
): void {
  store.setValue(key(roomId), outgoing === undefined ? undefined : JSON.stringify(outgoing));
}

function key(roomId: string): string {
  return `outgoing_commit ${roomId}`;
}

export function withoutCommitEvent(content: WelcomeContent): Omit<WelcomeContent, 'commit_event'> {
  const { commit_event: _, ...rest } = content;
  return rest;
}

/**
 * Sends the Welcome of a stored commit to every device it adds. It carries the ratchet tree, so
 * in a big group the copies go in several requests, each under the server's body limit.
 */
export async function sendWelcome(
  http: MatrixHttp,
  outgoing: OutgoingCommit & { welcome: Omit<WelcomeContent, 'commit_event'> },
  eventId: string,
): Promise<void> {
  const content: WelcomeContent = { ...outgoing.welcome, commit_event: eventId };
  const perRequest = Math.max(
    1,
    Math.floor(WELCOME_REQUEST_BYTES / Buffer.byteLength(JSON.stringify(content))),
  );
  for (let at = 0; at < outgoing.added.length; at += perRequest) {
    const messages: Record<string, Record<string, object>> = {};
    for (const identity of outgoing.added.slice(at, at + perRequest)) {
      const { userId, deviceId } = deviceOf(identity);
      (messages[userId] ??= {})[deviceId] = content;
    }
    const txnId = `${outgoing.txnId}.welcome${at === 0 ? '' : `.${at}`}`;
    await http.sendToDevice(ROOM_EVENT_TYPE, txnId, messages);
  }
}

/** The server answered and refused: the request will never succeed as it is. */
export function isRefusal(error: unknown): boolean {
  return (
    error instanceof ClientError &&
    error.code === 'HTTP' &&
    error.status !== undefined &&
    error.status < 500 &&
    error.status !== 429
  );
}
