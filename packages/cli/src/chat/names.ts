/**
 * People as the chat names them: by the display name they gave themselves in the room, else by
 * their user name (`alice` for `@alice:server`). Two members of a room with one name are told
 * apart by their user ids. Device ids are left to /whois and /members.
 */
import { localpartOf, printable } from './text.js';

/** What naming needs of a room (the SDK's `Room` has it). */
export interface NamedRoom {
  displayName(userId: string): string | undefined;
  joinedUsers(): string[];
}

/** The name of `userId` in `room` (or, without a room, their user name). */
export function nameIn(room: NamedRoom | undefined, userId: string): string {
  const name = nameOf(room, userId);
  const shared = room
    ?.joinedUsers()
    .some((other) => other !== userId && nameOf(room, other) === name);
  return shared ? `${name} (${printable(userId)})` : name;
}

function nameOf(room: NamedRoom | undefined, userId: string): string {
  return printable(room?.displayName(userId) ?? localpartOf(userId));
}
