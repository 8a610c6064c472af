/**
 * A room's incoming events: each goes to the group in timeline order, and what came of it is
 * told (roomOutcomes.ts). What the group waits for is then fetched: device keys (the events are
 * tried again) and commit events by id (backfill.ts). Rejoin requests of other devices are
 * collected on the way (rejoin.ts).
 */
import { ROOM_EVENT_TYPE, type DmlsGroup, type EpochNode, type Received } from '@trellis/dmls';
import { backfill } from './backfill.js';
import type { ClientEvent } from './clientEvent.js';
import type { MessageSource } from './events.js';
import { REJOIN_EVENT_TYPE, type RejoinRequests } from './rejoin.js';
import type { RoomContext } from './roomContext.js';
import { OutcomeReporter } from './roomOutcomes.js';
import type { RoomRecord } from './roomRecord.js';
import { isApplicationMessage } from './timeline.js';

/** What the intake needs from its room. */
export interface IntakeHost {
  readonly ctx: RoomContext;
  readonly roomId: string;
  readonly record: RoomRecord;
  readonly rejoins: RejoinRequests;
  currentGroup(): DmlsGroup | undefined;
  persistGroup(): void;
  /** An epoch to back up. */
  seal(node: EpochNode): void;
  /** After the group changed: notices, then whatever work follows. */
  afterBatch(): void;
}

export class RoomIntake {
  private readonly outcomes: OutcomeReporter;
  /** Commit events that cannot be fetched: asking again will not help. */
  private readonly unfetchable = new Set<string>();

  constructor(private readonly host: IntakeHost) {
    this.outcomes = new OutcomeReporter(host.roomId, host.ctx.events);
  }

  /**
   * Processes room events in timeline order (state events were applied by the caller). Ends
   * with a backfill when events wait for epochs this device does not know.
   */
  async receive(events: readonly ClientEvent[], source: MessageSource): Promise<void> {
    const { host } = this;
    const suite = host.record.suite as Parameters<RejoinRequests['collect']>[1];
    for (const event of events) {
      if (event.type === REJOIN_EVENT_TYPE) host.rejoins.collect(event, suite);
      if (event.type !== ROOM_EVENT_TYPE) continue;
      if (!host.currentGroup()) {
        // The commit that adds this device always comes before its Welcome: only messages
        // this device cannot read are worth a report.
        if (host.record.membership === 'join' && isApplicationMessage(event.content)) {
          host.ctx.events.emit('decryptionFailure', {
            roomId: host.roomId,
            eventId: event.event_id,
            sender: event.sender,
            code: 'NO_GROUP',
            reason: 'this device is not in the room’s group yet (waiting for a Welcome)',
          });
        }
        continue;
      }
      this.deliver(event, source);
    }
    host.afterBatch();
    await this.unblock();
  }

  /**
   * What events wait for: device keys to fetch (then the group tries them again), and commit
   * events to fetch by id (backfill).
   */
  private async unblock(): Promise<void> {
    await this.retryWaiting();
    const group = this.host.currentGroup();
    if (group && group.missing().some((id) => !this.unfetchable.has(id))) {
      await this.backfill();
    }
  }

  /** Events waiting for device keys are tried again once the keys are fetched. */
  async retryWaiting(): Promise<void> {
    const { host } = this;
    const group = host.currentGroup();
    if (!group || group.missingDevices().length === 0) return;
    await host.ctx.refreshDevices();
    if (host.currentGroup() !== group) return;
    this.handle(group.retry(host.ctx.clock()), 'live', 'live');
    host.afterBatch();
  }

  /** One event into the group; its outcomes (and those of events it unblocked) reported. */
  deliver(event: ClientEvent, source: MessageSource): void {
    const { host } = this;
    this.outcomes.rememberSender(event);
    const group = host.currentGroup()!;
    try {
      const results = group.receive(
        { eventId: event.event_id, sender: event.sender, content: event.content },
        host.ctx.clock(),
      );
      this.handle(results, source);
    } catch (error) {
      host.ctx.reportError(error, `room ${host.roomId} event ${event.event_id}`);
    }
  }

  /**
   * Persists what the outcomes changed, then tells the listeners. The first outcome is of the
   * event delivered (from `source`); the others are of events that waited (`waited`).
   */
  handle(results: readonly Received[], source: MessageSource, waited: MessageSource = 'backfill') {
    if (results.length === 0) return;
    const { host } = this;
    host.persistGroup();
    this.outcomes.report(results, source, waited, (eventId) => {
      const node = host.currentGroup()?.epoch(eventId);
      if (node) host.seal(node);
      host.rejoins.overrule(node);
      host.rejoins.settle(node);
    });
    // Removals in epochs this device cannot hold (history from before it joined, a branch it
    // was removed from) are signed like any other: they overrule older requests too (sim seed
    // 260: a device that joined later re-added a logged-out device on its request).
    for (const r of results) {
      if (r.kind === 'removed' || r.kind === 'failed') {
        host.rejoins.overrule(host.currentGroup()?.epoch(r.eventId));
      }
    }
  }

  /** Fetches by id the commit events the group asks for (what waits, and the fork’s history). */
  private async backfill(): Promise<void> {
    const { host } = this;
    const group = host.currentGroup();
    if (!group) return;
    const fetched = await backfill(
      {
        http: host.ctx.http,
        roomId: host.roomId,
        maxBackfill: host.ctx.maxBackfill,
        unfetchable: this.unfetchable,
        currentGroup: () => host.currentGroup(),
        deliver: (event) => this.deliver(event, 'backfill'),
      },
      group,
    );
    if (fetched > 0) {
      host.ctx.events.emit('backfill', { roomId: host.roomId, fetched });
      host.afterBatch();
    }
  }
}
