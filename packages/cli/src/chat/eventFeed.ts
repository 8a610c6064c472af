/**
 * The SDK's events as the chat shows them: messages (kept in the transcript as they are read),
 * and notices of who did what: membership with its actor and reason, devices added to a room
 * (a device of this user's own that this device has not seen stands out), name and topic
 * changes and the changes they replaced, forks and resolutions, and the connection.
 */
import { ClientError, type Client, type ClientEvents, type GroupMetadata } from '@trellis/client';
import { deviceOf } from '@trellis/dmls';
import type { ChatStore } from './chatStore.js';
import { isUnreachable, type ConnectionWatch } from './connection.js';
import { describeError, reasonAndAdvice } from './errors.js';
import type { History } from './history.js';
import type { JoinWait } from './joinWait.js';
import {
  describeAddedDevice,
  describeBacklog,
  describeCommitRefused,
  describeDeviceTrust,
  describeMasterKeyChanged,
  describeDecryptionFailure,
  describeFork,
  describeInvite,
  describeLoggedOut,
  describeMembership,
  describeMetadata,
  describeOwnRemoval,
  describeRejoin,
  describeRemoved,
  describeReplaced,
  describeResolved,
  describeUnknownOwnDevice,
  describeWelcome,
} from './notices.js';
import { inviteNumber, ownDevices } from './roomState.js';
import { roomLabel } from './text.js';
import type { ChatView } from './view.js';

/** The SDK's code for a message that came before this device was in the room's group. */
const NO_GROUP = 'NO_GROUP';

export interface FeedHost {
  readonly client: Client;
  readonly view: ChatView;
  readonly store: ChatStore;
  readonly history: History;
  readonly connection: ConnectionWatch;
  readonly joinWait: JoinWait;
  /** A message was read from the backup (a restore runs). */
  backupMessage(): void;
  /** This user is no longer in `roomId`. */
  leftRoom(roomId: string): void;
}

export class EventFeed {
  /** Rooms where the backlog this device cannot read was already pointed out. */
  private readonly backlogNoticed = new Set<string>();
  /** `roomId identity` of devices whose addition was told. */
  private readonly toldDevices = new Set<string>();
  /** This user's devices that this device knew of when it started, or was told of since. */
  private readonly knownOwn: Set<string>;
  /** Name and topic of each room as last told. */
  private readonly metadata = new Map<string, GroupMetadata>();
  private readonly off: (() => void)[] = [];
  /** A sync failed for another reason than an absent server, and that was said. */
  private syncTrouble = false;

  constructor(private readonly host: FeedHost) {
    this.knownOwn = ownDevices(host.client);
    for (const roomId of host.client.roomIds()) {
      const room = host.client.room(roomId);
      if (room) this.metadata.set(roomId, room.metadata);
    }
  }

