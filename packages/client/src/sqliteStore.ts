/**
 * The store in a SQLite file (Node), through better-sqlite3.
 *
 * Deleting really deletes: `secure_delete` makes SQLite overwrite the bytes of deleted rows
 * (and of the old version of an updated row, and freed overflow pages) with zeros. Those zeroed
 * pages first go to the write-ahead log, while the main file and earlier WAL frames still hold
 * the old bytes; so every write that replaces or deletes an epoch's secrets (a group save whose
 * held secrets changed, an epoch or room deleted) ends with `wal_checkpoint(TRUNCATE)`: the
 * zeroed pages are copied into the main file and the WAL is cut to nothing before the write
 * returns. Inside `transaction` that happens once, when the outermost transaction ends. Writes
 * that drop no epoch secrets (a new epoch, a record-only change, the sync token) do not
 * checkpoint, so the WAL only ever holds secrets that are still current. `scrub` checkpoints
 * too, after the client deleted other secrets (KeyPackages).
 * `synchronous = FULL` makes each committed transaction durable before the call returns: a
 * client killed right after a write finds it when restarted. A new file is created readable and
 * writable by its owner only.
 *
 * One process at a time: a file store is locked while it is open (storeLock.ts), and a second
 * `SqliteStore` on the same file, in this process or another, throws `StoreLockedError`.
 */
