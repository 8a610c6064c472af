/**
 * Making and sending a room's commits. A commit carries the resolution that is due (tips to
 * merge, devices to remove and to add), a key update, or a metadata change. It is written to the
 * store (with the Welcome it carries) before it is sent; the Welcome goes out only after the
 * server stored the commit and named its event id (outgoing.ts).
 */
import {
  backoffMs,
  ROOM_EVENT_TYPE,
  type DmlsGroup,
  type EpochNode,
  type ResolutionPlan,
  type RoomEventContent,
} from '@trellis/dmls';
import type { KeyPackage } from '@trellis/mls';
import { ClientError } from './errors.js';
import { claimKeyPackages } from './foreignKeyPackages.js';
import { withMetadata, type GroupMetadata } from './metadata.js';
import {
  isRefusal,
  readOutgoing,
  sendWelcome,
  withoutCommitEvent,
  writeOutgoing,
  type OutgoingCommit,
} from './outgoing.js';
import { newTxnId, type RoomContext } from './roomContext.js';

/** What committing needs from its room. */
export interface CommitHost {
  readonly ctx: RoomContext;
  readonly roomId: string;
  /** The group, when this user is joined and this device has one; else a `ClientError`. */
  requireGroup(): DmlsGroup;
  currentGroup(): DmlsGroup | undefined;
  /** The resolution due now (`wait`: this device is not in the current epoch). */
  plan(): ResolutionPlan | 'wait' | undefined;
  /** KeyPackages of the rejoin requests that count now. */
  rejoinKeyPackages(): Map<string, KeyPackage>;
  persistGroup(): void;
  /** Reads this device's own event as the server will deliver it. */
  deliverOwn(eventId: string, content: RoomEventContent): void;
  /** After the group changed: notices, then whatever work follows. */
  afterBatch(): void;
  /** A device whose KeyPackage could not be claimed or checked. */
  unusable(identity: string, error: unknown): void;
  /** This device's metadata change that a resolution merged away, to make again. */
  metadataToRedo(): GroupMetadata | undefined;
  /** This device's metadata change went out in the commit that created `epoch`. */
  metadataSent(epoch: string, metadata: GroupMetadata): void;
}

/** Background work due in a room: when, and the plan it is for (if it is a resolution). */
export interface DueWork {
  readonly delayMs: number;
  readonly expected?: string;
}

/**
 * What this device should commit in the background, if anything: a stored commit not yet sent
 * (at once), a resolution (after `rank` back-off slots), a metadata change to redo.
 */
export function dueWork(host: CommitHost, group: DmlsGroup): DueWork | undefined {
  if (pendingCommit(host)) return { delayMs: 0 };
  const plan = host.plan();
  if (plan && plan !== 'wait') {
    if (group.commitInFlight) return undefined;
    return {
      delayMs: backoffMs(plan.rank, host.ctx.slotMs, plan.crossed),
      expected: planKey(plan),
    };
  }
  if (plan === undefined && host.metadataToRedo()) return { delayMs: host.ctx.slotMs };
  return undefined;
}

/** Does the work `dueWork` announced, unless a different plan is due by now. */
export async function doDueWork(host: CommitHost, expected: string | undefined): Promise<void> {
  const outgoing = pendingCommit(host);
  if (outgoing) {
    await deliverCommit(host, outgoing);
    return;
  }
  await host.ctx.refreshDevices();
  const plan = host.plan();
  if (plan && plan !== 'wait') {
    // Something changed while waiting: the next `schedule` waits again for the new plan.
    if (expected !== undefined && planKey(plan) !== expected) return;
    await commitNow(host, false);
  } else if (plan === undefined) {
    const redo = host.metadataToRedo();
    if (redo) await commitMetadata(host, redo);
  }
}

/** A commit setting the room's metadata; its intent is kept until it holds. */
export async function commitMetadata(host: CommitHost, metadata: GroupMetadata): Promise<void> {
  const created = await commitNow(host, true, metadata);
  if (created) host.metadataSent(created.key, metadata);
}

/**
 * Claims KeyPackages for the devices to add, makes the commit on what the group is after
 * the claim, stores it, sends it, and sends its Welcome. `force`: commit even when there is
 * no resolution to make (a key update). Returns the epoch the commit created.
 */
