/**
 * The simulated network: homeservers that store the room's events (accepting them only from
 * users currently joined, by the one order in which membership changes), federation between
 * them that a partition can cut, a directory of published device keys and one-time
 * KeyPackages, and per-device delivery that delays, reorders and duplicates.
 */
import { cipherSuite, type CipherSuite, type KeyPackage } from '@trellis/mls';
import type { CryptoProvider } from '@trellis/mls';
import type { WelcomeContent } from '../../../src/index.js';
import type { Device } from './device.js';
import type { Oracle } from './oracle.js';
import { Random } from './random.js';

export const ROOM = '!sim:trellis.test';
export const CREATE_EVENT = '$create';
export const SUITE = 1;
export const HOMESERVERS = ['hs0', 'hs1', 'hs2'] as const;

/** Simulated time: one story step, and the windows the devices run with. */
export const PARAMS = {
  stepMs: 2_000,
  /** Superseded epochs keep their whole state this long (a few simulated minutes). */
  forkWindowMs: 2 * 60_000,
  /** ... then only their message keys this long, then nothing. */
  messageWindowMs: 5 * 60_000,
  /** Devices call `prune` this often. */
  pruneEveryMs: 10_000,
  /** Back-off slot: a device of rank r waits r slots before resolving. */
  slotMs: 2_000,
  /** A rejoin request not answered by then is sent again, with a fresh KeyPackage. */
  rejoinRetryMs: 60_000,
  /** KeyPackages each logged-in device keeps in the directory. */
  keyPackageStock: 2,
  /** A device back from a long absence gets this many recent timeline events, then pages back. */
  gapLimit: 20,
  pageSize: 25,
} as const;

export type EventType = 'm.room.member' | 'trellis.device' | 'm.room.encrypted' | 'trellis.rejoin';

/** A room event as the homeservers hold it. */
export interface SimEvent {
  readonly index: number;
  readonly eventId: string;
  /** The Matrix user who sent it. */
  readonly sender: string;
  readonly type: EventType;
  readonly content: object;
  readonly postedAt: number;
  /** The homeserver it was sent to. */
  readonly origin: string;
  /** Room state (membership, device lists): a sync always carries it, even after a gap. */
  readonly isState: boolean;
  /** When each homeserver got it; absent while a partition holds it back. */
  readonly availableAt: Map<string, number>;
}

export interface Partition {
  /** The homeserver cut off from the others. */
  readonly isolated: string;
  readonly from: number;
  readonly until: number;
}

export class World {
  now = 1_700_000_000_000;
  readonly suite: CipherSuite;
  readonly events: SimEvent[] = [];
  readonly byId = new Map<string, SimEvent>();
  /** Latest state event per state key (`member <user>`, `device <identity>`). */
  readonly state = new Map<string, SimEvent>();
  readonly devices: Device[] = [];
  readonly homeserverOf = new Map<string, string>();
  /** Server truth: joined users, in the one order the room's membership changes. */
  readonly joined = new Set<string>();
  /** Published device keys per user (device lists): the directory's truth. */
  readonly published = new Map<string, Map<string, Uint8Array>>();
  /** One-time KeyPackages per device: each is handed out once. */
  private readonly keyPackages = new Map<string, KeyPackage[]>();
  partition: Partition | undefined;
  readonly partitions: Partition[] = [];
  private deferred: SimEvent[] = [];
  private deferredToDevice: { target: Device; content: WelcomeContent; origin: string }[] = [];
  /** Counters for the report. */
  readonly counts = {
    duplicates: 0,
    refusedByServer: 0,
    keyPackagesClaimed: 0,
    keyPackagesMissing: 0,
  };
  /** Called for every event the servers accept. */
  onPost: (event: SimEvent) => void = () => {};

  constructor(
    readonly rng: Random,
    readonly provider: CryptoProvider,
    readonly oracle: Oracle,
  ) {
    this.suite = cipherSuite(SUITE, provider);
  }

  // -------------------------------------------------------------------------------------------
  // Truth

  /** Devices of the room per the servers: published devices of joined users. */
  roomDevices(): Set<string> {
    const out = new Set<string>();
    for (const user of this.joined)
      for (const id of this.published.get(user)?.keys() ?? []) out.add(id);
    return out;
  }