import { closeSync, existsSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import { SCHEMA, SCHEMA_VERSION } from './sqliteSchema.js';
import { StoreLock } from './storeLock.js';
import type {
  AccountRecord,
  BackupRecord,
  CrossSigningRecord,
  KeyPackageRecord,
  Store,
  StoredEpoch,
  StoredGroup,
} from './store.js';

export { StoreLockedError, type LockHolder } from './storeLock.js';

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  /** Held from the constructor to `close`; none for an in-memory database. */
  private readonly lock: StoreLock | undefined;
  /** Prepared once: preparing a statement costs more than running most of them. */
  private readonly statements = new Map<string, Database.Statement>();
  /** A write dropped epoch secrets and the WAL has not been checkpointed since. */
  private secretsDropped = false;
  /** WAL checkpoints run so far by this store (writes that dropped secrets, and `scrub`). */
  checkpoints = 0;

  constructor(readonly path: string) {
    // The file holds the device's private keys and epoch secrets: readable by its owner only.
    // SQLite gives the -wal and -shm files the database file's permissions.
    const inMemory = path === ':memory:';
    this.lock = inMemory ? undefined : StoreLock.acquire(path);
    try {
      if (!inMemory && !existsSync(path)) closeSync(openSync(path, 'wx', 0o600));
      this.db = openDatabase(path);
    } catch (error) {
      this.lock?.release();
      throw error;
    }
  }

  private sql(text: string): Database.Statement {
    let statement = this.statements.get(text);
    if (!statement) this.statements.set(text, (statement = this.db.prepare(text)));
    return statement;
  }

  transaction<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn)();
    } finally {
      this.checkpointIfDropped();
    }
  }

  /**
   * Checkpoints and truncates the WAL if a write dropped secrets, once no transaction is open
   * (a checkpoint cannot copy uncommitted frames; the outermost `transaction` comes back here).
   */
  private checkpointIfDropped(): void {
    if (this.secretsDropped && !this.db.inTransaction) this.checkpoint();
  }

  private checkpoint(): void {
    const [result] = this.db.pragma('wal_checkpoint(TRUNCATE)') as {
      busy: number;
      log: number;
      checkpointed: number;
    }[];
    this.checkpoints++;
    // Busy: another connection still reads old frames (after the busy timeout). The old bytes
    // may then survive until the next checkpoint, which the next write or `scrub` retries.
    this.secretsDropped = result?.busy !== 0;
  }

  account(): AccountRecord | undefined {
    const row = this.sql('select * from account where id = 1').get() as
      Record<string, unknown> | undefined;
    if (!row) return undefined;
    return {
      homeserver: row.homeserver as string,
      userId: row.user_id as string,
      deviceId: row.device_id as string,
      accessToken: row.access_token as string,
      suite: row.suite as number,
      signaturePublicKey: bytes(row.signature_public_key),
      signaturePrivateKey: bytes(row.signature_private_key),
    };
  }

  setAccount(account: AccountRecord | undefined): void {
    if (!account) {
      this.sql('delete from account').run();
      return;
    }
    this.sql(
      `insert or replace into account (id, homeserver, user_id, device_id, access_token, suite,
           signature_public_key, signature_private_key) values (1, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      account.homeserver,
      account.userId,
      account.deviceId,
      account.accessToken,
      account.suite,
      Buffer.from(account.signaturePublicKey),
      Buffer.from(account.signaturePrivateKey),
    );
  }

  value(name: string): string | undefined {
    const row = this.sql('select value from kv where name = ?').get(name) as
      { value: string } | undefined;
    return row?.value;
  }

  setValue(name: string, value: string | undefined): void {
    if (value === undefined) this.sql('delete from kv where name = ?').run(name);
    else this.sql('insert or replace into kv (name, value) values (?, ?)').run(name, value);
  }

  putKeyPackages(records: readonly KeyPackageRecord[]): void {
    const insert = this.sql(
      `insert or replace into key_packages (ref, last_resort, expires_at, retired_at, bundle)
       values (?, ?, ?, ?, ?)`,
    );
    this.transaction(() => {
      for (const r of records) {
        insert.run(
          r.ref,
          r.lastResort ? 1 : 0,
          r.expiresAt,
          r.retiredAt ?? null,
          Buffer.from(r.bundle),
        );
      }
    });
  }

  keyPackage(ref: string): KeyPackageRecord | undefined {
    const row = this.sql('select * from key_packages where ref = ?').get(ref);
    return row === undefined ? undefined : keyPackageRow(row as Record<string, unknown>);
  }

  keyPackages(): KeyPackageRecord[] {
    return (this.sql('select * from key_packages').all() as Record<string, unknown>[]).map(
      keyPackageRow,
    );
  }

  deleteKeyPackages(refs: readonly string[]): void {
    const del = this.sql('delete from key_packages where ref = ?');
    this.transaction(() => {
      for (const ref of refs) del.run(ref);
    });
  }

  rooms(): { roomId: string; data: string }[] {
    return (
      this.sql('select room_id, data from rooms').all() as {
        room_id: string;
        data: string;
      }[]
    ).map((r) => ({ roomId: r.room_id, data: r.data }));
  }

  setRoom(roomId: string, data: string): void {
    // An upsert, not `insert or replace`: replacing would cascade-delete the room's group.
    this.sql(
      'insert into rooms (room_id, data) values (?, ?) on conflict (room_id) do update set data = excluded.data',
    ).run(roomId, data);
  }

  deleteRoom(roomId: string): void {
    this.transaction(() => {
      const held = this.sql(
        'select 1 from epochs where room_id = ? and secrets is not null limit 1',
      ).get(roomId);
      // The room's group and epochs go with it (foreign keys cascade).
      this.sql('delete from rooms where room_id = ?').run(roomId);
      if (held) this.secretsDropped = true;
    });
  }

  group(roomId: string): StoredGroup | undefined {
    const meta = this.sql('select meta from groups where room_id = ?').get(roomId) as
      { meta: string } | undefined;
    if (!meta) return undefined;
    const epochs = (
      this.sql('select epoch_key, record, secrets from epochs where room_id = ?').all(roomId) as {
        epoch_key: string;
        record: string;
        secrets: Buffer | null;
      }[]
    ).map((r): StoredEpoch => ({
      key: r.epoch_key,
      record: r.record,
      ...(r.secrets !== null && { secrets: bytes(r.secrets) }),
    }));
    return { meta: meta.meta, epochs };
  }

  saveGroup(
    roomId: string,
    meta: string,
    upsert: readonly StoredEpoch[],
    remove: readonly string[],
  ): void {
    const put = this.sql(
      `insert into epochs (room_id, epoch_key, record, secrets) values (?, ?, ?, ?)
       on conflict (room_id, epoch_key) do update set record = excluded.record, secrets = excluded.secrets`,
    );
    // Whether writing `secrets` (a blob or null) replaces other secrets of the epoch: compared
    // in SQLite, so a record-only change costs no checkpoint.
    const replaces = this.sql(
      `select 1 from epochs where room_id = ? and epoch_key = ? and secrets is not null
         and (? is null or secrets != ?)`,
    );
    const del = this.sql(
      'delete from epochs where room_id = ? and epoch_key = ? returning secrets is not null as held',
    );
    this.transaction(() => {
      this.sql(
        'insert into groups (room_id, meta) values (?, ?) on conflict (room_id) do update set meta = excluded.meta',
      ).run(roomId, meta);
      for (const e of upsert) {
        const secrets = e.secrets ? Buffer.from(e.secrets) : null;
        if (replaces.get(roomId, e.key, secrets, secrets)) this.secretsDropped = true;
        put.run(roomId, e.key, e.record, secrets);
      }
      for (const key of remove) {
        const row = del.get(roomId, key) as { held: number } | undefined;
        if (row?.held) this.secretsDropped = true;
      }
    });
  }

  backup(): BackupRecord | undefined {
    const row = this.sql('select version, key from backup where id = 1').get() as
      { version: string; key: Buffer } | undefined;
    return row && { version: row.version, key: bytes(row.key) };
  }

  setBackup(backup: BackupRecord | undefined): void {
    this.transaction(() => {
      this.sql('delete from backup').run();
      this.sql('delete from backup_sessions').run();
      if (backup) {
        this.sql('insert into backup (id, version, key) values (1, ?, ?)').run(
          backup.version,
          Buffer.from(backup.key),
        );
      }
    });
  }

  backedUpSessions(version: string, roomId: string): Set<string> {
    const rows = this.sql(
      'select session_id from backup_sessions where version = ? and room_id = ?',
    ).all(version, roomId) as { session_id: string }[];
    return new Set(rows.map((r) => r.session_id));
  }

  addBackedUpSessions(version: string, roomId: string, sessionIds: readonly string[]): void {
    const insert = this.sql(
      'insert or ignore into backup_sessions (version, room_id, session_id) values (?, ?, ?)',
    );
    this.transaction(() => {
      for (const id of sessionIds) insert.run(version, roomId, id);
    });
  }

  crossSigning(): CrossSigningRecord | undefined {
    const row = this.sql(
      'select master_key, self_signing_seed, user_signing_seed from cross_signing where id = 1',
    ).get() as
      { master_key: string; self_signing_seed: Buffer; user_signing_seed: Buffer } | undefined;
    return (
      row && {
        masterKey: row.master_key,
        selfSigningSeed: bytes(row.self_signing_seed),
        userSigningSeed: bytes(row.user_signing_seed),
      }
    );
  }

  setCrossSigning(keys: CrossSigningRecord | undefined): void {
    this.transaction(() => {
      // Replaced or deleted private keys are secrets dropped: checkpoint them out of the WAL.
      if (this.sql('delete from cross_signing').run().changes > 0) this.secretsDropped = true;
      if (keys) {
        this.sql(
          `insert into cross_signing (id, master_key, self_signing_seed, user_signing_seed)
             values (1, ?, ?, ?)`,
        ).run(keys.masterKey, Buffer.from(keys.selfSigningSeed), Buffer.from(keys.userSigningSeed));
      }
    });
  }

  scrub(): void {
    this.checkpoint();
  }

  close(): void {
    if (this.db.open) this.db.close();
    this.lock?.release();
  }
}

/** The store's database, set up and at the current schema; refused if its schema is newer. */
function openDatabase(path: string): Database.Database {
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('secure_delete = ON');
    db.pragma('foreign_keys = ON');
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new Error(`${path}: store schema ${version} is newer than this client's`);
    }
    db.exec(SCHEMA);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

function bytes(value: unknown): Uint8Array {
  return new Uint8Array(value as Buffer);
}

function keyPackageRow(row: Record<string, unknown>): KeyPackageRecord {
  return {
    ref: row.ref as string,
    lastResort: row.last_resort === 1,
    expiresAt: row.expires_at as number,
    ...(row.retired_at !== null && { retiredAt: row.retired_at as number }),
    bundle: bytes(row.bundle),
  };
}
