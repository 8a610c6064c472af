/**
 * A running chat: the SDK's events printed as they come, and the user's lines turned into
 * commands, one at a time, in the order typed.
 */
import type {
  Client,
  ClientEvents,
  RestoreProgress as ClientRestoreProgress,
  Room,
} from '@trellis/client';
import { ClientError } from '@trellis/client';
import { drawEpochGraph } from '../epochGraph.js';
import { parseCommand, type Command } from './commands.js';
import { describeError } from './errors.js';
import {
  describeBacklog,
  describeCommitRefused,
  describeDecryptionFailure,
  describeFork,
  describeInvite,
  describeLoggedOut,
  describeMembership,
  describeMetadata,
  describeRejoin,
  describeRemoved,
  describeResolved,
  describeSyncError,
  describeWelcome,
  formatMessage,
  helpLines,
  memberLines,
  notice,
  recoveryKeyLines,
  restoreReportLines,
  roomLabel,
  roomListLines,
  shortIdentity,
  shortReason,
} from './format.js';
import { startProgress, type Progress } from './progress.js';
import { joinedRooms, membersView, pendingInvites, roomSummary } from './roomState.js';
import type { Terminal } from './terminal.js';

/** The SDK's code for a message that came before this device was in the room's group. */
const NO_GROUP = 'NO_GROUP';

/** How long /join shows its progress while no Welcome comes. */
const WELCOME_WAIT_MS = 120_000;