  isPublished(identity: string): boolean {
    return this.published.get(userOf(identity))?.has(identity) ?? false;
  }

  inRoom(identity: string): boolean {
    return this.joined.has(userOf(identity)) && this.isPublished(identity);
  }

  reachable(a: string, b: string): boolean {
    const p = this.partition;
    return !p || a === b || (a === p.isolated) === (b === p.isolated);
  }

  indexOf(eventId: string): number | undefined {
    return this.byId.get(eventId)?.index;
  }

  // -------------------------------------------------------------------------------------------
  // Membership (server side, one order)

  join(user: string): void {
    if (this.joined.has(user)) return;
    this.joined.add(user);
    this.stateEvent(user, 'm.room.member', `member ${user}`, { user, membership: 'join' });
  }

  leave(user: string): void {
    if (!this.joined.has(user)) return;
    this.joined.delete(user);
    this.stateEvent(user, 'm.room.member', `member ${user}`, { user, membership: 'leave' });
  }

  publishDevice(identity: string, key: Uint8Array): void {
    const user = userOf(identity);
    if (!this.published.has(user)) this.published.set(user, new Map());
    this.published.get(user)!.set(identity, key);
    this.stateEvent(user, 'trellis.device', `device ${identity}`, {
      user,
      device: identity,
      change: 'added',
    });
  }

  /** The device logs out: its key leaves the published list and its KeyPackages are dropped. */
  unpublishDevice(identity: string): void {
    this.published.get(userOf(identity))?.delete(identity);
    this.keyPackages.delete(identity);
    this.stateEvent(userOf(identity), 'trellis.device', `device ${identity}`, {
      user: userOf(identity),
      device: identity,
      change: 'removed',
    });
  }

  private stateEvent(user: string, type: EventType, key: string, content: object): void {
    const event = this.store(user, this.homeserverOf.get(user)!, type, content, true);
    this.state.set(key, event);
    this.oracle.membershipChanged(this);
  }

  // -------------------------------------------------------------------------------------------
  // Room events

  /**
   * A device sends a room event through its homeserver. Refused (undefined) unless its user is
   * joined and the device is logged in, per the servers' truth.
   */
  post(from: Device, type: EventType, content: object): SimEvent | undefined {
    if (!this.joined.has(from.user) || !this.isPublished(from.identity)) {
      this.counts.refusedByServer++;
      return undefined;
    }
    return this.store(from.user, from.hs, type, content, false);
  }

  private store(
    sender: string,
    origin: string,
    type: EventType,
    content: object,
    isState: boolean,
  ): SimEvent {
    const index = this.events.length;
    const event: SimEvent = {
      index,
      eventId: `$e${index}`,
      sender,
      type,
      content,
      postedAt: this.now,
      origin,
      isState,
      availableAt: new Map(),
    };
    this.events.push(event);
    this.byId.set(event.eventId, event);
    for (const hs of HOMESERVERS) {
      if (this.reachable(origin, hs)) this.arrive(event, hs);
    }
    if (HOMESERVERS.some((hs) => !event.availableAt.has(hs))) this.deferred.push(event);
    this.onPost(event);
    return event;
  }

  /** The event reaches a homeserver, and from there each of its devices (late, maybe twice). */
  private arrive(event: SimEvent, hs: string): void {
    const at = this.now + (hs === event.origin ? 0 : this.rng.between(50, 1_000));
    event.availableAt.set(hs, at);
    for (const d of this.devices) {
      // Every device receives every room event, removed ones included (the server keeps
      // delivering to them); a device only gets what was sent after it was created.
      if (d.hs !== hs || d.createdAt > event.postedAt) continue;
      d.enqueue(at + this.deliveryDelay(), event);
      if (this.rng.chance(0.05)) {
        this.counts.duplicates++;
        d.enqueue(at + this.deliveryDelay(), event);
      }
    }
  }

  /** Mostly quick, sometimes slow, rarely very slow: the order devices see things in varies. */
  private deliveryDelay(): number {
    const roll = this.rng.next();
    if (roll < 0.7) return this.rng.between(100, 2_500);
    if (roll < 0.95) return this.rng.between(2_500, 15_000);
    return this.rng.between(15_000, 60_000);
  }

