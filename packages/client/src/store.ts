/**
 * Where a client keeps what it must not lose: its device (credential and signature key), the
 * private keys of its KeyPackages, every room's group (one record per epoch, so that an epoch
 * whose secrets are deleted under the retention policy loses exactly its secrets), the sync
 * token, the backup key, and the cross-signing keys this device signs with.
 *
 * The interface is synchronous: both implementations are (memory, and better-sqlite3), and a
 * synchronous store lets the client write a state change before it yields to anything else.
 * Every method is atomic; `transaction` groups several into one.
 */

/** The logged-in device. */
export interface AccountRecord {
  readonly homeserver: string;
  readonly userId: string;
  readonly deviceId: string;
  readonly accessToken: string;
  readonly suite: number;
  readonly signaturePublicKey: Uint8Array;
  readonly signaturePrivateKey: Uint8Array;
}

/** A KeyPackage this device uploaded, with its private keys. */
export interface KeyPackageRecord {
  /** Unpadded base64 KeyPackageRef: how Welcomes name it, and its key id on the server. */
  readonly ref: string;
  readonly lastResort: boolean;
  /** End of the KeyPackage's lifetime (ms since the epoch). */
  readonly expiresAt: number;
  /** A last-resort KeyPackage replaced by a newer one: kept a while for Welcomes in flight. */
  readonly retiredAt?: number;
  /** The encoded bundle (keyPackages.ts), private keys included. */
  readonly bundle: Uint8Array;
}

/** One epoch of a group: its place in the graph (JSON) and, apart, whatever secrets it holds. */
export interface StoredEpoch {
  readonly key: string;
  readonly record: string;
  readonly secrets?: Uint8Array;
}

export interface StoredGroup {
  /** The group's own record (queue, commits in flight, events seen), JSON. */
  readonly meta: string;
  readonly epochs: readonly StoredEpoch[];
}

export interface BackupRecord {
  readonly version: string;
  /** The backup key, checked against the version's auth_data. */
  readonly key: Uint8Array;
}

/**
 * The private cross-signing keys a device keeps: the self-signing key (to sign the user's
 * devices) and the user-signing key (to sign other users' master keys), with the master public
 * key they were signed by. The master private key is not kept: it only serves to replace those
 * two keys, which a new set-up does with a new master key anyway, and it stays in secret
 * storage, where the recovery key reaches it. A stolen store then cannot re-root the user.
 */
export interface CrossSigningRecord {
  /** Unpadded base64 master public key. */
  readonly masterKey: string;
  /** 32-byte Ed25519 seeds. */
  readonly selfSigningSeed: Uint8Array;
  readonly userSigningSeed: Uint8Array;
}

export interface Store {
  /** Runs `fn` atomically: all of its writes happen, or none. */
  transaction<T>(fn: () => T): T;

  account(): AccountRecord | undefined;
  setAccount(account: AccountRecord | undefined): void;

  /** Small named values (sync token, outbox, device trust), JSON or text. */
  value(name: string): string | undefined;
  setValue(name: string, value: string | undefined): void;

  putKeyPackages(records: readonly KeyPackageRecord[]): void;
  keyPackage(ref: string): KeyPackageRecord | undefined;
  keyPackages(): KeyPackageRecord[];
  deleteKeyPackages(refs: readonly string[]): void;

  /** Rooms this device follows, each with its JSON record. */
  rooms(): { roomId: string; data: string }[];
  setRoom(roomId: string, data: string): void;
  /** Forgets a room and its group. */
  deleteRoom(roomId: string): void;

  group(roomId: string): StoredGroup | undefined;
  /** Writes the group's record, inserts or replaces `upsert`, deletes the epochs in `remove`. */
  saveGroup(
    roomId: string,
    meta: string,
    upsert: readonly StoredEpoch[],
    remove: readonly string[],
  ): void;

  backup(): BackupRecord | undefined;
  /** Replaces the backup; clears the record of what was uploaded to the previous one. */
  setBackup(backup: BackupRecord | undefined): void;
  backedUpSessions(version: string, roomId: string): Set<string>;
  addBackedUpSessions(version: string, roomId: string, sessionIds: readonly string[]): void;

  crossSigning(): CrossSigningRecord | undefined;
  setCrossSigning(keys: CrossSigningRecord | undefined): void;

  /**
   * Makes what was deleted unrecoverable from the store's files too (no-op in memory). Called
   * after secrets were deleted: retention, used KeyPackages, forgotten rooms.
   */
  scrub(): void;
  close(): void;
}

/** A store in memory, for tests and short-lived clients. */
export class MemoryStore implements Store {
  private state = emptyState();