export class ChatSession {
  private currentRoomId: string | undefined;
  /** Who invited this user to each room, as far as this run saw it. */
  private readonly inviters = new Map<string, string | undefined>();
  /** Commands run one after the other, in the order they were typed. */
  private queue: Promise<void> = Promise.resolve();
  private readonly unsubscribe: (() => void)[] = [];
  private syncTrouble = false;
  /** Rooms where the backlog this device cannot read was already pointed out. */
  private readonly backlogNoticed = new Set<string>();
  private joining: JoinProgress | undefined;
  private restoring: RestoreProgress | undefined;
  private finished: (() => void) | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly client: Client,
    private readonly terminal: Terminal,
  ) {}

  /** Runs until /quit, Ctrl-C or Ctrl-D; the client is stopped and its store closed. */
  async run(): Promise<void> {
    const done = new Promise<void>((resolve) => (this.finished = resolve));
    this.listen();
    this.terminal.onLine((line) => {
      this.enqueue(line);
      // A fresh prompt at once: the next line can be typed while this one's command runs.
      this.terminal.prompt();
    });
    this.terminal.onClose(() => void this.quit());
    this.terminal.onInterrupt(() => void this.quit());
    this.currentRoomId = joinedRooms(this.client)[0]?.roomId;
    this.updatePrompt();
    this.say(
      `Signed in as ${this.client.userId}, device ${this.client.deviceId}. Type /help for the commands, /rooms for your rooms.`,
    );
    this.client.start();
    this.terminal.prompt();
    await done;
  }

  private enqueue(line: string): void {
    this.queue = this.queue.then(() => this.handle(line)).then(() => this.terminal.prompt());
  }

  private async handle(line: string): Promise<void> {
    const parsed = parseCommand(line);
    if (parsed.kind === 'mistake') return this.say(parsed.message);
    try {
      await this.execute(parsed);
    } catch (error) {
      this.say(
        error instanceof NoticeError ? error.message : describeError(error, actionOf(parsed)),
      );
    }
  }

  private async execute(command: Command): Promise<void> {
    switch (command.kind) {
      case 'nothing':
        return;
      case 'say':
        await this.client.sendText(this.requireRoom().roomId, command.text);
        return;
      case 'help':
        return this.terminal.print(helpLines());
      case 'rooms':
        return this.terminal.print(
          roomListLines(
            joinedRooms(this.client).map(roomSummary),
            pendingInvites(this.client, this.inviters),
            this.currentRoomId,
          ),
        );
      case 'create':
        return this.create(command.name);
      case 'room':
        return this.switchTo(command.target);
      case 'invite':
        await this.client.invite(this.requireRoom().roomId, command.userId);
        return this.say(
          `Invited ${command.userId}. Once they /join, their devices are added to the encrypted group.`,
        );
      case 'join':
        return this.join(command.target);
      case 'members':
        return this.terminal.print(memberLines(membersView(this.client, this.requireRoom())));
      case 'leave':
        return this.leave();
      case 'kick':
        await this.client.kick(this.requireRoom().roomId, command.userId, command.reason);
        return this.say(
          `Removed ${command.userId}; their devices leave the encrypted group with the next commit.`,
        );
      case 'name':
        await this.client.setRoomMetadata(this.requireRoom().roomId, { name: command.text });
        return;
      case 'topic':
        await this.client.setRoomMetadata(this.requireRoom().roomId, { topic: command.text });
        return;
      case 'epochs':
        return this.epochs();
      case 'backup':
        return this.backup(command.passphrase);
      case 'restore':
        return this.restore();
      case 'quit':
        return this.quit();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Commands

  private requireRoom(): Room {
    const room =
      this.currentRoomId === undefined ? undefined : this.client.room(this.currentRoomId);
    if (!room || room.membership !== 'join') {
      throw new NoticeError(
        'No room selected: /create a room, or /rooms to list yours and /room N to pick one.',
      );
    }
    return room;
  }

  private async create(name: string | undefined): Promise<void> {
    const progress = startProgress(this.terminal, () => 'creating the room…');
    try {
      const roomId = await this.client.createRoom(name === undefined ? {} : { name });
      this.currentRoomId = roomId;
      this.updatePrompt();
      this.say(
        `Created the encrypted room ${name ?? roomId} (${roomId}). Invite people with /invite @user:server.`,
      );
    } finally {
      progress.stop();
    }
  }

  private switchTo(target: string): void {
    const rooms = joinedRooms(this.client);
    const room = /^\d+$/.test(target)
      ? rooms[Number(target) - 1]
      : rooms.find((r) => r.roomId === target || r.metadata.name === target);
    if (!room) {
      const invited = this.client.room(target)?.membership === 'invite';
      throw new NoticeError(
        invited
          ? `You are invited to ${target} but have not joined it: /join ${target} first.`
          : `There is no room ${target}: /rooms lists yours with their numbers.`,
      );
    }
    this.currentRoomId = room.roomId;
    this.updatePrompt();
    const s = roomSummary(room);
    this.say(`Now in ${roomLabel(s)}${s.topic ? ` — ${s.topic}` : ''}.`);
  }

  private async join(target: string | undefined): Promise<void> {
    const invites = pendingInvites(this.client, this.inviters);
    let roomId: string | undefined;
    if (target === undefined) {
      if (invites.length !== 1) {
        throw new NoticeError(
          invites.length === 0
            ? 'You have no invitations. Give the room id: /join !id.'
            : 'You have several invitations: /rooms lists them, then /join N.',
        );
      }
      roomId = invites[0]!.roomId;
    } else if (/^\d+$/.test(target)) {
      roomId = invites[Number(target) - 1]?.roomId;
      if (roomId === undefined) {
        throw new NoticeError(
          `There is no invitation ${target}: /rooms lists them with their numbers.`,
        );
      }
    } else {
      roomId = target;
    }
    await this.client.joinRoom(roomId);
    this.inviters.delete(roomId);
    this.currentRoomId = roomId;
    this.updatePrompt();
    const room = this.client.room(roomId);
    if (room?.current()) {
      this.say(`Joined ${roomLabel(roomSummary(room))}.`);
      return;
    }
    this.say(
      `Joined ${roomId}. A member’s device adds this one to the encrypted group next; messages follow.`,
    );
    this.waitForWelcome(roomId);
  }

  /** Progress while this device waits to be added to a room's group, and reads its backlog. */
  private waitForWelcome(roomId: string): void {
    this.stopJoining();
    const counts = { fetched: 0 };
    const progress = startProgress(this.terminal, () =>
      counts.fetched > 0
        ? `joining: fetched ${counts.fetched} commits of the room…`
        : 'joining: waiting for a member’s device to add this one…',
    );
    const timer = setTimeout(() => {
      this.stopJoining();
      this.say(
        `Still not added to ${roomId}'s encrypted group: a member's device must be online to add this one. Messages will appear once it does.`,
      );
    }, WELCOME_WAIT_MS);
    this.joining = { roomId, counts, progress, timer };
  }

  private stopJoining(): void {
    if (!this.joining) return;
    clearTimeout(this.joining.timer);
    this.joining.progress.stop();
    this.joining = undefined;
  }

  private async leave(): Promise<void> {
    const room = this.requireRoom();
    const label = roomLabel(roomSummary(room));
    await this.client.leaveRoom(room.roomId);
    this.currentRoomId = joinedRooms(this.client)[0]?.roomId;
    this.updatePrompt();
    this.say(`You left ${label}.`);
  }

  private epochs(): void {
    const room = this.requireRoom();
    const group = room.group;
    if (!group) {
      throw new NoticeError(
        'This device is not in the room’s encrypted group yet, so it knows no epochs: wait until a member’s device adds it.',
      );
    }
    const tips = group.tips().length;
    const current = room.current()?.key;
    this.terminal.print([
      ...drawEpochGraph(group.epochs(), {
        ...(current !== undefined && { current }),
        device: shortIdentity,
      }).split('\n'),
      tips > 1
        ? `The room has forked: ${tips} branches wait to be merged.`
        : 'One branch: the room has not forked (or every fork was resolved).',
    ]);
  }

  private async backup(withPassphrase: boolean): Promise<void> {
    let passphrase: string | undefined;
    if (withPassphrase) {
      passphrase = await this.terminal.ask('Passphrase for the backup (not shown): ', {
        hidden: true,
      });
      if (!passphrase) return this.say('No passphrase given: the backup was not started.');
      const again = await this.terminal.ask('The same passphrase again: ', { hidden: true });
      if (again !== passphrase) {
        return this.say('The two passphrases differ: type /backup passphrase to try again.');
      }
    }
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
    this.terminal.print(recoveryKeyLines(info.recoveryKey, info.version));
    if (passphrase !== undefined)
      this.say('The passphrase unlocks the backup too: /restore takes either.');
    if (previous !== undefined)
      this.say(
        `This backup replaces version ${previous}; its old key does not unlock the new one.`,
      );
  }

  private async restore(): Promise<void> {
    const secret = await this.terminal.ask('Recovery key or passphrase (not shown): ', {
      hidden: true,
    });
    if (!secret) return this.say('Nothing entered: nothing was restored.');
    const counts = { messages: 0 };
    let step: ClientRestoreProgress = { step: 'unlock', done: 0, total: 1 };
    const progress = startProgress(this.terminal, () => restoreStatus(step, counts.messages));
    this.restoring = { counts, progress };
    try {
      const report = await this.client.restoreBackup(secret.trim(), (now) => {
        step = now;
        progress.update();
      });
      this.terminal.print(restoreReportLines(report));
    } finally {
      progress.stop();
      this.restoring = undefined;
    }
  }

  private async quit(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopJoining();
      this.restoring?.progress.stop();
      for (const off of this.unsubscribe) off();
      this.terminal.print('Stopping…');
      try {
        await this.client.close();
      } catch (error) {
        this.terminal.print(describeError(error, 'stop cleanly'));
      }
      this.terminal.close('Stopped.');
      this.finished?.();
    })();
    return this.stopping;
  }

  // -------------------------------------------------------------------------------------------
  // Events

  private listen(): void {
    const on = <K extends keyof ClientEvents>(
      name: K,
      listener: (event: ClientEvents[K]) => void,
    ) => this.unsubscribe.push(this.client.on(name, listener));

    on('message', (m) => {
      if (this.restoring && m.source === 'backup') {
        this.restoring.counts.messages++;
      }
      this.terminal.print(formatMessage(m, new Date(), this.elsewhere(m.roomId)));
    });
    on('decryptionFailure', (f) => {
      if (f.code !== NO_GROUP) return this.notify(describeDecryptionFailure(f), f.roomId);
      // A new member's device sees the backlog it was not there for: say so once, not per message.
      if (this.backlogNoticed.has(f.roomId)) return;
      this.backlogNoticed.add(f.roomId);
      this.notify(describeBacklog(), f.roomId);
    });
    on('commitRefused', (e) => this.notify(describeCommitRefused(e), e.roomId));
    on('rejoin', (e) => {
      if (e.mine) this.notify(describeRejoin(), e.roomId);
    });
    on('membership', (e) => {
      // This user's own joins and invitations are told by the commands and the invite notice.
      const own = e.userId === this.client.userId;
      if (own && (e.membership === 'join' || e.membership === 'invite')) {
        if (e.membership === 'join') this.pickIfNone(e.roomId);
        return;
      }
      this.notify(describeMembership(e, this.client.userId), e.roomId);
    });
    on('invite', (e) => {
      this.inviters.set(e.roomId, e.inviter);
      const number =
        pendingInvites(this.client, this.inviters).findIndex((i) => i.roomId === e.roomId) + 1;
      this.notify(describeInvite(e, Math.max(number, 1)));
    });
    on('fork', (e) => this.notify(describeFork(e), e.roomId));
    on('resolved', (e) => this.notify(describeResolved(e), e.roomId));
    on('welcome', (e) => {
      if (this.joining?.roomId === e.roomId) this.stopJoining();
      this.backlogNoticed.delete(e.roomId);
      this.pickIfNone(e.roomId);
      this.notify(describeWelcome(e), e.roomId);
    });
    on('removed', (e) => this.notify(describeRemoved(), e.roomId));
    on('metadata', (e) => {
      this.notify(describeMetadata(e), e.roomId);
      if (e.roomId === this.currentRoomId) this.updatePrompt();
    });
    on('backfill', (e) => {
      if (this.joining?.roomId === e.roomId) {
        this.joining.counts.fetched += e.fetched;
        this.joining.progress.update();
      }
    });
    on('syncError', (e) => {
      // One notice per outage, not one per retry.
      if (this.syncTrouble) return;
      this.syncTrouble = true;
      this.notify(describeSyncError(e));
    });
    on('sync', () => {
      if (!this.syncTrouble) return;
      this.syncTrouble = false;
      this.notify('in touch with the server again.');
    });
    on('loggedOut', (e) => this.notify(describeLoggedOut(e)));
    on('error', (e) => {
      if (e.error instanceof ClientError && e.error.code === 'STOPPED') return;
      this.notify(
        `something failed in the background (${e.context}): ${shortReason(e.error)}. The client carries on.`,
      );
    });
  }

  /** The room of an event when it is not the current one, to label the line with. */
  private elsewhere(roomId: string): { roomId: string; name: string | undefined } | undefined {
    if (roomId === this.currentRoomId) return undefined;
    return { roomId, name: this.client.room(roomId)?.metadata.name };
  }

  /** A room joined while none is selected becomes the current one. */
  private pickIfNone(roomId: string): void {
    if (this.currentRoomId !== undefined || this.client.room(roomId)?.membership !== 'join') return;
    this.currentRoomId = roomId;
    this.updatePrompt();
  }

  private notify(text: string, roomId?: string): void {
    const room = roomId === undefined ? undefined : this.elsewhere(roomId);
    this.terminal.print(notice(new Date(), room ? `[${roomLabel(room)}] ${text}` : text));
  }

  private say(text: string): void {
    this.terminal.print(text);
  }

  private updatePrompt(): void {
    const room =
      this.currentRoomId === undefined ? undefined : this.client.room(this.currentRoomId);
    this.terminal.setPrompt(room ? `[${roomLabel(roomSummary(room))}] > ` : '[no room] > ');
  }
}

