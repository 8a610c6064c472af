/**
 * Rejoin requests. A device that cannot follow a room's group any more asks the others to add
 * it again (ownRejoin.ts says when) with a room event
 *
 *   type    m.dmls.v1.rejoin
 *   content {"algorithm": "m.dmls.v1.<suite>", "sender": [userId, deviceId],
 *            "key_package": <unpadded base64 MLSMessage(mls_key_package)>}
 *
 * carrying a KeyPackage of its own.
 *
 * Every device collects the requests in its rooms' timelines: the newest per device, from the
 * device's own user only. A request counts (dMLS `RoomView.rejoins`: the resolver adds the
 * device with that KeyPackage, replacing any leaf it still has) once its KeyPackage checks out
 * like a claimed one (foreignKeyPackages.ts): valid, naming that device, signed with the key its
 * user published for it. It is dropped when the device's user leaves the room, when a commit
 * learned after it removes the device, and once an epoch holds its leaf (the device is back).
 */
import { createHash } from 'node:crypto';
import { deviceOf, isUntrusted, type EpochNode } from '@trellis/dmls';
import {
  bytesEqual,
  roomAlgorithm,
  type CipherSuite,
  type CipherSuiteId,
  type KeyPackage,
} from '@trellis/mls';
import type { DeviceKeyLookup } from './deviceKeyLookup.js';
import type { ClientEvents, Emitter } from './events.js';
import { checkKeyPackage, decodeKeyPackage } from './foreignKeyPackages.js';
import type { ClientEvent } from './clientEvent.js';

export const REJOIN_EVENT_TYPE = 'm.dmls.v1.rejoin';

export interface RejoinContent {
  readonly algorithm: string;
  readonly sender: [string, string];
  readonly key_package: string;
}

/** The requests a room collected, kept in its stored record. */
export interface RejoinRecord {
  /** The newest request per device (`userId|deviceId`): its event and KeyPackage as sent. */
  requests: Record<string, { eventId: string; keyPackage: string }>;
  /**
   * Requests answered or refused, by event id and by KeyPackage digest: seen again (a sync
   * answer processed twice, or a replay under another event id), they are skipped.
   */
  done: string[];
}

export interface RejoinContext {
  readonly roomId: string;
  /** `userId|deviceId` of this device. */
  readonly identity: string;
  /** This device's cipher suite: requests of other suites are not used. */
  readonly suite: CipherSuite;
  readonly keyLookup: DeviceKeyLookup;
  readonly events: Emitter<ClientEvents>;
  reportError(error: unknown, context: string): void;
}

const MAX_DONE = 500;

/** The requests of other devices in one room. */
export class RejoinRequests {
  /** KeyPackages of requests that checked out, by event id. */
  private readonly verified = new Map<string, KeyPackage>();

  constructor(
    private readonly ctx: RejoinContext,
    private readonly record: RejoinRecord,
    private readonly save: () => void,
  ) {}

  /** A request from the room's timeline (`suite`: the room's). */
  collect(event: ClientEvent, suite: CipherSuiteId | undefined): void {
    if (suite === undefined || this.record.done.includes(event.event_id)) return;
    const { algorithm, sender, key_package: keyPackage } = event.content;
    try {
      if (
        algorithm !== roomAlgorithm(suite) ||
        !Array.isArray(sender) ||
        sender.length !== 2 ||
        typeof sender[0] !== 'string' ||
        typeof sender[1] !== 'string' ||
        typeof keyPackage !== 'string'
      ) {
        throw new Error('not {algorithm, sender: [userId, deviceId], key_package} of the room');
      }
      if (sender[0] !== event.sender) {
        throw new Error(`sent by ${event.sender} in the name of ${sender[0]}`);
      }
      const identity = `${sender[0]}|${sender[1]}`;
      deviceOf(identity); // a well-formed device name
      if (identity === this.ctx.identity) return;
      if (this.record.requests[identity]?.eventId === event.event_id) return;
      // A request answered before, posted again (a replay): its KeyPackage was used already.
      if (this.record.done.includes(digest(keyPackage))) return;
      decodeKeyPackage(keyPackage);
      this.record.requests[identity] = { eventId: event.event_id, keyPackage };
      this.save();
      this.ctx.events.emit('rejoin', { roomId: this.ctx.roomId, device: identity, mine: false });
    } catch (error) {
      this.done(event.event_id);
      this.ctx.reportError(error, `rejoin request ${event.event_id} in ${this.ctx.roomId}`);
    }
  }