  transaction<T>(fn: () => T): T {
    const before = cloneState(this.state);
    try {
      return fn();
    } catch (e) {
      this.state = before;
      throw e;
    }
  }

  account(): AccountRecord | undefined {
    return this.state.account;
  }
  setAccount(account: AccountRecord | undefined): void {
    this.state.account = account;
  }

  value(name: string): string | undefined {
    return this.state.values.get(name);
  }
  setValue(name: string, value: string | undefined): void {
    if (value === undefined) this.state.values.delete(name);
    else this.state.values.set(name, value);
  }

  putKeyPackages(records: readonly KeyPackageRecord[]): void {
    for (const r of records) this.state.keyPackages.set(r.ref, { ...r, bundle: r.bundle.slice() });
  }
  keyPackage(ref: string): KeyPackageRecord | undefined {
    return this.state.keyPackages.get(ref);
  }
  keyPackages(): KeyPackageRecord[] {
    return [...this.state.keyPackages.values()];
  }
  deleteKeyPackages(refs: readonly string[]): void {
    for (const ref of refs) this.state.keyPackages.delete(ref);
  }

  rooms(): { roomId: string; data: string }[] {
    return [...this.state.rooms].map(([roomId, data]) => ({ roomId, data }));
  }
  setRoom(roomId: string, data: string): void {
    this.state.rooms.set(roomId, data);
  }
  deleteRoom(roomId: string): void {
    this.state.rooms.delete(roomId);
    this.state.groups.delete(roomId);
  }

  group(roomId: string): StoredGroup | undefined {
    const g = this.state.groups.get(roomId);
    return g && { meta: g.meta, epochs: [...g.epochs.values()] };
  }
  saveGroup(
    roomId: string,
    meta: string,
    upsert: readonly StoredEpoch[],
    remove: readonly string[],
  ): void {
    const g = this.state.groups.get(roomId) ?? { meta, epochs: new Map<string, StoredEpoch>() };
    g.meta = meta;
    for (const e of upsert) g.epochs.set(e.key, e);
    for (const key of remove) g.epochs.delete(key);
    this.state.groups.set(roomId, g);
  }

  backup(): BackupRecord | undefined {
    return this.state.backup;
  }
  setBackup(backup: BackupRecord | undefined): void {
    this.state.backup = backup;
    this.state.backedUp.clear();
  }
  backedUpSessions(version: string, roomId: string): Set<string> {
    return new Set(this.state.backedUp.get(`${version} ${roomId}`));
  }
  addBackedUpSessions(version: string, roomId: string, sessionIds: readonly string[]): void {
    const key = `${version} ${roomId}`;
    const set = this.state.backedUp.get(key) ?? new Set<string>();
    for (const id of sessionIds) set.add(id);
    this.state.backedUp.set(key, set);
  }

  crossSigning(): CrossSigningRecord | undefined {
    return this.state.crossSigning;
  }
  setCrossSigning(keys: CrossSigningRecord | undefined): void {
    this.state.crossSigning = keys && {
      masterKey: keys.masterKey,
      selfSigningSeed: keys.selfSigningSeed.slice(),
      userSigningSeed: keys.userSigningSeed.slice(),
    };
  }

  scrub(): void {}
  close(): void {}
}

interface MemoryState {
  account: AccountRecord | undefined;
  values: Map<string, string>;
  keyPackages: Map<string, KeyPackageRecord>;
  rooms: Map<string, string>;
  groups: Map<string, { meta: string; epochs: Map<string, StoredEpoch> }>;
  backup: BackupRecord | undefined;
  backedUp: Map<string, Set<string>>;
  crossSigning: CrossSigningRecord | undefined;
}

function emptyState(): MemoryState {
  return {
    account: undefined,
    values: new Map(),
    keyPackages: new Map(),
    rooms: new Map(),
    groups: new Map(),
    backup: undefined,
    backedUp: new Map(),
    crossSigning: undefined,
  };
}

/** Records are never mutated in place, so copying the maps is enough to roll back. */
function cloneState(s: MemoryState): MemoryState {
  return {
    account: s.account,
    values: new Map(s.values),
    keyPackages: new Map(s.keyPackages),
    rooms: new Map(s.rooms),
    groups: new Map(
      [...s.groups].map(([id, g]) => [id, { meta: g.meta, epochs: new Map(g.epochs) }]),
    ),
    backup: s.backup,
    backedUp: new Map([...s.backedUp].map(([k, v]) => [k, new Set(v)])),
    crossSigning: s.crossSigning,
  };
}
