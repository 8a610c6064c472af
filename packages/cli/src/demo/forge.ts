/**
 * Commits made with the MLS library directly, outside the SDK, as a misbehaving member could
 * make them: the demo posts them to show what every device checks and refuses.
 */
import { randomBytes } from 'node:crypto';
import {
  deviceOf,
  encodeCommitData,
  ROOM_EVENT_TYPE,
  toBase64,
  type CommitData,
  type EpochNode,
} from '@trellis/dmls';
import { createCommit, encode, mlsMessageCodec, roomAlgorithm } from '@trellis/mls';
import type { DemoDevice } from './cast.js';
import { StoryFailure } from './waiting.js';

const tuple = (identity: string): [string, string] => {
  const { userId, deviceId } = deviceOf(identity);
  return [userId, deviceId];
};

/** The signed commit data of a commit on `base` that claims to merge `resolves`. */
export function commitData(base: EpochNode, resolves: readonly EpochNode[]): CommitData {
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
  data: CommitData,
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
  const content = {
    algorithm: roomAlgorithm(group.suite),
    ciphertext: toBase64(encode(mlsMessageCodec, created.commit)),
    epoch_creator: tuple(base.id.creator),
    sender: tuple(device.client.identity),
    commit_event: base.key,
    resolves: data.resolves.map((r) => {
      const node = group.epoch(r.event);
      return node ? [Number(node.id.epoch), tuple(node.id.creator)] : [0, tuple(base.id.creator)];
    }),
  };
  const txnId = `demo.forged.${randomBytes(6).toString('hex')}`;
  return device.client.http.sendEvent(roomId, ROOM_EVENT_TYPE, txnId, content);
}

/** A short form of an event id or hex tag for the narration. */
export function short(text: string): string {
  return text.length > 12 ? `${text.slice(0, 10)}…` : text;
}