interface JoinProgress {
  readonly roomId: string;
  readonly counts: { fetched: number };
  readonly progress: Progress;
  readonly timer: NodeJS.Timeout;
}

interface RestoreProgress {
  readonly counts: { messages: number };
  readonly progress: Progress;
}

function restoreStatus(progress: ClientRestoreProgress, messages: number): string {
  switch (progress.step) {
    case 'unlock':
      return 'restoring: unlocking the backup…';
    case 'restore':
      return `restoring: epochs of room ${progress.done + 1} of ${progress.total}…`;
    case 'history':
      return `restoring: reading history, room ${Math.min(progress.done + 1, progress.total)} of ${progress.total}, ${messages} messages read…`;
  }
}

/** A failure whose message is already the sentence to show. */
class NoticeError extends Error {}

/** What a command was doing, for "Could not …" sentences. */
function actionOf(command: Command): string {
  switch (command.kind) {
    case 'say':
      return 'send the message';
    case 'create':
      return 'create the room';
    case 'invite':
      return `invite ${command.userId}`;
    case 'join':
      return 'join the room';
    case 'leave':
      return 'leave the room';
    case 'kick':
      return `remove ${command.userId}`;
    case 'name':
      return 'rename the room';
    case 'topic':
      return 'set the topic';
    case 'backup':
      return 'start the backup';
    case 'restore':
      return 'restore from the backup';
    default:
      return `run /${command.kind}`;
  }
}
