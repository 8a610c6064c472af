/**
 * This device's own rejoin request (rejoin.ts has the event). A device asks the others to add
 * it again when it cannot follow a room's group any more: it was offline past the fork window
 * and saw commits it cannot apply (dMLS `needsRejoin`), or it is not in the group's current tip
 * while its user is in the room (it was removed on a branch, or invited back after a removal:
 * the resolver never re-adds a device removed earlier on the chain without its own request).
 *
 * The request carries a KeyPackage made for it and never uploaded: its private keys are stored
 * like those of the uploaded ones, so the Welcome that answers it opens as usual. It is posted
 * at most once per interval while the device stays stranded, with the same KeyPackage while
 * that one is unused and valid.
 */
import { randomBytes } from 'node:crypto';
import { deviceOf, type DmlsGroup } from '@trellis/dmls';
import { roomAlgorithm, type CipherSuiteId } from '@trellis/mls';
import type { ClientEvents, Emitter } from './events.js';
import type { MatrixHttp } from './http.js';
import { REJOIN_EVENT_TYPE, type RejoinContent } from './rejoin.js';
import type { Store } from './store.js';

export interface OwnRejoinContext {
  readonly roomId: string;
  /** `userId|deviceId` of this device. */
  readonly identity: string;
  /** This device's cipher suite: it asks only in rooms of that suite. */
  readonly suite: CipherSuiteId;
  readonly store: Store;
  readonly http: MatrixHttp;
  readonly events: Emitter<ClientEvents>;
  /** Least time between two requests while the device stays stranded. */
  readonly intervalMs: number;
  /** A KeyPackage of this device, stored and not uploaded. */
  localKeyPackage(): OwnKeyPackage;
  reportError(error: unknown, context: string): void;
}

interface OwnKeyPackage {
  readonly ref: string;
  readonly value: string;
  readonly expiresAt: number;
}

/** This device's last request in a room: its KeyPackage, reused while unused and valid. */
interface SentRequest extends OwnKeyPackage {
  readonly at?: number;
}

/** A KeyPackage about to expire is not sent again: the others would refuse it soon. */
const REUSE_MARGIN_MS = 24 * 3600 * 1000;
const FORMER_GROUPS = 'former_groups';
const MAX_FORMER_GROUPS = 1000;

export class OwnRejoin {
  private strandedSince: number | undefined;
  private sending = false;

  constructor(private readonly ctx: OwnRejoinContext) {}

  /**
   * Posts this device's request once it has been stranded for `delayMs` (undefined: it is
   * not), and again after each interval while it stays stranded.
   */
  check(delayMs: number | undefined, suite: CipherSuiteId | undefined): void {
    if (delayMs === undefined || suite !== this.ctx.suite) {
      if (this.strandedSince !== undefined && delayMs === undefined) this.setSent(undefined);
      this.strandedSince = undefined;
      return;
    }
    const now = Date.now();
    this.strandedSince ??= now;
    if (this.sending || now - this.strandedSince < delayMs) return;
    const last = this.sent();
    if (last?.at !== undefined && now - last.at < this.ctx.intervalMs) return;
    this.sending = true;
    this.post(suite, last)
      .catch((error: unknown) =>
        this.ctx.reportError(error, `asking to rejoin the group of ${this.ctx.roomId}`),
      )
      .finally(() => {
        this.sending = false;
      });
  }

  private async post(suite: CipherSuiteId, last: SentRequest | undefined): Promise<void> {
    const reusable =
      last !== undefined &&
      this.ctx.store.keyPackage(last.ref) !== undefined &&
      last.expiresAt > Date.now() + REUSE_MARGIN_MS;
    const kp: OwnKeyPackage = reusable ? last : this.ctx.localKeyPackage();
    // Remembered before it goes out: a repeat after a crash reuses the same KeyPackage.
    this.setSent({ ref: kp.ref, value: kp.value, expiresAt: kp.expiresAt });
    const { userId, deviceId } = deviceOf(this.ctx.identity);
    const content: RejoinContent = {
      algorithm: roomAlgorithm(suite),
      sender: [userId, deviceId],
      key_package: kp.value,
    };
    const txnId = `trellis.rejoin.${Date.now().toString(36)}.${randomBytes(6).toString('hex')}`;
    await this.ctx.http.sendEvent(this.ctx.roomId, REJOIN_EVENT_TYPE, txnId, content);
    this.setSent({ ref: kp.ref, value: kp.value, expiresAt: kp.expiresAt, at: Date.now() });
    this.ctx.events.emit('rejoin', {
      roomId: this.ctx.roomId,
      device: this.ctx.identity,
      mine: true,
    });
  }

  /** The room is forgotten: so is this device's last request in it. */
  forget(): void {
    this.strandedSince = undefined;
    this.setSent(undefined);
  }

  private sentKey(): string {
    return `rejoin_request ${this.ctx.roomId}`;
  }

  private sent(): SentRequest | undefined {
    const text = this.ctx.store.value(this.sentKey());
    return text === undefined ? undefined : (JSON.parse(text) as SentRequest);
  }

  private setSent(sent: SentRequest | undefined): void {
    this.ctx.store.setValue(this.sentKey(), sent && JSON.stringify(sent));
  }
}

/**
 * How long a device waits before asking to rejoin a room's group it is joined to, or undefined
 * when it need not: at once when it cannot follow the group, or holds no tip it is a member of,
 * or was in the room's group before (invited back after a removal); after `welcomeWaitMs`
 * when it has no group yet (the Welcome of an ordinary addition should come before).
 */
export function rejoinDelay(
  group: DmlsGroup | undefined,
  identity: string,
  formerMember: boolean,
  welcomeWaitMs: number,
): number | undefined {
  if (!group) return formerMember ? 0 : welcomeWaitMs;
  if (group.needsRejoin) return 0;
  const member = group.tips().some((t) => t.held.kind === 'full' && t.members.has(identity));
  return member ? undefined : 0;
}

/** Rooms whose group this device was in and forgot (it left, or was removed). */
export function rememberFormerGroup(store: Store, roomId: string): void {
  const list = formerGroups(store).filter((r) => r !== roomId);
  store.setValue(FORMER_GROUPS, JSON.stringify([...list, roomId].slice(-MAX_FORMER_GROUPS)));
}

export function wasInGroup(store: Store, roomId: string): boolean {
  return formerGroups(store).includes(roomId);
}

function formerGroups(store: Store): string[] {
  const text = store.value(FORMER_GROUPS);
  return text === undefined ? [] : (JSON.parse(text) as string[]);
}