  /** Fetch one event by id (backfill): only once it reached the device's homeserver. */
  fetch(device: Device, eventId: string): SimEvent | undefined {
    const event = this.byId.get(eventId);
    const at = event?.availableAt.get(device.hs);
    return at !== undefined && at <= this.now ? event : undefined;
  }

  /** A page of history, `from..to` by index, as the device's homeserver has it. */
  page(device: Device, from: number, to: number): SimEvent[] {
    const out: SimEvent[] = [];
    for (let i = Math.max(0, from); i <= to && i < this.events.length; i++) {
      const at = this.events[i]!.availableAt.get(device.hs);
      if (at !== undefined && at <= this.now) out.push(this.events[i]!);
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Partitions

  startPartition(isolated: string, durationMs: number): void {
    this.partition = { isolated, from: this.now, until: this.now + durationMs };
    this.partitions.push(this.partition);
  }

  /** Federation resumes: what the partition held back flows (late) to the other side. */
  heal(): void {
    if (!this.partition) return;
    const p = this.partition;
    this.partitions[this.partitions.length - 1] = { ...p, until: this.now };
    this.partition = undefined;
    const held = this.deferred;
    this.deferred = [];
    for (const event of held) {
      for (const hs of HOMESERVERS) if (!event.availableAt.has(hs)) this.arrive(event, hs);
    }
    const toDevice = this.deferredToDevice;
    this.deferredToDevice = [];
    for (const w of toDevice) this.sendToDevice(w.origin, w.target, w.content);
  }

  get pendingFederation(): number {
    return this.deferred.length + this.deferredToDevice.length;
  }

  // -------------------------------------------------------------------------------------------
  // Directory and to-device

  /** A user's published device keys, fetched from its homeserver (unreachable: undefined). */
  publishedKeys(requester: Device, user: string): Map<string, Uint8Array> | undefined {
    const hs = this.homeserverOf.get(user);
    if (!hs || !this.reachable(requester.hs, hs)) return undefined;
    return new Map(this.published.get(user) ?? []);
  }

  uploadKeyPackage(identity: string, keyPackage: KeyPackage): void {
    if (!this.keyPackages.has(identity)) this.keyPackages.set(identity, []);
    this.keyPackages.get(identity)!.push(keyPackage);
  }

  stock(identity: string): number {
    return this.keyPackages.get(identity)?.length ?? 0;
  }

  /** Claims one KeyPackage of a logged-in device: each is handed out once, never twice. */
  claim(requester: Device, identity: string): KeyPackage | undefined {
    const hs = this.homeserverOf.get(userOf(identity));
    if (!hs || !this.reachable(requester.hs, hs) || !this.isPublished(identity)) return undefined;
    const kp = this.keyPackages.get(identity)?.shift();
    if (kp) this.counts.keyPackagesClaimed++;
    else this.counts.keyPackagesMissing++;
    return kp;
  }

  private readonly keyPackageChecks = new Map<string, KeyPackage | string>();

  /**
   * A rejoin request's KeyPackage, decoded and its signature checked, or the refusal code: the
   * same for every device, so it is worked out once per event (the simulation's shortcut).
   */
  checkedKeyPackage(eventId: string, check: () => KeyPackage): KeyPackage | string {
    let out = this.keyPackageChecks.get(eventId);
    if (out === undefined) {
      try {
        out = check();
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        out = typeof code === 'string' ? code : 'MALFORMED_EVENT';
      }
      this.keyPackageChecks.set(eventId, out);
    }
    return out;
  }

  /** A to-device message (a Welcome): delayed, held back by a partition like room events. */
  sendToDevice(origin: string, target: Device, content: WelcomeContent): void {
    if (!this.reachable(origin, target.hs)) {
      this.deferredToDevice.push({ target, content, origin });
      return;
    }
    target.enqueueWelcome(this.now + this.rng.between(200, 5_000), content);
  }
}

export function userOf(identity: string): string {
  return identity.slice(0, identity.lastIndexOf('|'));
}
