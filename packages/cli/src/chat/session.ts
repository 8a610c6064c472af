/**
 * A running chat: the SDK's events shown as they come (eventFeed.ts), and the user's lines
 * turned into commands, one at a time, in the order typed. Messages go out through the outbox
 * (outbox.ts), so that what is typed while the server is away is sent when it is back; rooms
 * (roomCommands.ts), backups (backupCommands.ts), cross-signing (recoveryCommands.ts) and history
 * (history.ts) have their modules.
 */
import type { Client } from '@trellis/client';
import { BackupCommands } from './backupCommands.js';
import type { ChatStore, PendingMessage } from './chatStore.js';
import { parseCommand, type Command } from './commands.js';
import { ConnectionWatch } from './connection.js';
import { describeError } from './errors.js';
import { EventFeed } from './eventFeed.js';
import { History, messagePage } from './history.js';
import { JoinWait } from './joinWait.js';
import { helpLines } from './lists.js';
import { describeConnectionLost, describeReconnected } from './notices.js';
import { Outbox } from './outbox.js';
import { RecoveryCommands } from './recoveryCommands.js';
import { RoomCommands } from './roomCommands.js';
import { joinedRooms } from './roomState.js';
import type { Style } from './style.js';
import { count, localpartOf, printable } from './text.js';
import type { Terminal } from './terminal.js';
import { ChatView, NoticeError } from './view.js';

/** Longest part of a message quoted in a sentence about it. */
const PREVIEW = 40;