  start(): void {
    const { client, view, connection, joinWait } = this.host;
    const on = <K extends keyof ClientEvents>(
      name: K,
      listener: (event: ClientEvents[K]) => void,
    ) => this.off.push(client.on(name, listener));
    const name = (roomId: string) => (userId: string) => view.name(roomId, userId);

    on('message', (m) => this.message(m));
    on('decryptionFailure', (f) => {
      if (f.code !== NO_GROUP)
        return view.notice(describeDecryptionFailure(f, name(f.roomId)), f.roomId);
      // A new member's device sees the backlog it was not there for: say so once, not per message.
      if (this.backlogNoticed.has(f.roomId)) return;
      this.backlogNoticed.add(f.roomId);
      view.notice(describeBacklog(), f.roomId);
    });
    on('commitRefused', (e) => view.notice(describeCommitRefused(e, name(e.roomId)), e.roomId));
    on('deviceTrust', (e) => {
      const said = describeDeviceTrust(e, (userId) => view.name(view.currentRoomId, userId));
      if (said?.warn) view.warning(said.text);
      else if (said) view.notice(said.text);
    });
    on('masterKeyChanged', (e) =>
      view.warning(describeMasterKeyChanged(e, (userId) => view.name(view.currentRoomId, userId))),
    );
    on('rejoin', (e) => {
      if (e.mine) view.notice(describeRejoin(), e.roomId);
    });
    on('membership', (e) => this.membership(e));
    on('invite', (e) => {
      view.inviters.set(e.roomId, e.inviter);
      const number = inviteNumber(client, view.inviters, e.roomId);
      view.notice(describeInvite(e, number, name(e.roomId)));
    });
    on('commit', (e) => this.commit(e));
    on('fork', (e) => view.notice(describeFork(e), e.roomId));
    on('resolved', (e) => view.notice(describeResolved(e, name(e.roomId)), e.roomId));
    on('welcome', (e) => {
      joinWait.welcomed(e.roomId);
      this.backlogNoticed.delete(e.roomId);
      this.pickIfNone(e.roomId);
      view.notice(describeWelcome(e, name(e.roomId)), e.roomId);
    });
    on('removed', (e) => view.notice(describeRemoved(), e.roomId));
    on('metadata', (e) => {
      const before = this.metadata.get(e.roomId) ?? {};
      this.metadata.set(e.roomId, {
        ...(e.name !== undefined && { name: e.name }),
        ...(e.topic !== undefined && { topic: e.topic }),
      });
      view.notice(describeMetadata(e, before, client.userId, name(e.roomId)), e.roomId);
      if (e.roomId === view.currentRoomId) view.updatePrompt();
    });
    on('metadataReplaced', (e) => view.warning(describeReplaced(e, name(e.roomId)), e.roomId));
    on('backfill', (e) => joinWait.fetched(e.roomId, e.fetched));
    on('syncError', (e) => {
      if (isUnreachable(e.error)) return connection.lost(e.error);
      // The server answers, but not with what syncing needs: said once until a sync succeeds.
      if (this.syncTrouble) return;
      this.syncTrouble = true;
      view.notice(`${describeError(e.error, 'sync with the server')} The chat keeps trying.`);
    });
    on('sync', () => {
      this.syncTrouble = false;
      connection.answered();
    });
    on('loggedOut', (e) => view.notice(describeLoggedOut(e)));
    on('error', (e) => {
      if (e.error instanceof ClientError && e.error.code === 'STOPPED') return;
      view.notice(
        `something failed in the background (${e.context}): ${reasonAndAdvice(e.error)} The client carries on.`,
      );
    });
  }

  stop(): void {
    for (const off of this.off.splice(0)) off();
  }

  private message(m: ClientEvents['message']): void {
    const { store, history, view } = this.host;
    const kept = {
      roomId: m.roomId,
      eventId: m.eventId,
      sender: m.sender,
      senderDevice: m.senderDevice,
      type: m.type,
      content: m.content,
      ts: m.ts,
      source: m.source,
    };
    store.addMessage(kept);
    history.seen(m.roomId, m.eventId);
    if (m.source === 'backup') this.host.backupMessage();
    view.message(kept);
  }

  private membership(e: ClientEvents['membership']): void {
    const { client, view } = this.host;
    if (e.userId !== client.userId) {
      // Until this device is in the room's group, membership events are the room's past (the
      // state a joining device catches up on), not news.
      if (!client.room(e.roomId)?.group) return;
      view.notice(
        describeMembership(e, client.userId, (u) => view.name(e.roomId, u)),
        e.roomId,
      );
      return;
    }
    // This user's own joins and invitations are told by the commands and the invite notice.
    if (e.membership === 'join') return this.pickIfNone(e.roomId);
    if (e.membership !== 'leave' && e.membership !== 'ban') return;
    const room = roomLabel({ roomId: e.roomId, name: client.room(e.roomId)?.metadata.name });
    if (e.sender === client.userId) view.notice(`you left ${room} (on another of your devices).`);
    else view.notice(describeOwnRemoval(e, room, (u) => view.name(e.roomId, u)));
    this.host.leftRoom(e.roomId);
  }

  /** Devices a commit added: each told once per room; an unknown device of this user stands out. */
  private commit(e: ClientEvents['commit']): void {
    const { client, view } = this.host;
    for (const identity of e.added) {
      const key = `${e.roomId} ${identity}`;
      if (
        identity === client.identity ||
        e.removed.includes(identity) ||
        this.toldDevices.has(key)
      ) {
        continue;
      }
      this.toldDevices.add(key);
      const own = deviceOf(identity).userId === client.userId;
      if (own && !this.knownOwn.has(identity)) {
        this.knownOwn.add(identity);
        view.warning(describeUnknownOwnDevice(identity), e.roomId);
      } else {
        view.notice(
          describeAddedDevice(identity, client.userId, (u) => view.name(e.roomId, u)),
          e.roomId,
        );
      }
    }
  }

  /** A room joined while none is selected becomes the current one. */
  private pickIfNone(roomId: string): void {
    const { client, view } = this.host;
    if (view.currentRoom() !== undefined || client.room(roomId)?.membership !== 'join') return;
    view.select(roomId);
  }
}
