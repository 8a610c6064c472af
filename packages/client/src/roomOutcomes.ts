/**
 * Telling listeners what the group made of a room's events: messages, commits, resolutions,
 * removals, and failures. A failure names the event's sender, and a message its time, both
 * remembered when the event came in (an event may wait in the dMLS queue for long); a failure
 * is told once per event and reason.
 */
import { deviceOf, type EpochNode, type Received } from '@trellis/dmls';
import type { ClientEvents, Emitter, MessageSource } from './events.js';
import type { ClientEvent } from './clientEvent.js';
import type { MetadataUpdate } from './roomMetadata.js';
import { isCommit } from './timeline.js';

/** Events remembered for reports about events that waited in the queue. */
const MAX_SENDERS = 10_000;

/** What is remembered of an event until its outcome is told. */
interface Arrival {
  readonly sender: string;
  readonly commit: boolean;
  readonly ts: number | undefined;
}

export class OutcomeReporter {
  /** Sender, kind and time of events, for reports on events that waited. */
  private readonly senders = new Map<string, Arrival>();
  /** Failures reported (`eventId code`), so that an event tried again is not reported twice. */
  private readonly told = new Set<string>();

  constructor(
    private readonly roomId: string,
    private readonly events: Emitter<ClientEvents>,
  ) {}

  rememberSender(event: ClientEvent): void {
    this.senders.set(event.event_id, {
      sender: event.sender,
      commit: isCommit(event.content),
      ts: event.origin_server_ts,
    });
    if (this.senders.size > MAX_SENDERS) this.senders.delete(this.senders.keys().next().value!);
  }

  /**
   * Tells the outcomes. The first is of the event delivered (from `source`); the others are of
   * events that waited (`waited`). `onCommit` runs for each commit before it is told.
   */
  report(
    results: readonly Received[],
    source: MessageSource,
    waited: MessageSource,
    onCommit: (eventId: string) => void,
  ): void {
    const { events, roomId } = this;
    results.forEach((r, i) => {
      const from = i === 0 ? source : waited;
      switch (r.kind) {
        case 'message': {
          const sender = deviceOf(r.sender);
          const ts = this.senders.get(r.eventId)?.ts;
          events.emit('message', {
            roomId,
            eventId: r.eventId,
            sender: sender.userId,
            senderDevice: sender.deviceId,
            type: r.plaintext.type,
            content: r.plaintext.content,
            epoch: r.epoch,
            source: from,
            ...(ts !== undefined && { ts }),
          });
          break;
        }
        case 'commit': {
          onCommit(r.eventId);
          events.emit('commit', {
            roomId,
            eventId: r.eventId,
            epoch: r.epoch,
            base: r.base,
            resolves: r.resolves,
            added: r.added,
            removed: r.removed,
            mine: r.mine,
          });
          if (r.resolves.length > 0) {
            events.emit('resolved', {
              roomId,
              eventId: r.eventId,
              epoch: r.epoch,
              resolves: r.resolves,
              mine: r.mine,
            });
          }
          break;
        }
        case 'removed':
          events.emit('removed', { roomId, eventId: r.eventId, epoch: r.epoch });
          break;
        case 'failed': {
          const known = this.senders.get(r.eventId);
          // A commit on a branch this device is not in was not refused: nothing to tell. An
          // event tried again (parked ones are, after each Welcome) is told once per reason.
          if (known?.commit && r.code === 'NOT_A_MEMBER') break;
          const told = `${r.eventId} ${r.code}`;
          if (this.told.has(told)) break;
          this.told.add(told);
          if (this.told.size > MAX_SENDERS) this.told.delete(this.told.values().next().value!);
          events.emit(known?.commit ? 'commitRefused' : 'decryptionFailure', {
            roomId,
            eventId: r.eventId,
            sender: known?.sender ?? '',
            code: r.code,
            reason: r.reason,
          });
          break;
        }
        case 'queued':
        case 'duplicate':
          break;
      }
    });
  }
}

/** The tips of a group, as one string to compare. */
export function tipsKey(tips: readonly EpochNode[]): string {
  return tips
    .map((t) => t.key)
    .sort()
    .join(',');
}

/** Tells a fork once per set of tips (`told`: the last set); returns the set now. */
export function tellFork(
  events: Emitter<ClientEvents>,
  roomId: string,
  tips: readonly EpochNode[],
  told: string,
): string {
  const key = tipsKey(tips);
  if (tips.length > 1 && key !== told) events.emit('fork', { roomId, tips: tips.map((t) => t.id) });
  return key;
}

/** Tells new metadata (and whose commit set it), and changes of this device that lost. */
export function tellMetadata(
  events: Emitter<ClientEvents>,
  roomId: string,
  update: MetadataUpdate,
): void {
  if (update.metadata) {
    const by = update.by !== undefined ? { by: update.by } : {};
    events.emit('metadata', { roomId, ...update.metadata, ...by });
  }
  for (const r of update.replaced ?? []) events.emit('metadataReplaced', { roomId, ...r });
}
