import type { EpochGraph } from './graph.js';
import type { DeviceKeys } from './membership.js';

/** A room event as the transport delivers it. */
export interface RoomEvent {
  readonly eventId: string;
  /** The Matrix user who sent it: must be the user of the MLS sender. */
  readonly sender: string;
  readonly content: unknown;
}

/** An event that cannot be decided yet, and what it waits for. */
export interface WaitingEvent {
  readonly event: RoomEvent;
  /** The epoch (commit event) it needs, if that is what is missing. */
  readonly awaiting?: string;
  /** Devices whose published keys must be known first. */
  readonly devices?: readonly string[];
  readonly since: number;
}

/**
 * Events this device cannot process yet. Two kinds, both retried, never dropped for the order
 * they came in:
 * - queued: waiting for an epoch (a commit still to come or to backfill) or for device keys;
 * - parked: refused `NOT_A_MEMBER` for an epoch this device does not hold, kept in case a
 *   Welcome for that epoch comes after all (a device added on two concurrent branches).
 * Both are bounded (the oldest go first) and expire with the retention windows.
 */
export class Waiting {
  queue: WaitingEvent[] = [];
  parked: WaitingEvent[] = [];

  constructor(private readonly max: number) {}

  add(entry: WaitingEvent): void {
    const at = this.queue.findIndex((q) => q.event.eventId === entry.event.eventId);
    if (at >= 0) this.queue.splice(at, 1); // delivered again: wait once, for the newest reason
    this.queue.push(entry);
    if (this.queue.length > this.max) this.queue.shift();
  }

  park(event: RoomEvent, since: number): void {
    if (this.parked.some((p) => p.event.eventId === event.eventId)) return;
    this.parked.push({ event, since });
    if (this.parked.length > this.max) this.parked.shift();
  }

  /** Takes the queued events that can now proceed. */
  takeReady(graph: EpochGraph, keys: DeviceKeys): WaitingEvent[] {
    const ready = (q: WaitingEvent) =>
      (q.awaiting === undefined || graph.get(q.awaiting) !== undefined) &&
      (q.devices ?? []).every((d) => keys(d) !== undefined);
    const out = this.queue.filter(ready);
    this.queue = this.queue.filter((q) => !ready(q));
    return out;
  }

  takeParked(): WaitingEvent[] {
    const out = this.parked;
    this.parked = [];
    return out;
  }

  /** Commit events to fetch: awaited, and neither known nor waiting here themselves. */
  missing(graph: EpochGraph): string[] {
    const here = new Set(this.queue.map((q) => q.event.eventId));
    const wanted = new Set<string>();
    for (const q of this.queue) {
      if (q.awaiting !== undefined && !here.has(q.awaiting) && !graph.get(q.awaiting)) {
        wanted.add(q.awaiting);
      }
    }
    return [...wanted];
  }

  missingDevices(keys: DeviceKeys): string[] {
    const out = new Set<string>();
    for (const q of this.queue)
      for (const d of q.devices ?? []) if (keys(d) === undefined) out.add(d);
    return [...out];
  }

  expire(horizon: number): void {
    this.queue = this.queue.filter((q) => q.since >= horizon);
    this.parked = this.parked.filter((q) => q.since >= horizon);
  }
}
