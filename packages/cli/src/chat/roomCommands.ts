/**
 * The commands about rooms: listing, creating, switching (with the room's recent history),
 * joining, leaving, inviting and removing people, renaming, and looking at members, one person,
 * and the epoch graph. What the server would refuse for a plain reason (the person is not in
 * the room) is said before asking it.
 */
import type { Client, Room } from '@trellis/client';
import { drawEpochGraph } from '../epochGraph.js';
import type { ChatStore } from './chatStore.js';
import type { History } from './history.js';
import type { JoinWait } from './joinWait.js';
import { memberLines, personLines, roomListLines } from './lists.js';
import { nameIn } from './names.js';
import { joinedRooms, membersView, numbered, pendingInvites, roomSummary } from './roomState.js';
import { localpartOf, printable, roomLabel, shortIdentity } from './text.js';
import { NoticeError, type ChatView } from './view.js';

export interface RoomCommandsHost {
  readonly client: Client;
  readonly view: ChatView;
  readonly store: ChatStore;
  readonly history: History;
  readonly joinWait: JoinWait;
  /** Messages shown when a room becomes the current one. */
  readonly screenful: () => number;
}

export class RoomCommands {
  constructor(private readonly host: RoomCommandsHost) {}

  rooms(): void {
    const { client, view } = this.host;
    view.say(
      roomListLines(
        joinedRooms(client).map((room) => roomSummary(room, view.unreadIn(room.roomId))),
        pendingInvites(client, view.inviters),
        view.currentRoomId,
      ),
    );
  }

  async create(name: string | undefined): Promise<void> {
    const { client, view } = this.host;
    const roomId = await client.createRoom(name === undefined ? {} : { name });
    view.select(roomId);
    view.say(
      `Created the encrypted room ${name === undefined ? roomId : printable(name)} (${roomId}). Invite people with /invite @user:server.`,
    );
  }

  /** Makes a room the current one, and shows its recent history. */
  switchTo(target: string): void {
    const { client, view } = this.host;
    let room: Room | undefined;
    if (/^\d+$/.test(target)) {
      const found = numbered(client, view.inviters, Number(target));
      if (found?.kind === 'invite') {
        throw new NoticeError(`${target} is an invitation you have not accepted: /join ${target}.`);
      }
      room = found?.room;
    } else {
      room = joinedRooms(client).find((r) => r.roomId === target || r.metadata.name === target);
      if (!room && client.room(target)?.membership === 'invite') {
        throw new NoticeError(
          `You are invited to ${target} but have not joined it: /join ${target} first.`,
        );
      }
    }
    if (!room)
      throw new NoticeError(`There is no room ${target}: /rooms lists yours with their numbers.`);
    view.select(room.roomId);
    const s = roomSummary(room, 0);
    view.say(`Now in ${roomLabel(s)}${s.topic ? ` — ${printable(s.topic)}` : ''}.`);
    this.showRecent(room.roomId);
  }

  /** The newest messages of a room, as a new screen of it starts. */
  showRecent(roomId: string): void {
    const shown = this.host.history.showRecent(roomId, this.host.screenful());
    if (shown > 0) this.host.view.say('(/history N shows older messages)');
  }

  async join(target: string | undefined): Promise<void> {
    const { client, view } = this.host;
    const roomId = this.invitation(target);
    await client.joinRoom(roomId);
    view.inviters.delete(roomId);
    view.select(roomId);
    const room = client.room(roomId);
    if (room?.current()) {
      view.say(`Joined ${roomLabel(roomSummary(room, 0))}.`);
      return;
    }
    view.say(
      `Joined ${roomId}. A member’s device adds this one to the encrypted group next; messages follow.`,
    );
    this.host.joinWait.start(roomId);
  }

