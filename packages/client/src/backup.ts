/**
 * Key backup (MSC4038) for one client: enabling it, sealing every epoch this device holds as it
 * is created, uploading the sealed entries, and fetching the backup back on a new device.
 *
 * An epoch is sealed the moment it appears (created, received, or joined by Welcome), while its
 * full state is at hand; only the upload waits. Sealed entries are encrypted under the backup
 * key, so the queue of entries still to upload is kept in the store: a client killed before an
 * upload finishes it after restarting.
 */
import type { EpochNode } from '@trellis/dmls';
import { deviceOf } from '@trellis/dmls';
import {
  BackupError,
  backupEpoch,
  createBackup,
  decodeRecoveryKey,
  parseBackupVersion,
  restoreRoom,
  roomKeysBody,
  unlockWithPassphrase,
  unlockWithRecoveryKey,
  type BackupKey,
  type KeyBackupData,
  type RestoredRoom,
} from '@trellis/backup';
import { MlsError } from '@trellis/mls';
import { ClientError, isMatrixError } from './errors.js';
import type { MatrixHttp } from './http.js';
import { isObject } from './json.js';
import type { Store } from './store.js';

const OUTBOX = 'backup_outbox';

/** Sealed sessions of one epoch, waiting for upload. */
interface Sealed {
  readonly version: string;
  readonly roomId: string;
  /** The epoch's session id. */
  readonly sessionId: string;
  readonly sessions: Record<string, KeyBackupData>;
}

/**
 * How to make the backup key: a fresh random one (nothing given; its recovery key is returned
 * once), from a recovery key the user already has, or from a passphrase (PBKDF2-SHA-512;
 * fewer `iterations` than the default only for tests).
 */
export interface EnableBackupOptions {
  readonly recoveryKey?: string;
  readonly passphrase?: string;
  readonly iterations?: number;
}

export interface BackupInfo {
  readonly version: string;
  /** Write it down: it unlocks the backup (so does the passphrase, if one was given). */
  readonly recoveryKey: string;
}

