/**
 * What the user typed, as a command: plain text is a message to the current room, a line that
 * starts with `/` is a slash command. Parsing is pure; a mistake comes back as a sentence that
 * says what to type instead.
 */

export type Command =
  | { readonly kind: 'say'; readonly text: string }
  | { readonly kind: 'me'; readonly text: string }
  | { readonly kind: 'history'; readonly count: number }
  | { readonly kind: 'whois'; readonly user: string }
  | { readonly kind: 'help' }
  | { readonly kind: 'rooms' }
  | { readonly kind: 'create'; readonly name: string | undefined }
  | { readonly kind: 'room'; readonly target: string }
  | { readonly kind: 'invite'; readonly userId: string }
  | { readonly kind: 'join'; readonly target: string | undefined }
  | { readonly kind: 'members' }
  | { readonly kind: 'leave' }
  | { readonly kind: 'kick'; readonly userId: string; readonly reason: string | undefined }
  | { readonly kind: 'name'; readonly text: string }
  | { readonly kind: 'topic'; readonly text: string }
  | { readonly kind: 'epochs' }
  | { readonly kind: 'backup'; readonly passphrase: boolean }
  | { readonly kind: 'restore' }
  | { readonly kind: 'recovery' }
  /** `user` is a user id or a member's name; undefined for oneself. */
  | { readonly kind: 'devices'; readonly user: string | undefined }
  | { readonly kind: 'acceptKey'; readonly user: string }
  | { readonly kind: 'quit' }
  | { readonly kind: 'nothing' };

export type Parsed = Command | { readonly kind: 'mistake'; readonly message: string };

/** Messages /history shows when no number is given. */
export const DEFAULT_HISTORY = 20;
/** Most messages one /history shows. */
const MAX_HISTORY = 1000;

/** One line per command, for /help. */
export const COMMAND_HELP: readonly (readonly [string, string])[] = [
  ['/rooms', 'list your rooms and invitations (one numbering), with unread counts'],
  ['/create [name]', 'create an encrypted room and switch to it'],
  ['/room N|ID', 'switch to a room by its number in /rooms or its id'],
  ['/me TEXT', 'send TEXT as an action (* alice waves)'],
  ['/history [N]', `show N older messages of the room (default ${DEFAULT_HISTORY})`],
  ['/invite @user:server', 'invite someone to the current room'],
  ['/join [N|ID]', 'accept an invitation (its number in /rooms, or its room id)'],
  ['/members', 'who is in the room, their devices, and which are in the current epoch'],
  ['/whois NAME|@user:server', 'a member’s user id and devices'],
  ['/leave', 'leave the current room'],
  ['/kick @user:server [reason]', 'remove someone from the current room'],
  ['/name TEXT', 'rename the current room'],
  ['/topic TEXT', 'set the current room’s topic'],
  ['/epochs', 'draw the room’s epoch graph (forks and resolutions)'],
  ['/backup', 'start a key backup with a new recovery key (shown once)'],
  ['/backup passphrase', 'start a key backup unlocked by a passphrase'],
  ['/restore', 'read old messages from the key backup (asks for the key or passphrase)'],
  [
    '/recovery',
    'set up cross-signing under the backup’s key, sign this device with it, or show it',
  ],
  [
    '/devices [NAME|@user:server]',
    'a user’s devices (yours by default), and which their user signed',
  ],
  [
    '/accept-key NAME|@user:server',
    'accept a user’s new master key (after you checked it) when you had verified the old one',
  ],
  ['/quit', 'stop (Ctrl-D and Ctrl-C too)'],
];