  /** The room id of the invitation `target` names (a number in /rooms, or an id). */
  private invitation(target: string | undefined): string {
    const { client, view } = this.host;
    const invites = pendingInvites(client, view.inviters);
    if (target === undefined) {
      if (invites.length === 1) return invites[0]!.roomId;
      throw new NoticeError(
        invites.length === 0
          ? 'You have no invitations. Give the room id: /join !id.'
          : 'You have several invitations: /rooms lists them, then /join N.',
      );
    }
    if (!/^\d+$/.test(target)) return target;
    const found = numbered(client, view.inviters, Number(target));
    if (found?.kind === 'invite') return found.roomId;
    if (found?.kind === 'room') {
      throw new NoticeError(`You are in ${target} already: /room ${target} switches to it.`);
    }
    throw new NoticeError(
      `There is no invitation ${target}: /rooms lists them with their numbers.`,
    );
  }

  async leave(): Promise<void> {
    const { client, view, store } = this.host;
    const room = view.requireRoom();
    const label = roomLabel(roomSummary(room, 0));
    await client.leaveRoom(room.roomId);
    store.forgetRoom(room.roomId);
    this.leftRoom(room.roomId);
    view.say(`You left ${label}.`);
  }

  /** This user is no longer in `roomId`: another room becomes the current one. */
  leftRoom(roomId: string): void {
    const { client, view } = this.host;
    if (view.currentRoomId !== roomId && view.currentRoom()) return view.updatePrompt();
    view.select(joinedRooms(client).find((r) => r.roomId !== roomId)?.roomId);
  }

  async invite(userId: string): Promise<void> {
    const { client, view } = this.host;
    const room = view.requireRoom();
    const membership = room.membershipOf(userId);
    const who = nameIn(room, userId);
    if (membership === 'join') throw new NoticeError(`${who} is in this room already.`);
    if (membership === 'invite')
      throw new NoticeError(`${who} is invited already; they join with /join.`);
    await client.invite(room.roomId, userId);
    view.say(
      `Invited ${printable(userId)}. Once they /join, their devices are added to the encrypted group.`,
    );
  }

  async kick(userId: string, reason: string | undefined): Promise<void> {
    const { client, view } = this.host;
    const room = view.requireRoom();
    const membership = room.membershipOf(userId);
    if (membership !== 'join' && membership !== 'invite') {
      throw new NoticeError(`${printable(userId)} is not in this room: there is nobody to remove.`);
    }
    await client.kick(room.roomId, userId, reason);
    view.say(
      `Removed ${nameIn(room, userId)}; their devices leave the encrypted group with the next commit.`,
    );
  }

  async setName(text: string): Promise<void> {
    const { client, view } = this.host;
    await client.setRoomMetadata(view.requireRoom().roomId, { name: text });
  }

  async setTopic(text: string): Promise<void> {
    const { client, view } = this.host;
    await client.setRoomMetadata(view.requireRoom().roomId, { topic: text });
  }

  members(): void {
    const { client, view } = this.host;
    view.say(memberLines(membersView(client, view.requireRoom())));
  }

  /** One member of the current room: user id, name and devices. */
  whois(who: string): void {
    const { client, view } = this.host;
    const room = view.requireRoom();
    const { members } = membersView(client, room);
    const member = who.startsWith('@')
      ? members.find((m) => m.userId === who)
      : members.find((m) => m.name === who || localpartOf(m.userId) === who);
    if (!member)
      throw new NoticeError(
        `There is nobody called ${printable(who)} in this room: /members lists them.`,
      );
    view.say(personLines(member));
  }

  epochs(): void {
    const { view } = this.host;
    const room = view.requireRoom();
    const group = room.group;
    if (!group) {
      throw new NoticeError(
        'This device is not in the room’s encrypted group yet, so it knows no epochs: wait until a member’s device adds it.',
      );
    }
    const tips = group.tips().length;
    const current = room.current()?.key;
    view.say([
      ...drawEpochGraph(group.epochs(), {
        ...(current !== undefined && { current }),
        device: shortIdentity,
      }).split('\n'),
      tips > 1
        ? `The room has forked: ${tips} branches wait to be merged.`
        : 'One branch: the room has not forked (or every fork was resolved).',
    ]);
  }
}
