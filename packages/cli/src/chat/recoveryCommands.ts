/**
 * /recovery and /devices: cross-signing from the chat. /recovery sets up the user's
 * cross-signing keys (kept in secret storage under the key backup's key, so the backup comes
 * first), or, when the user has keys this device does not hold, asks for the recovery key or
 * passphrase without echo and recovers them, which signs this device; on a device that holds
 * them it shows their state. /devices lists a user's devices and whether their user signed
 * each. /accept-key lets in the devices of a verified user whose master key changed.
 */
import { checkDeviceSignature, ClientError, type Client } from '@trellis/client';
import { isUserId } from './commands.js';
import { describeRecoveryError } from './errors.js';
import { nameIn } from './names.js';
import { membersView } from './roomState.js';
import { startProgress } from './progress.js';
import { localpartOf, printable } from './text.js';
import type { Terminal } from './terminal.js';
import { recoveryStateLines, userDeviceLines } from './trust.js';
import { NoticeError, type ChatView } from './view.js';

export class RecoveryCommands {
  constructor(
    private readonly client: Client,
    private readonly terminal: Terminal,
    private readonly view: ChatView,
  ) {}

  async recovery(): Promise<void> {
    const { client } = this;
    const held = client.crossSigning.masterKey;
    if (held !== undefined) return this.showState(held, undefined);
    const answer = await client.http.queryAllKeys([client.userId]);
    if (answer.master_keys[client.userId] !== undefined) return this.recover();
    if (client.backupVersion === undefined) {
      throw new NoticeError(
        'Your cross-signing keys are kept under the key backup’s recovery key, and this device has no backup: run /backup first (or /restore, if your account has one), then /recovery.',
      );
    }
    const progress = startProgress(this.terminal, () => 'setting up cross-signing…');
    let masterKey: string;
    try {
      ({ masterKey } = await client.crossSigning.setUp());
    } catch (error) {
      // Keys appeared since the query (another device set them up): replacing them would
      // leave every device signed by the old ones unsigned, so recovering is what is offered.
      if (!keysExist(error)) throw error;
      progress.stop();
      this.view.say(
        'Your account has cross-signing keys already (set up on another device): replacing them would need your password and would unsign your other devices.',
      );
      const answer = await this.terminal.ask(
        'Recover them with the recovery key instead? Type yes to go on: ',
      );
      if (answer?.trim().toLowerCase() !== 'yes')
        throw new NoticeError('Nothing was changed: /recovery again when you have the key.');
      return this.recover();
    } finally {
      progress.stop();
    }
    return this.showState(masterKey, 'set up');
  }

  private async recover(): Promise<void> {
    this.view.say(
      'Your account has cross-signing keys, and this device does not hold them: the recovery key of your backup (or its passphrase) unlocks them and signs this device.',
    );
    const secret = await this.terminal.ask('Recovery key or passphrase (not shown): ', {
      hidden: true,
    });
    if (!secret) throw new NoticeError('Nothing entered: this device was not signed.');
    const progress = startProgress(this.terminal, () => 'recovering the cross-signing keys…');
    let masterKey: string;
    try {
      ({ masterKey } = await this.client.crossSigning.recover(secret.trim()));
    } catch (error) {
      throw new NoticeError(describeRecoveryError(error));
    } finally {
      progress.stop();
    }
    return this.showState(masterKey, 'recovered');
  }

  private async showState(
    masterKey: string,
    started: 'set up' | 'recovered' | undefined,
  ): Promise<void> {
    const { client } = this;
    const check = await client.crossSigning.check(client.userId, client.deviceId);
    this.view.say(recoveryStateLines(masterKey, check, started));
  }

  async devices(who: string | undefined): Promise<void> {
    const { client } = this;
    const userId = who === undefined ? client.userId : this.userIdOf(who);
    const room = this.view.currentRoom();
    const own = userId === client.userId;
    // One answer for every device: each is checked against the same master key.
    const answer = await client.http.queryAllKeys([userId]);
    const listed = answer.device_keys[userId];
    const deviceIds =
      typeof listed === 'object' && listed !== null && !Array.isArray(listed)
        ? Object.keys(listed).sort()
        : [];
    this.view.say(
      userDeviceLines({
        userId,
        name: room?.joinedUsers().includes(userId) ? nameIn(room, userId) : localpartOf(userId),
        own,
        devices: deviceIds.map((deviceId) => ({
          deviceId,
          thisDevice: own && deviceId === client.deviceId,
          check: checkDeviceSignature(answer, userId, deviceId),
        })),
      }),
    );
  }

  /** The user's new master key replaces the one this device had verified. */
  acceptKey(who: string): void {
    const userId = this.userIdOf(who);
    if (!this.client.trust.acceptMasterKey(userId)) {
      throw new NoticeError(
        `${printable(userId)}'s master key has not changed since you verified it: nothing to accept.`,
      );
    }
    this.view.notice(
      `${printable(userId)}'s new master key is accepted: devices signed under it are let into your rooms. Verify it again to mark ${printable(userId)} as verified.`,
    );
  }

  /** A user id as typed, or the member of the current room with that name. */
  private userIdOf(who: string): string {
    if (who.startsWith('@')) {
      if (!isUserId(who))
        throw new NoticeError('Give a full user id: /devices @bob:server, or a member’s name.');
      return who;
    }
    const room = this.view.currentRoom();
    const member =
      room &&
      membersView(this.client, room).members.find(
        (m) => m.name === who || localpartOf(m.userId) === who,
      );
    if (!member) {
      throw new NoticeError(
        `There is nobody called ${printable(who)} in this room: give the full user id, /devices @${printable(who)}:server.`,
      );
    }
    return member.userId;
  }
}

/** setUp's refusal when the server asks for the password because the user has keys already. */
function keysExist(error: unknown): boolean {
  if (!(error instanceof ClientError) || error.code !== 'CROSS_SIGNING') return false;
  const cause = error.details.cause;
  return cause instanceof ClientError && cause.status === 401;
}
