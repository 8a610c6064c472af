/**
 * One process at a time per store. Two processes on one device's store would both commit as
 * that device, and one of them would fall out of step with the room; so the second is refused,
 * with the process that holds the store named.
 *
 * The lock is SQLite's own exclusive lock (a POSIX record lock) on a small database next to the
 * store, `<store>.lock`, taken in exclusive locking mode and held until the store is closed. The
 * operating system drops such a lock when its process ends, however it ends: a holder that
 * crashed or was killed leaves nothing behind to clean up. The lock file itself stays; deleting
 * it while another process has it open would let two processes lock two different files.
 */
import { closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';

/** The process that holds a store, as far as the system tells. */
export interface LockHolder {
  readonly pid: number;
  /** The holder's program name (e.g. `node`), when the system tells it. */
  readonly program?: string;
}

/** The store is in use by another process (or by another store object of this one). */
export class StoreLockedError extends Error {
  override readonly name = 'StoreLockedError';
  readonly code = 'STORE_LOCKED';

  constructor(
    readonly path: string,
    /** Undefined when the system does not say who holds the lock. */
    readonly holder: LockHolder | undefined,
  ) {
    super(
      `the store ${path} is in use by ${
        holder === undefined
          ? 'another process'
          : holder.pid === process.pid
            ? `this process (${holder.pid}): it is open already`
            : `process ${holder.pid}${holder.program ? ` (${holder.program})` : ''}`
      }`,
    );
  }
}

export class StoreLock {
  private constructor(
    readonly path: string,
    private readonly db: Database.Database,
  ) {}

  /** Locks the store at `storePath`, or throws `StoreLockedError`. */
  static acquire(storePath: string): StoreLock {
    const path = `${storePath}.lock`;
    // Created readable by the store's owner only, like the store. Never opened here once it
    // exists: closing any descriptor of a file drops every record lock this process holds on it.
    if (!existsSync(path)) {
      try {
        closeSync(openSync(path, 'wx', 0o600));
      } catch (error) {
        if ((error as { code?: unknown }).code !== 'EEXIST') throw error;
      }
    }
    // No waiting: a store in use is refused at once.
    const db = new Database(path, { timeout: 0 });
    try {
      db.pragma('locking_mode = exclusive');
      db.pragma('journal_mode = off');
      // The first write takes the exclusive lock, and exclusive locking mode keeps it.
      db.exec('create table if not exists holder (pid integer not null)');
      db.transaction(() => {
        db.exec('delete from holder');
        db.prepare('insert into holder (pid) values (?)').run(process.pid);
      })();
    } catch (error) {
      db.close();
      if ((error as { code?: unknown }).code === 'SQLITE_BUSY') {
        throw new StoreLockedError(storePath, lockHolder(path));
      }
      throw error;
    }
    return new StoreLock(path, db);
  }

  release(): void {
    if (this.db.open) this.db.close();
  }
}

/**
 * Who holds the lock on `path`: Linux lists every record lock in /proc/locks with its process
 * and the device and inode of its file. Undefined elsewhere, or when it cannot be read.
 */
function lockHolder(path: string): LockHolder | undefined {
  let locks: string;
  let file: { dev: number; ino: number };
  try {
    locks = readFileSync('/proc/locks', 'utf8');
    file = statSync(path);
  } catch {
    return undefined;
  }
  const where = `${deviceNumbers(file.dev)}:${file.ino}`;
  for (const line of locks.split('\n')) {
    // `1: POSIX  ADVISORY  WRITE 1234 fe:00:2147164 1073741824 1073742335`
    const fields = line.trim().split(/\s+/);
    const at = fields.findIndex((f) => f === where);
    const pid = at > 0 ? Number(fields[at - 1]) : NaN;
    if (Number.isSafeInteger(pid) && pid > 0) return { pid, ...programOf(pid) };
  }
  return undefined;
}

/** `major:minor` of a Linux device number, in hex, as /proc/locks writes it. */
function deviceNumbers(dev: number): string {
  const major = Number((BigInt(dev) >> 8n) & 0xfffn) | Number((BigInt(dev) >> 32n) & ~0xfffn);
  const minor = Number(BigInt(dev) & 0xffn) | Number((BigInt(dev) >> 12n) & ~0xffn);
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return `${hex(major)}:${hex(minor)}`;
}

/** The program name of a process (not its command line, which may hold a password). */
function programOf(pid: number): { program?: string } {
  try {
    const program = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    return program === '' ? {} : { program };
  } catch {
    return {};
  }
}