export async function commitNow(
  host: CommitHost,
  force: boolean,
  metadata?: GroupMetadata,
): Promise<EpochNode | undefined> {
  const group = host.requireGroup();
  const { maxAddsPerCommit } = host.ctx;
  if (group.commitInFlight) {
    throw new ClientError('NOT_READY', 'a commit of this device is still on its way');
  }
  const first = host.plan();
  if (first === 'wait') throw new ClientError('NOT_READY', 'another device must resolve first');
  // A commit grows by about 400 bytes per device it adds, and Matrix events are limited to
  // 64 KiB: larger additions go in several commits, one after the other. A device that asked
  // to rejoin is added with the KeyPackage of its request; the others' are claimed.
  const toAdd = first?.add.slice(0, maxAddsPerCommit) ?? [];
  const toClaim = toAdd.filter((id) => !host.rejoinKeyPackages().has(id));
  const keyPackages: Map<string, KeyPackage> =
    toClaim.length > 0 ? await claim(host, toClaim) : new Map();
  // The group may have moved on while the claim was in flight: plan on what it is now.
  const plan = host.plan();
  if (plan === 'wait') throw new ClientError('NOT_READY', 'another device must resolve first');
  for (const [id, kp] of host.rejoinKeyPackages()) keyPackages.set(id, kp);
  const add = (plan?.add ?? []).filter((id) => keyPackages.has(id)).slice(0, maxAddsPerCommit);
  const useful =
    plan !== undefined &&
    (plan.resolves.length > 0 || plan.remove.length > 0 || add.length > 0 || plan.selfUpdate);
  if (!force && metadata === undefined && !useful) return undefined;
  const base = group.epoch(plan?.baseKey ?? group.current().key);
  if (!base || base.held.kind !== 'full') {
    throw new ClientError('NOT_READY', 'this device cannot commit on the current epoch');
  }
  const made = group.commit(
    {
      baseKey: base.key,
      resolveKeys: plan?.resolveKeys ?? [],
      remove: plan?.remove ?? [],
      add,
    },
    keyPackages,
    metadata ? { groupContextExtensions: withMetadata(base.held.state, metadata) } : {},
  );
  const welcome = made.added.length > 0 ? made.welcomeFor('') : undefined;
  const outgoing: OutgoingCommit = {
    txnId: newTxnId(),
    content: made.content,
    added: made.added,
    ...(welcome && { welcome: withoutCommitEvent(welcome) }),
  };
  host.ctx.store.transaction(() => {
    host.persistGroup();
    writeOutgoing(host.ctx.store, host.roomId, outgoing);
  });
  const eventId = await deliverCommit(host, outgoing);
  return host
    .currentGroup()
    ?.epochs()
    .find((n) => n.mine && n.commitEvent === eventId);
}

/** The room's commit stored and not yet (fully) sent, if any. */
export function pendingCommit(host: CommitHost): OutgoingCommit | undefined {
  return readOutgoing(host.ctx.store, host.roomId);
}

/**
 * Sends a stored commit (again: the transaction id makes a repeat harmless), adopts it, and
 * sends its Welcome. A refusal by the server discards the commit; a failure that leaves it
 * unknown whether the server stored it keeps it for the next attempt.
 */
export async function deliverCommit(host: CommitHost, outgoing: OutgoingCommit): Promise<string> {
  const group = host.requireGroup();
  const { store, http } = host.ctx;
  const setOutgoing = (next: OutgoingCommit | undefined) => writeOutgoing(store, host.roomId, next);
  let eventId = outgoing.eventId;
  if (eventId === undefined) {
    try {
      eventId = await http.sendEvent(
        host.roomId,
        ROOM_EVENT_TYPE,
        outgoing.txnId,
        outgoing.content,
      );
    } catch (error) {
      if (isRefusal(error)) {
        group.discardCommit(outgoing.content);
        store.transaction(() => {
          host.persistGroup();
          setOutgoing(undefined);
        });
      }
      throw error;
    }
    // Adopted now (it is stored); a crash before the next line only repeats the send,
    // which the transaction id turns into the same event.
    host.deliverOwn(eventId, outgoing.content);
    setOutgoing(outgoing.welcome ? { ...outgoing, eventId } : undefined);
  }
  if (outgoing.welcome) {
    try {
      await sendWelcome(http, { ...outgoing, welcome: outgoing.welcome }, eventId);
    } catch (error) {
      // Refused (a Welcome carries the ratchet tree, and grows with the group past what the
      // server takes): trying again will not help; the error says which devices it leaves out.
      if (isRefusal(error)) setOutgoing(undefined);
      throw error;
    }
    setOutgoing(undefined);
  }
  host.afterBatch();
  return eventId;
}

/**
 * Claims one KeyPackage per device and checks each (foreignKeyPackages.ts). Devices without
 * a usable one are reported to the host, which leaves them out of resolutions for a while.
 */
async function claim(
  host: CommitHost,
  identities: readonly string[],
): Promise<Map<string, KeyPackage>> {
  const group = host.requireGroup();
  const suite = host.ctx.device.suite;
  if (suite.id !== group.suite) {
    throw new ClientError('NOT_ENCRYPTED', 'the room uses another cipher suite');
  }
  return claimKeyPackages(
    {
      http: host.ctx.http,
      suite,
      pinnedKey: (identity) => host.ctx.directory.pinnedKey(identity),
      unusable: (identity, error) => host.unusable(identity, error),
    },
    identities,
  );
}

/** A plan as a string: a timer set for one plan does nothing when another is due by then. */
function planKey(plan: ResolutionPlan): string {
  return JSON.stringify([plan.baseKey, plan.resolveKeys, plan.remove, plan.add, plan.selfUpdate]);
}