  /**
   * The requests that count now, for the resolver: of joined users, with a KeyPackage that
   * checks out. Devices whose keys are not known yet are left out until they are (the lookup
   * has them fetched).
   */
  view(suite: CipherSuiteId | undefined, joined: (userId: string) => boolean) {
    const out = new Map<string, KeyPackage>();
    if (suite !== this.ctx.suite.id) return out;
    const now = BigInt(Math.floor(Date.now() / 1000));
    for (const [identity, request] of Object.entries(this.record.requests)) {
      if (!joined(deviceOf(identity).userId)) {
        this.drop(identity, false);
        continue;
      }
      let kp = this.verified.get(request.eventId);
      if (!kp) {
        const published = this.ctx.keyLookup.lookup(identity);
        if (published === undefined || isUntrusted(published)) continue;
        try {
          kp = decodeKeyPackage(request.keyPackage);
          checkKeyPackage(this.ctx.suite, kp, identity, published, now);
        } catch (error) {
          this.drop(identity, true);
          this.ctx.reportError(error, `rejoin request of ${identity} in ${this.ctx.roomId}`);
          continue;
        }
        this.verified.set(request.eventId, kp);
      }
      out.set(identity, kp);
    }
    return out;
  }

  /** An epoch this device holds: requests whose KeyPackage's leaf it has are answered. */
  settle(node: EpochNode | undefined): void {
    if (node?.held.kind !== 'full') return;
    const tree = node.held.state.tree;
    for (const [identity, request] of Object.entries(this.record.requests)) {
      const leafIndex = node.members.get(identity);
      if (leafIndex === undefined) continue;
      const leaf = tree.leaf(leafIndex);
      let kp: KeyPackage;
      try {
        kp = this.verified.get(request.eventId) ?? decodeKeyPackage(request.keyPackage);
      } catch {
        continue;
      }
      if (leaf && bytesEqual(leaf.encryptionKey, kp.leafNode.encryptionKey)) {
        this.drop(identity, true);
      }
    }
  }

  /**
   * A commit learned now (processed, or the epoch of a Welcome) that removes a device without
   * adding it back overrules that device's request collected before it: someone saw the device
   * go (its user left, or it was removed), and an older request must not bring it back. Only
   * that event is set aside: the device may post its KeyPackage again if it is still meant to
   * be here.
   */
  overrule(node: EpochNode | undefined): void {
    for (const identity of node?.removed ?? []) {
      const request = this.record.requests[identity];
      if (!request || node!.added.includes(identity)) continue;
      delete this.record.requests[identity];
      this.verified.delete(request.eventId);
      this.done(request.eventId);
    }
  }

  /** A user left the room: their devices' requests go. */
  forgetUser(userId: string): void {
    for (const identity of Object.keys(this.record.requests)) {
      if (deviceOf(identity).userId === userId) this.drop(identity, false);
    }
  }

  private drop(identity: string, done: boolean): void {
    const request = this.record.requests[identity];
    if (!request) return;
    delete this.record.requests[identity];
    this.verified.delete(request.eventId);
    if (done) this.done(request.eventId, digest(request.keyPackage));
    else this.save();
  }

  private done(...entries: string[]): void {
    const kept = this.record.done.filter((e) => !entries.includes(e));
    this.record.done = [...kept, ...entries].slice(-MAX_DONE);
    this.save();
  }
}

/** How a KeyPackage of an answered request is remembered. */
function digest(keyPackage: string): string {
  return `kp:${createHash('sha256').update(keyPackage).digest('base64')}`;
}