export class KeyBackup {
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly http: MatrixHttp,
    private readonly onUploaded: (roomId: string, sessions: number) => void,
  ) {}

  get version(): string | undefined {
    return this.store.backup()?.version;
  }

  /** Creates a new backup version on the server and makes it this device's backup. */
  async enable(options: EnableBackupOptions = {}): Promise<BackupInfo> {
    const created =
      options.passphrase !== undefined
        ? createBackup({
            passphrase: options.passphrase,
            ...(options.iterations !== undefined && { iterations: options.iterations }),
          })
        : createBackup(
            options.recoveryKey !== undefined
              ? { key: decodeRecoveryKey(options.recoveryKey) }
              : {},
          );
    const version = await this.http.createBackupVersion(created.version);
    this.store.transaction(() => {
      this.store.setBackup({ version, key: created.key });
      this.store.setValue(OUTBOX, undefined);
    });
    return { version, recoveryKey: created.recoveryKey };
  }

  /**
   * Unlocks the server's current backup with a recovery key or a passphrase (tried in that
   * order) and makes it this device's backup.
   */
  async unlock(secret: string): Promise<{ version: string; key: BackupKey }> {
    const info = await this.http.backupVersion();
    if (!info) throw new ClientError('BACKUP', 'the server has no key backup');
    const version = typeof info.version === 'string' ? info.version : '';
    let key: BackupKey;
    try {
      key = unlockSecret(info, secret);
    } catch (e) {
      if (e instanceof BackupError || e instanceof MlsError) {
        throw new ClientError('BACKUP', `the backup cannot be unlocked: ${e.message}`, {
          cause: e,
        });
      }
      throw e;
    }
    if (this.store.backup()?.version !== version) this.store.setBackup({ version, key });
    return { version, key };
  }

  /** Seals an epoch this device holds in full, unless it is already in the backup or queued. */
  seal(roomId: string, node: EpochNode): void {
    const backup = this.store.backup();
    if (!backup || node.held.kind !== 'full') return;
    const outbox = this.outbox();
    const stored = this.store.backedUpSessions(backup.version, roomId);
    for (const s of outbox) {
      if (s.roomId === roomId && s.version === backup.version) {
        for (const id of Object.keys(s.sessions)) stored.add(id);
      }
    }
    const creator = deviceOf(node.id.creator);
    const sealed = backupEpoch(
      // Checked against the version's auth_data when it was made or unlocked.
      backup.key as BackupKey,
      node.held.state,
      { roomId, creator, stored },
    );
    if (stored.has(sealed.sessionId)) return;
    outbox.push({
      version: backup.version,
      roomId,
      sessionId: sealed.sessionId,
      sessions: sealed.sessions,
    });
    this.store.setValue(OUTBOX, JSON.stringify(outbox));
  }

  get pending(): number {
    return this.outbox().length;
  }

  /** Uploads the queued entries (one request per room). Safe to call at any time. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing.catch(() => undefined);
    const run = this.upload();
    this.flushing = run;
    try {
      await run;
    } finally {
      this.flushing = undefined;
    }
  }

  private async upload(): Promise<void> {
    for (;;) {
      const outbox = this.outbox();
      const first = outbox[0];
      if (!first) return;
      const batch = outbox.filter((s) => s.roomId === first.roomId && s.version === first.version);
      const sessions = Object.assign({}, ...batch.map((s) => s.sessions)) as Record<
        string,
        KeyBackupData
      >;
      try {
        await this.http.putRoomKeys(first.version, roomKeysBody(first.roomId, sessions));
      } catch (e) {
        if (isMatrixError(e, 'M_WRONG_ROOM_KEYS_VERSION') || isMatrixError(e, 'M_NOT_FOUND')) {
          // Another device replaced (or deleted) the backup: these entries have nowhere to go.
          this.store.transaction(() => {
            if (this.store.backup()?.version === first.version) this.store.setBackup(undefined);
            this.store.setValue(
              OUTBOX,
              JSON.stringify(this.outbox().filter((s) => s.version !== first.version)),
            );
          });
        }
        throw e;
      }
      this.store.transaction(() => {
        this.store.addBackedUpSessions(first.version, first.roomId, Object.keys(sessions));
        const sent = new Set(batch.map((b) => b.sessionId));
        const rest = this.outbox().filter(
          (s) =>
            !(s.roomId === first.roomId && s.version === first.version && sent.has(s.sessionId)),
        );
        this.store.setValue(OUTBOX, rest.length > 0 ? JSON.stringify(rest) : undefined);
      });
      this.onUploaded(first.roomId, batch.length);
    }
  }

  /** Downloads and restores every room of the backup (readers for each epoch found). */
  async download(
    version: string,
    key: BackupKey,
    onRoom: (done: number, total: number) => void,
  ): Promise<Map<string, RestoredRoom>> {
    const body = await this.http.roomKeys(version);
    const rooms = Object.entries(isObject(body.rooms) ? body.rooms : {});
    const out = new Map<string, RestoredRoom>();
    for (const [done, [roomId, room]] of rooms.entries()) {
      onRoom(done, rooms.length);
      // Each room is restored in one go: let timers (a progress display) run in between.
      await new Promise((resolve) => setImmediate(resolve));
      try {
        out.set(roomId, restoreRoom(key, roomId, room));
      } catch (e) {
        if (!(e instanceof BackupError || e instanceof MlsError)) throw e;
        // One malformed room does not hide the others.
      }
    }
    return out;
  }

  private outbox(): Sealed[] {
    const text = this.store.value(OUTBOX);
    return text === undefined ? [] : (JSON.parse(text) as Sealed[]);
  }
}

/**
 * A recovery key, else a passphrase: recovery keys have a shape no passphrase is likely to. A
 * secret that fails as a recovery key is tried as a passphrase only when the backup has one,
 * and a secret shaped like a recovery key (a typo in one) that is not the passphrase either is
 * reported as the mistyped recovery key it most likely is.
 */
export function unlockSecret(info: unknown, secret: string): BackupKey {
  try {
    return unlockWithRecoveryKey(info, secret);
  } catch (e) {
    if (!(e instanceof BackupError && e.code.startsWith('RECOVERY_KEY_'))) throw e;
    if (!parseBackupVersion(info).auth_data.passphrase) throw e;
    try {
      return unlockWithPassphrase(info, secret);
    } catch (p) {
      if (p instanceof BackupError && p.code === 'WRONG_KEY' && likeRecoveryKey(secret, e)) {
        throw e;
      }
      throw p;
    }
  }
}

/** Characters of a recovery key, spaces left out: 35 bytes in base58. */
const RECOVERY_KEY_CHARS = 48;

/** Whether a secret refused as a recovery key looks like one with a typo in it. */
function likeRecoveryKey(secret: string, refusal: BackupError): boolean {
  if (refusal.code === 'RECOVERY_KEY_PARITY' || refusal.code === 'RECOVERY_KEY_PREFIX') return true;
  // A character missing or added, or one that is not base58 (a 0 for an o): about the length.
  const length = secret.replace(/\s+/g, '').length;
  return Math.abs(length - RECOVERY_KEY_CHARS) <= 3 && /^[\w\s]+$/.test(secret);
}
