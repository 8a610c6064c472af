/**
 * The client's side of the key backup (backup.ts has the format and the server calls): every
 * epoch this device holds is sealed and uploaded soon after, in the background while the client
 * runs; a restore unlocks the backup and reads each joined room's history with its keys.
 */
import type { EpochReader } from '@trellis/mls';
import type { BackupInfo, EnableBackupOptions, KeyBackup } from './backup.js';
import { readHistory } from './backupHistory.js';
import type { ClientCore } from './clientCore.js';
import type { RestoreProgress, RestoreReport } from './clientOptions.js';
import { ClientError } from './errors.js';

/** History events read by one restore, per room. */
const MAX_HISTORY = 100_000;

export class ClientBackup {
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly backup: KeyBackup,
    private readonly core: ClientCore,
  ) {}

  /** Entries sealed and not uploaded yet. */
  get pending(): number {
    return this.backup.pending;
  }

  get version(): string | undefined {
    return this.backup.version;
  }

  /** Creates a backup and seals every epoch held in full; the recovery key is returned once. */
  async enable(options: EnableBackupOptions): Promise<BackupInfo> {
    const info = await this.backup.enable(options);
    for (const room of this.core.rooms.all()) room.sealAll();
    await this.flush();
    return info;
  }

  /** Uploads what is sealed now. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing.catch(() => undefined);
    await this.backup.flush();
  }

  /** Starts an upload in the background, if the client runs and something is sealed. */
  flushSoon(): void {
    if (this.flushing || !this.core.running() || this.backup.pending === 0) return;
    this.flushing = this.backup
      .flush()
      .catch((error: unknown) => {
        if (!(error instanceof ClientError && error.code === 'STOPPED'))
          this.core.reportError(error, 'key backup upload');
      })
      .finally(() => {
        this.flushing = undefined;
      });
  }

  /** Resolves when the background upload (if any) has ended. */
  async idle(): Promise<void> {
    await this.flushing?.catch(() => undefined);
  }

  /**
   * Unlocks the server's backup, rebuilds the backed-up epochs, and reads the history of every
   * joined room with them (messages are emitted with source `backup`).
   */
  async restore(
    secret: string,
    onProgress: (progress: RestoreProgress) => void,
  ): Promise<RestoreReport> {
    const { rooms, http, events } = this.core;
    onProgress({ step: 'unlock', done: 0, total: 1 });
    const { version, key } = await this.backup.unlock(secret);
    const restored = await this.backup.download(version, key, (done, total) =>
      onProgress({ step: 'restore', done, total }),
    );
    for (const room of rooms.all()) room.sealAll();
    this.flushSoon();
    let epochs = 0;
    let messages = 0;
    let unreadable = 0;
    for (const r of restored.values()) epochs += r.epochs.size;
    const joined = [...rooms.all()].filter((room) => room.membership === 'join');
    for (const [done, room] of joined.entries()) {
      onProgress({ step: 'history', done, total: joined.length });
      const readers = new Map<string, EpochReader>();
      for (const [sessionId, e] of restored.get(room.roomId)?.epochs ?? [])
        readers.set(sessionId, e.reader);
      const read = await readHistory(http, events, room, readers, MAX_HISTORY);
      messages += read.messages;
      unreadable += read.unreadable;
    }
    onProgress({ step: 'history', done: joined.length, total: joined.length });
    return { epochs, messages, unreadable };
  }
}
