/**
 * /backup and /restore: starting a key backup (a recovery key shown once, or a passphrase, with
 * a warning when it is weak), and reading history from it, with progress while it runs. A
 * restored message carries the time it was sent, like any other.
 */
import type { Client, RestoreProgress } from '@trellis/client';
import { describeRestoreError } from './errors.js';
import { recoveryKeyLines, restoreReportLines } from './lists.js';
import { passphraseWeakness } from './passphrase.js';
import { startProgress, type Progress } from './progress.js';
import type { Terminal } from './terminal.js';
import { NoticeError, type ChatView } from './view.js';

export class BackupCommands {
  /** The restore that runs, with the messages it read so far. */
  private restoring: { messages: number; progress: Progress } | undefined;

  constructor(
    private readonly client: Client,
    private readonly terminal: Terminal,
    private readonly view: ChatView,
  ) {}

  /** A message was read from the backup. */
  counted(): void {
    if (this.restoring) this.restoring.messages++;
  }

  async backup(withPassphrase: boolean): Promise<void> {
    const passphrase = withPassphrase ? await this.askPassphrase() : undefined;
    if (withPassphrase && passphrase === undefined) return;
    const previous = this.client.backupVersion;
    const progress = startProgress(
      this.terminal,
      () => 'backing up every epoch this device holds…',
    );
    let info;
    try {
      info = await this.client.enableBackup(passphrase === undefined ? {} : { passphrase });
    } finally {
      progress.stop();
    }
    this.view.say(recoveryKeyLines(info.recoveryKey, info.version));
    if (passphrase !== undefined)
      this.view.say('The passphrase unlocks the backup too: /restore takes either.');
    if (previous !== undefined) {
      this.view.say(
        `This backup replaces version ${previous}; its old key does not unlock the new one.`,
      );
    }
  }

  /** The passphrase, typed twice (and confirmed when weak); undefined when the user gave up. */
  private async askPassphrase(): Promise<string | undefined> {
    const hidden = { hidden: true };
    const passphrase = await this.terminal.ask('Passphrase for the backup (not shown): ', hidden);
    if (!passphrase) throw new NoticeError('No passphrase given: the backup was not started.');
    const weakness = passphraseWeakness(passphrase);
    if (weakness !== undefined) {
      this.view.warning(
        `This passphrase is weak: ${weakness}. Whoever guesses it reads your backed-up history.`,
      );
      const answer = await this.terminal.ask('Use it anyway? Type yes to go on: ');
      if (answer?.trim().toLowerCase() !== 'yes') {
        throw new NoticeError('The backup was not started: /backup passphrase to choose another.');
      }
    }
    const again = await this.terminal.ask('The same passphrase again: ', hidden);
    if (again !== passphrase) {
      throw new NoticeError('The two passphrases differ: type /backup passphrase to try again.');
    }
    return passphrase;
  }

  async restore(): Promise<void> {
    const secret = await this.terminal.ask('Recovery key or passphrase (not shown): ', {
      hidden: true,
    });
    if (!secret) throw new NoticeError('Nothing entered: nothing was restored.');
    let step: RestoreProgress = { step: 'unlock', done: 0, total: 1 };
    const progress = startProgress(this.terminal, () =>
      restoreStatus(step, this.restoring?.messages ?? 0),
    );
    this.restoring = { messages: 0, progress };
    try {
      const report = await this.client.restoreBackup(secret.trim(), (now) => {
        step = now;
        progress.update();
      });
      this.view.say(restoreReportLines(report));
    } catch (error) {
      throw new NoticeError(describeRestoreError(error));
    } finally {
      progress.stop();
      this.restoring = undefined;
    }
  }

  stop(): void {
    this.restoring?.progress.stop();
  }
}

function restoreStatus(progress: RestoreProgress, messages: number): string {
  switch (progress.step) {
    case 'unlock':
      return 'restoring: unlocking the backup…';
    case 'restore':
      return `restoring: epochs of room ${progress.done + 1} of ${progress.total}…`;
    case 'history':
      return `restoring: reading history, room ${Math.min(progress.done + 1, progress.total)} of ${progress.total}, ${messages} messages read…`;
  }
}
