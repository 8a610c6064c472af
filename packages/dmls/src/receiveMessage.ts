/** Receiving an application message: decrypted in the epoch it names, by its signed sender. */
import { processMessage as processGroupMessage } from '@trellis/mls';
import type { GroupCore } from './core.js';
import { DmlsError } from './errors.js';
import { credentialIdentity, identityAt } from './membership.js';
import { notMember, wait, type Received } from './received.js';
import type { RoomEvent } from './waiting.js';
import { parsePlaintext, type ParsedRoomEvent } from './wire.js';

export function processMessage(
  core: GroupCore,
  event: RoomEvent,
  parsed: ParsedRoomEvent,
  now: number,
): Received {
  const { eventId } = event;
  const mine = core.sentByMe.get((event.content as { ciphertext: string }).ciphertext);
  if (mine && parsed.sender === core.identity) {
    // Its key is used up on sending; the echo is known by its ciphertext.
    return {
      kind: 'message',
      eventId,
      epoch: mine.epoch,
      sender: core.identity,
      plaintext: mine.plaintext,
    };
  }
  const node = core.graph.get(parsed.commitEvent);
  if (!node) return wait(core, event, now, { awaiting: parsed.commitEvent });
  if (parsed.epoch.epoch !== node.id.epoch) {
    throw new DmlsError('INVALID_METADATA', 'the message is not of its epoch number');
  }
  const held = node.held;
  let sender: string;
  let data: Uint8Array;
  if (held.kind === 'full') {
    const r = processGroupMessage(held.state, parsed.message);
    if (r.kind !== 'application') {
      throw new DmlsError('MALFORMED_EVENT', 'Trellis rooms carry no standalone proposals');
    }
    sender = identityAt(held.state, r.sender);
    data = r.data;
    if (sender !== parsed.sender) throw new DmlsError('SENDER_MISMATCH', `signed by ${sender}`);
    core.graph.update({ ...node, held: { kind: 'full', state: r.state } });
  } else if (held.kind === 'messages') {
    const r = held.reader.decrypt(parsed.message);
    sender = credentialIdentity(r.sender);
    data = r.data;
    if (sender !== parsed.sender) throw new DmlsError('SENDER_MISMATCH', `signed by ${sender}`);
    core.graph.update({ ...node, held: { kind: 'messages', reader: r.reader } });
  } else if (node.members.size > 0) {
    throw new DmlsError('EPOCH_EXPIRED', `the keys of epoch ${node.key} were deleted (retention)`);
  } else {
    return notMember(core, event, node, now);
  }
  return {
    kind: 'message',
    eventId,
    epoch: node.id,
    sender,
    plaintext: parsePlaintext(data, core.roomId),
  };
}
