/**
 * Application messages out: encrypted in the epoch this device sends in, after any removal
 * that is due (a device that left must not read what follows), and read back at once so the
 * event counts as seen.
 */
import { DmlsError, ROOM_EVENT_TYPE, type RoomEventContent } from '@trellis/dmls';
import { ClientError } from './errors.js';
import { commitNow, type CommitHost } from './roomCommits.js';
import { newTxnId } from './roomContext.js';

/** Encrypts and sends an application message; resolves with its event id. */
export async function sendMessage(
  host: CommitHost,
  type: string,
  content: Record<string, unknown>,
): Promise<string> {
  await prepareToSend(host);
  const group = host.requireGroup();
  let encrypted: RoomEventContent;
  try {
    encrypted = group.encrypt(type, content);
  } catch (error) {
    if (error instanceof DmlsError) {
      throw new ClientError('NOT_READY', error.message, { cause: error });
    }
    throw error;
  }
  host.persistGroup();
  const eventId = await host.ctx.http.sendEvent(
    host.roomId,
    ROOM_EVENT_TYPE,
    newTxnId(),
    encrypted,
  );
  // Read the echo now rather than when sync brings it: the event is then known as seen.
  host.deliverOwn(eventId, encrypted);
  host.afterBatch();
  return eventId;
}

/**
 * Before a message goes out: a device that left the room must not be able to read it, so
 * pending removals are committed first whatever this device's rank; when this device is
 * first in line for other work, it does it first too.
 */
async function prepareToSend(host: CommitHost): Promise<void> {
  await host.ctx.refreshDevices();
  const group = host.requireGroup();
  const plan = host.plan();
  if (plan === 'wait') {
    throw new ClientError('NOT_READY', 'this device is not a member of the room’s current epoch');
  }
  if (!plan || group.commitInFlight) return;
  if (plan.remove.length > 0 || plan.rank === 0) await commitNow(host, false);
}