export class ChatSession {
  private readonly view: ChatView;
  private readonly history: History;
  private readonly connection: ConnectionWatch;
  private readonly outbox: Outbox;
  private readonly joinWait: JoinWait;
  private readonly feed: EventFeed;
  private readonly rooms: RoomCommands;
  private readonly backups: BackupCommands;
  private readonly recovery: RecoveryCommands;
  /** Commands run one after the other, in the order they were typed. */
  private queue: Promise<void> = Promise.resolve();
  private finished: (() => void) | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly client: Client,
    private readonly terminal: Terminal,
    private readonly store: ChatStore,
    style: Style,
  ) {
    const view = (this.view = new ChatView(client, terminal, style));
    this.history = new History({
      store,
      page: (roomId, from) => messagePage(client, roomId, from),
      show: (message) => view.message(message),
      say: (text) => view.say(text),
    });
    this.connection = new ConnectionWatch(
      async () => {
        await client.http.request('GET', '/account/whoami', { retry: false, timeoutMs: 5_000 });
      },
      {
        lost: (error) => view.notice(describeConnectionLost(error)),
        back: () => {
          view.notice(describeReconnected());
          void this.outbox.flush();
        },
      },
    );
    this.outbox = new Outbox(store, {
      send: async (m) => {
        await client.sendEvent(m.roomId, m.type, m.content);
      },
      away: () => this.connection.isAway,
      unreachable: (error) => this.connection.lost(error),
      waiting: (m) => view.message({ ...this.asMessage(m), source: 'pending' }),
      failed: (m, error) =>
        view.error(
          describeError(
            error,
            `send “${preview(m)}” to ${view.elsewhere(m.roomId) ?? 'this room'}`,
          ),
        ),
    });
    this.joinWait = new JoinWait(terminal, (roomId) =>
      view.say(
        `Still not added to ${roomId}'s encrypted group: a member's device must be online to add this one. Messages will appear once it does.`,
      ),
    );
    this.backups = new BackupCommands(client, terminal, view);
    this.recovery = new RecoveryCommands(client, terminal, view);
    this.rooms = new RoomCommands({
      client,
      view,
      store,
      history: this.history,
      joinWait: this.joinWait,
      screenful: () => Math.max(10, (process.stdout.rows ?? 24) - 6),
    });
    this.feed = new EventFeed({
      client,
      view,
      store,
      history: this.history,
      connection: this.connection,
      joinWait: this.joinWait,
      backupMessage: () => this.backups.counted(),
      leftRoom: (roomId) => this.rooms.leftRoom(roomId),
    });
  }

  /** Runs until /quit, Ctrl-C or Ctrl-D; the client is stopped and its store closed. */
  async run(): Promise<void> {
    const done = new Promise<void>((resolve) => (this.finished = resolve));
    this.feed.start();
    this.terminal.onLine((line) => {
      const command = parseCommand(line);
      // A message is shown once, as sent (or as waiting), not also as the line typed.
      if (command.kind === 'say' || command.kind === 'me') this.terminal.eraseTyped(line);
      this.enqueue(command);
      // A fresh prompt at once: the next line can be typed while this one's command runs.
      this.terminal.prompt();
    });
    this.terminal.onClose(() => void this.quit());
    this.terminal.onInterrupt(() => void this.quit());
    const { client, view } = this;
    view.select(joinedRooms(client)[0]?.roomId);
    view.say(
      `Signed in as ${localpartOf(client.userId)} (${client.userId}), device ${client.deviceId}. Type /help for the commands, /rooms for your rooms.`,
    );
    if (view.currentRoomId !== undefined) this.rooms.showRecent(view.currentRoomId);
    const waiting = this.outbox.pending();
    if (waiting.length > 0) {
      view.say(`${count(waiting.length, 'message')} typed before, not sent yet: sending now.`);
    }
    client.start();
    void this.outbox.flush();
    this.terminal.prompt();
    await done;
  }

  private enqueue(command: ReturnType<typeof parseCommand>): void {
    this.queue = this.queue.then(() => this.handle(command)).then(() => this.terminal.prompt());
  }

  private async handle(parsed: ReturnType<typeof parseCommand>): Promise<void> {
    if (parsed.kind === 'mistake') return this.view.error(parsed.message);
    try {
      await this.execute(parsed);
    } catch (error) {
      this.view.error(
        error instanceof NoticeError ? error.message : describeError(error, ...actionOf(parsed)),
      );
    }
  }

  private async execute(command: Command): Promise<void> {
    const { rooms, view } = this;
    switch (command.kind) {
      case 'nothing':
        return;
      case 'say':
        return this.send({ msgtype: 'm.text', body: command.text });
      case 'me':
        return this.send({ msgtype: 'm.emote', body: command.text });
      case 'history':
        return this.history.older(view.requireRoom().roomId, command.count);
      case 'help':
        return view.say(helpLines());
      case 'rooms':
        return rooms.rooms();
      case 'create':
        return rooms.create(command.name);
      case 'room':
        return rooms.switchTo(command.target);
      case 'invite':
        return rooms.invite(command.userId);
      case 'join':
        return rooms.join(command.target);
      case 'members':
        return rooms.members();
      case 'whois':
        return rooms.whois(command.user);
      case 'leave':
        return rooms.leave();
      case 'kick':
        return rooms.kick(command.userId, command.reason);
      case 'name':
        return rooms.setName(command.text);
      case 'topic':
        return rooms.setTopic(command.text);
      case 'epochs':
        return rooms.epochs();
      case 'backup':
        return this.backups.backup(command.passphrase);
      case 'restore':
        return this.backups.restore();
      case 'recovery':
        return this.recovery.recovery();
      case 'devices':
        return this.recovery.devices(command.user);
      case 'acceptKey':
        return this.recovery.acceptKey(command.user);
      case 'quit':
        return this.quit();
    }
  }

  /** A message to the current room, through the outbox. */
  private send(content: { msgtype: string; body: string }): void {
    const room = this.view.currentRoom();
    if (!room) {
      throw new NoticeError(
        `No room selected: “${shortText(content.body)}” was not sent. /rooms lists your rooms, /room N picks one.`,
      );
    }
    this.outbox.add(room.roomId, 'm.room.message', content);
  }

  /** A message typed here, as the view shows it. */
  private asMessage(m: PendingMessage) {
    return {
      roomId: m.roomId,
      eventId: `pending:${m.id}`,
      sender: this.client.userId,
      senderDevice: this.client.deviceId,
      type: m.type,
      content: m.content,
      ts: m.queuedAt,
    };
  }

  private async quit(): Promise<void> {
    this.stopping ??= (async () => {
      this.joinWait.stop();
      this.backups.stop();
      this.connection.stop();
      this.feed.stop();
      this.terminal.print('Stopping…');
      try {
        await this.client.close();
      } catch (error) {
        this.terminal.print(describeError(error, 'stop cleanly'));
      }
      // A send cut short by the stop leaves its message in the outbox, for the next run.
      await this.outbox.idle();
      this.store.close();
      this.terminal.close('Stopped.');
      this.finished?.();
    })();
    return this.stopping;
  }
}

function preview(m: PendingMessage): string {
  return shortText(typeof m.content.body === 'string' ? m.content.body : m.type);
}

/** The start of a message, to quote it in a sentence. */
function shortText(body: string): string {
  const text = printable(body);
  return text.length > PREVIEW ? `${text.slice(0, PREVIEW - 1)}…` : text;
}

/** What a command was doing, for "Could not …" sentences, and what it was about. */
function actionOf(command: Command): [string, string?] {
  switch (command.kind) {
    case 'create':
      return ['create the room'];
    case 'invite':
      return [`invite ${command.userId}`, command.userId];
    case 'join':
      return [
        'join the room',
        command.target === undefined ? undefined : `the room ${command.target}`,
      ];
    case 'leave':
      return ['leave the room'];
    case 'kick':
      return [`remove ${command.userId}`, command.userId];
    case 'name':
      return ['rename the room'];
    case 'topic':
      return ['set the topic'];
    case 'history':
      return ['read older messages'];
    case 'backup':
      return ['start the backup'];
    case 'recovery':
      return ['set up cross-signing'];
    case 'devices':
      return ['list the devices', command.user];
    case 'acceptKey':
      return ['accept the new key', command.user];
    default:
      return [`run /${command.kind}`];
  }
}
