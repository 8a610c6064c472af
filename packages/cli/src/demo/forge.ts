/**
 * Commits made with the MLS library directly, outside the SDK, as a misbehaving member could
 * make them: the demo posts them to show what every device checks and refuses.
 */
import { randomBytes } from 'node:crypto';
import {
  encodeCommitData,
  ROOM_EVENT_TYPE,
  roomEventContent,
  type CommitDataInput,
  type EpochNode,
} from '@trellis/dmls';
import { createCommit } from '@trellis/mls';
import type { DemoDevice } from './cast.js';
import { StoryFailure } from './waiting.js';

/** The signed commit data of a commit on `base` that claims to merge `resolves`. */
export function commitData(base: EpochNode, resolves: readonly EpochNode[]): CommitDataInput {
  return {
    baseEvent: base.key,
    resolves: resolves.map((n) => ({ event: n.key, tag: Buffer.from(n.tag, 'hex') })),
  };
}

/**
 * A commit with a fresh path on `base` (an epoch `device` holds in full), carrying `data` as
 * its signed authenticated data, posted as `device`'s room event. Returns its event id.
 */
export async function postForgedCommit(
  device: DemoDevice,
  roomId: string,
  base: EpochNode,
  data: CommitDataInput,
): Promise<string> {
  if (base.held.kind !== 'full') {
    throw new StoryFailure(`${device.label} does not hold epoch ${base.key} to commit on`);
  }
  const group = device.client.room(roomId)!.group!;
  const created = createCommit(base.held.state, {
    forcePath: true,
    pending: 'none',
    authenticatedData: encodeCommitData(data),
  });
  const content = roomEventContent(
    group.suite,
    created.commit,
    base.id,
    device.client.identity,
    base.key,
    // The clear hint; an epoch this device does not know is named after the base's creator.
    data.resolves.map((r) => group.epoch(r.event)?.id ?? { epoch: 0n, creator: base.id.creator }),
  );

  const txnId = `demo.forged.${randomBytes(6).toString('hex')}`;
  return device.client.http.sendEvent(roomId, ROOM_EVENT_TYPE, txnId, content);
}

/** A short form of an event id or hex tag for the narration. */
export function short(text: string): string {
  return text.length > 12 ? `${text.slice(0, 10)}…` : text;
}