export function parseCommand(line: string): Parsed {
  const trimmed = line.trim();
  if (trimmed === '') return { kind: 'nothing' };
  // `//text` sends `/text`, for messages that must start with a slash.
  if (trimmed.startsWith('//')) return { kind: 'say', text: line.trimEnd().replace(/^\s*\//, '') };
  if (!trimmed.startsWith('/')) return { kind: 'say', text: line.trimEnd() };

  const space = trimmed.search(/\s/);
  const name = (space === -1 ? trimmed.slice(1) : trimmed.slice(1, space)).toLowerCase();
  const rest = space === -1 ? '' : trimmed.slice(space).trim();
  const words = rest === '' ? [] : rest.split(/\s+/);

  switch (name) {
    case 'help':
    case '?':
      return { kind: 'help' };
    case 'rooms':
      return { kind: 'rooms' };
    case 'me':
      if (rest === '') return mistake('Say what you do: /me waves.');
      return { kind: 'me', text: rest };
    case 'history': {
      if (rest === '') return { kind: 'history', count: DEFAULT_HISTORY };
      const n = /^\d+$/.test(rest) ? Number(rest) : NaN;
      if (!(n >= 1 && n <= MAX_HISTORY)) {
        return mistake(`Say how many older messages: /history N, N from 1 to ${MAX_HISTORY}.`);
      }
      return { kind: 'history', count: n };
    }
    case 'whois':
      if (words.length !== 1) return mistake('Say whom: /whois bob or /whois @bob:server.');
      return { kind: 'whois', user: words[0]! };
    case 'create':
      return { kind: 'create', name: rest === '' ? undefined : rest };
    case 'room':
      if (words.length !== 1)
        return mistake('Say which room: /room N (its number in /rooms) or /room !id.');
      return { kind: 'room', target: words[0]! };
    case 'invite': {
      const userId = words[0];
      if (words.length !== 1 || !isUserId(userId!)) {
        return mistake('Say whom to invite as a full user id: /invite @bob:server.');
      }
      return { kind: 'invite', userId: userId! };
    }
    case 'join':
      if (words.length > 1)
        return mistake('Say which invitation: /join N (its number in /rooms) or /join !id.');
      return { kind: 'join', target: words[0] };
    case 'members':
    case 'who':
      return { kind: 'members' };
    case 'leave':
    case 'part':
      return { kind: 'leave' };
    case 'kick': {
      const userId = words[0];
      if (userId === undefined || !isUserId(userId)) {
        return mistake('Say whom to remove as a full user id: /kick @bob:server [reason].');
      }
      const reason = rest.slice(userId.length).trim();
      return { kind: 'kick', userId, reason: reason === '' ? undefined : reason };
    }
    case 'name':
      if (rest === '') return mistake('Give the new name: /name TEXT.');
      return { kind: 'name', text: rest };
    case 'topic':
      if (rest === '') return mistake('Give the new topic: /topic TEXT.');
      return { kind: 'topic', text: rest };
    case 'epochs':
      return { kind: 'epochs' };
    case 'backup':
      if (rest === '') return { kind: 'backup', passphrase: false };
      if (rest.toLowerCase() === 'passphrase') return { kind: 'backup', passphrase: true };
      return mistake('Type /backup for a recovery key, or /backup passphrase to use a passphrase.');
    case 'restore':
      return { kind: 'restore' };
    case 'recovery':
      if (rest !== '') return mistake('/recovery takes nothing after it: type just /recovery.');
      return { kind: 'recovery' };
    case 'devices':
      if (words.length > 1)
        return mistake(
          'Say whose devices: /devices for yours, /devices bob or /devices @bob:server.',
        );
      return { kind: 'devices', user: words[0] };
    case 'accept-key':
      if (words.length !== 1)
        return mistake('Say whose key: /accept-key bob or /accept-key @bob:server.');
      return { kind: 'acceptKey', user: words[0]! };
    case 'quit':
    case 'exit':
      return { kind: 'quit' };
    default:
      return mistake(`There is no command /${name}: type /help for the list.`);
  }
}

function mistake(message: string): Parsed {
  return { kind: 'mistake', message };
}

/** `@local:server`, as Matrix user ids are written. */
export function isUserId(text: string): boolean {
  return /^@[^:\s]+:\S+$/.test(text);
}
