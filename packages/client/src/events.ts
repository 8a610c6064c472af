/**
 * The typed events a client emits. Listeners run synchronously as things happen; a listener
 * that throws is reported as an `error` event and does not disturb the client.
 */
import type { EpochId } from '@trellis/dmls';
import type { DeviceTrustState } from './trustState.js';

/** Where a decrypted message came from. */
export type MessageSource =
  /** Delivered by sync, or by a catch-up right after a Welcome. */
  | 'live'
  /** Fetched because a later event needed an epoch this device did not know yet. */
  | 'backfill'
  /** History read with keys restored from the key backup. */
  | 'backup';

export interface ClientEvents {
  /** An application message, decrypted and verified (its MLS sender is `sender|senderDevice`). */
  message: {
    roomId: string;
    eventId: string;
    sender: string;
    senderDevice: string;
    type: string;
    content: Record<string, unknown>;
    epoch: EpochId;
    source: MessageSource;
    /**
     * When it was sent (ms since 1970): the server's `origin_server_ts`, or the local time for
     * this device's own message, read as it is sent. Absent when the server gave none.
     */
    ts?: number;
  };
  /** An encrypted message this device cannot read, and why (`code` is stable). */
  decryptionFailure: {
    roomId: string;
    eventId: string;
    sender: string;
    code: string;
    reason: string;
  };
  /**
   * A commit this device refused: it stays out of the group's graph, and the room carries on
   * without it. `code` is stable: e.g. `INVALID_RESOLVES` (it merges an epoch it may not),
   * `REMOVAL_UNDONE` (it keeps a device a merged branch removed), `KEY_MISMATCH` (it adds a
   * leaf in a device's name under another key than its user published), `DUPLICATE_IDENTITY`,
   * `INVALID_METADATA` (its signed place in the graph is missing or wrong).
   */
  commitRefused: {
    roomId: string;
    eventId: string;
    sender: string;
    code: string;
    reason: string;
  };
  /**
   * A device asked to be added to the room's group again (rejoin.ts): this device (`mine`),
   * after it lost track of the group, or another one, whose request this device will honour.
   */
  rejoin: { roomId: string; device: string; mine: boolean };
  /**
   * A Matrix membership change in a room (join, invite, leave, ban). `sender` made it: the user
   * themselves (a join, or leaving), or another member (an invite, a kick, a ban), who may give
   * a `reason`.
   */
  membership: {
    roomId: string;
    userId: string;
    membership: string;
    eventId: string;
    sender: string;
    reason?: string;
  };
  /** This user was invited to a room. */
  invite: { roomId: string; inviter: string | undefined };
  /** A commit was applied: a new epoch. */
  commit: {
    roomId: string;
    eventId: string;
    epoch: EpochId;
    base: EpochId;
    resolves: readonly EpochId[];
    added: readonly string[];
    removed: readonly string[];
    mine: boolean;
  };
  /** The group's epochs forked: more than one tip. */
  fork: { roomId: string; tips: EpochId[] };
  /** A resolving commit merged tips. */
  resolved: {
    roomId: string;
    eventId: string;
    epoch: EpochId;
    resolves: readonly EpochId[];
    mine: boolean;
  };
  /** This device joined a room's group from a Welcome. */
  welcome: { roomId: string; sender: string; epoch: EpochId };
  /** A commit removed this device from a branch of the room's group. */
  removed: { roomId: string; eventId: string; epoch: EpochId };
  /**
   * The room's name or topic (kept in the group context) changed; `by` (`userId|deviceId`)
   * made the change, when this device can tell (not for changes from before it joined).
   */
  metadata: { roomId: string; name?: string; topic?: string; by?: string };
  /**
   * A name or topic change of this device lost to another device's change of the same field,
   * made at the same time (on another branch of a fork): `value`, set by `by`, stands.
   */
  metadataReplaced: {
    roomId: string;
    field: 'name' | 'topic';
    mine: string | undefined;
    value: string | undefined;
    by: string | undefined;
  };
  /**
   * A device of a user this client shares rooms with was first seen, or its trust changed
   * (deviceTrust.ts): signed by its user (trusted), unsigned and trusted with a warning
   * (`tofu`), or not trusted and kept out of every group (`UNSIGNED` under `strict`,
   * `MASTER_KEY_CHANGED`).
   */
  deviceTrust: {
    userId: string;
    deviceId: string;
    trust: DeviceTrustState;
    /** This is the first device list of the user this client fetched since it started. */
    firstLook: boolean;
  };
  /**
   * A user's master key is not the one pinned: if this client had verified the old one
   * (`verified`), the user's new devices are not trusted until the change is accepted
   * (`client.trust.acceptMasterKey`); otherwise the new key is pinned in its place.
   */
  masterKeyChanged: { userId: string; masterKey: string; verified: boolean };
  /** Commit events were fetched to fill an unknown epoch's chain. */
  backfill: { roomId: string; fetched: number };
  /** Sealed epochs were uploaded to the key backup. */
  backup: { roomId: string; sessions: number };
  /** One sync response was processed. */
  sync: { nextBatch: string };
  /** A sync failed; the loop retries after `retryInMs`. */
  syncError: { error: unknown; retryInMs: number };
  /** The server no longer accepts this device's token; the sync loop stopped. */
  loggedOut: { reason: string };
  /** Something failed in the background (a resolution, an upload); the client carries on. */
  error: { error: unknown; context: string };
}

type Listener<T> = (event: T) => void;

export class Emitter<M extends object> {
  private readonly listeners = new Map<keyof M, Set<Listener<never>>>();

  constructor(private readonly onListenerError: (error: unknown, name: keyof M) => void) {}

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof M>(name: K, listener: Listener<M[K]>): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => this.off(name, listener);
  }

  off<K extends keyof M>(name: K, listener: Listener<M[K]>): void {
    this.listeners.get(name)?.delete(listener as Listener<never>);
  }

  once<K extends keyof M>(name: K, listener: Listener<M[K]>): () => void {
    const off = this.on(name, (event) => {
      off();
      listener(event);
    });
    return off;
  }

  emit<K extends keyof M>(name: K, event: M[K]): void {
    for (const listener of [...(this.listeners.get(name) ?? [])]) {
      try {
        (listener as Listener<M[K]>)(event);
      } catch (error) {
        this.onListenerError(error, name);
      }
    }
  }
}
