/**
 * What `trellis chat` prints, without a terminal: message and notice lines with their times,
 * names and colours; who-did-what notices; lists; error sentences; passphrase warnings.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BackupError } from '@trellis/backup';
import { MatrixError } from '@trellis/matrix';
import { ClientError, type ClientEvents, type DeviceSignatureCheck } from '@trellis/client';
import {
  describeError,
  describeLoginError,
  describeRecoveryError,
  describeRestoreError,
} from '../src/chat/errors.js';
import { messageLine, noticeLine, warningLine, type ShownMessage } from '../src/chat/lines.js';
import {
  helpLines,
  memberLines,
  recoveryKeyLines,
  restoreReportLines,
  roomListLines,
  type RoomSummary,
} from '../src/chat/lists.js';
import { nameIn } from '../src/chat/names.js';
import {
  describeAddedDevice,
  describeCommitRefused,
  describeConnectionLost,
  describeDeviceTrust,
  describeMasterKeyChanged,
  describeFork,
  describeInvite,
  describeMembership,
  describeMetadata,
  describeOwnRemoval,
  describeReplaced,
  describeResolved,
  describeUnknownOwnDevice,
} from '../src/chat/notices.js';
import { passphraseWeakness } from '../src/chat/passphrase.js';
import { createStyle, senderColour, wantsColour } from '../src/chat/style.js';
import { printable, shortIdentity } from '../src/chat/text.js';
import { clock, timeOf } from '../src/chat/time.js';
import { fingerprint, recoveryStateLines, userDeviceLines } from '../src/chat/trust.js';

const NOW = new Date(2024, 0, 2, 9, 5, 7);
const EARLIER_TODAY = new Date(2024, 0, 2, 8, 1, 2).getTime();
const LAST_WEEK = new Date(2023, 11, 26, 23, 59, 58).getTime();
const EPOCH = { epoch: 3n, creator: '@alice:example.org|LAPTOP' };
const PLAIN = createStyle(false);
const COLOUR = createStyle(true);
const localpart = (userId: string) => userId.replace(/^@([^:]+):.*$/, '$1');

function message(overrides: Partial<ShownMessage> = {}): ShownMessage {
  return {
    sender: '@bob:example.org',
    name: 'bob',
    type: 'm.room.message',
    content: { msgtype: 'm.text', body: 'hello' },
    ts: EARLIER_TODAY,
    source: 'live',
    ...overrides,
  };
}

function membership(overrides: Partial<ClientEvents['membership']>): ClientEvents['membership'] {
  return {
    roomId: '!r',
    userId: '@bob:x',
    membership: 'join',
    eventId: '$m',
    sender: '@bob:x',
    ...overrides,
  };
}

const GARDEN: RoomSummary = {
  roomId: '!garden:example.org',
  name: 'Garden',
  topic: 'plants',
  joinedUsers: 2,
  inGroup: true,
  unread: 0,
};

describe('times', () => {
  test('today as HH:MM:SS; any other day with its date', () => {
    assert.equal(clock(NOW), '09:05:07');
    assert.equal(timeOf(new Date(EARLIER_TODAY), NOW), '08:01:02');
    assert.equal(timeOf(new Date(LAST_WEEK), NOW), '2023-12-26 23:59:58');
  });
});

describe('message lines', () => {
  test('the time the message was sent, the sender’s name, the body', () => {
    assert.equal(messageLine(message(), NOW, PLAIN), '08:01:02 bob: hello');
    assert.equal(
      messageLine(message({ ts: LAST_WEEK }), NOW, PLAIN),
      '2023-12-26 23:59:58 bob: hello',
    );
    // Without a time from the server, the time it is shown.
    assert.equal(messageLine(message({ ts: undefined }), NOW, PLAIN), '09:05:07 bob: hello');
  });

  test('another room is named; restored, late and waiting messages are marked; emotes read as actions', () => {
    assert.equal(
      messageLine(message({ source: 'backup', room: 'Garden' }), NOW, PLAIN),
      '08:01:02 [Garden] bob: hello (from the backup)',
    );
    assert.equal(
      messageLine(message({ source: 'backfill' }), NOW, PLAIN),
      '08:01:02 bob: hello (late)',
    );
    assert.match(
      messageLine(message({ source: 'pending' }), NOW, PLAIN),
      /bob: hello \(not sent yet/,
    );
    assert.equal(
      messageLine(message({ content: { msgtype: 'm.emote', body: 'waves' } }), NOW, PLAIN),
      '08:01:02 * bob waves',
    );
    assert.equal(
      messageLine(message({ type: 'm.reaction', content: {} }), NOW, PLAIN),
      '08:01:02 bob: (a m.reaction event)',
    );
  });

  test('text from others cannot move the cursor or forge lines', () => {
    assert.equal(printable('a\x1b[2Jb\nc\u009bd'), 'a�[2Jb ⏎ c�d');
    const line = messageLine(
      message({ content: { body: 'x\n09:00:00 alice: fake' }, name: 'bob\x1b[31m' }),
      NOW,
      PLAIN,
    );
    assert.ok(!line.includes('\n') && !line.includes('\x1b'), line);
  });
});

describe('colour', () => {
  test('senders in stable colours, times and notices dim, warnings and errors stand out', () => {
    const line = messageLine(message(), NOW, COLOUR);
    const colour = senderColour('@bob:example.org');
    assert.equal(line, `\x1b[2m08:01:02\x1b[0m \x1b[${colour}mbob\x1b[0m: hello`);
    assert.equal(senderColour('@bob:example.org'), colour, 'the same colour every time');
    const colours = new Set(['@a:x', '@b:x', '@c:x', '@d:x', '@e:x', '@f:x'].map(senderColour));
    assert.ok(colours.size > 1, 'senders differ');
    assert.ok(![...colours].includes(31) && ![...colours].includes(91), 'red is for errors');
    assert.equal(
      noticeLine('alice joined.', NOW, COLOUR),
      '\x1b[2m09:05:07 -- alice joined.\x1b[0m',
    );
    assert.equal(warningLine('look', NOW, COLOUR), '\x1b[1;33m09:05:07 !! look\x1b[0m');
    assert.equal(COLOUR.error('no'), '\x1b[31mno\x1b[0m');
  });

  test('none without a terminal, with NO_COLOR, or on a dumb terminal', () => {
    const tty = { isTTY: true };
    assert.equal(wantsColour({}, tty), true);
    assert.equal(wantsColour({}, { isTTY: false }), false);
    assert.equal(wantsColour({}, {}), false);
    assert.equal(wantsColour({ NO_COLOR: '1' }, tty), false);
    assert.equal(wantsColour({ NO_COLOR: '' }, tty), true, 'an empty NO_COLOR is not set');
    assert.equal(wantsColour({ TERM: 'dumb' }, tty), false);
    assert.equal(messageLine(message(), NOW, PLAIN), '08:01:02 bob: hello');
    assert.equal(PLAIN.error('no'), 'no');
  });
});

describe('names', () => {
  test('display names, else the user name; two members of one name are told apart', () => {
    const room = {
      names: { '@bob:x': 'Bob B', '@eve:x': 'twin', '@eve:y': 'twin' } as Record<string, string>,
      displayName(userId: string) {
        return this.names[userId];
      },
      joinedUsers: () => ['@bob:x', '@carol:x', '@eve:x', '@eve:y'],
    };
    assert.equal(nameIn(room, '@bob:x'), 'Bob B');
    assert.equal(nameIn(room, '@carol:x'), 'carol');
    assert.equal(nameIn(room, '@eve:x'), 'twin (@eve:x)');
    assert.equal(nameIn(undefined, '@dave:x'), 'dave');
  });
});

describe('notices say who did what', () => {
  const name = localpart;

  test('joins, invitations, kicks with their actor and reason, bans, leaving', () => {
    assert.equal(describeMembership(membership({}), '@me:x', name), 'bob joined.');
    assert.equal(
      describeMembership(membership({ membership: 'invite', sender: '@alice:x' }), '@me:x', name),
      'alice invited bob.',
    );
    assert.equal(
      describeMembership(
        membership({ membership: 'leave', sender: '@alice:x', reason: 'bye bob' }),
        '@me:x',
        name,
      ),
      'alice removed bob: bye bob',
    );
    assert.equal(
      describeMembership(membership({ membership: 'leave', sender: '@me:x' }), '@me:x', name),
      'you removed bob.',
    );
    assert.equal(
      describeMembership(membership({ membership: 'leave' }), '@me:x', name),
      'bob left.',
    );
    assert.equal(
      describeMembership(
        membership({ membership: 'ban', sender: '@alice:x', reason: 'spam' }),
        '@me:x',
        name,
      ),
      'alice banned bob: spam',
    );
    assert.equal(
      describeOwnRemoval(
        membership({ userId: '@me:x', membership: 'leave', sender: '@alice:x', reason: 'bye' }),
        'Garden',
        name,
      ),
      'alice removed you from Garden: bye',
    );
  });

  test('renames and topics name who made them; a change made before this device joined does not', () => {
    const before = { name: 'Garden', topic: 'plants' };
    assert.equal(
      describeMetadata(
        { roomId: '!r', name: 'Orchard', topic: 'plants', by: '@bob:x|PHONE' },
        before,
        '@me:x',
        name,
      ),
      'bob renamed the room “Orchard”.',
    );
    assert.equal(
      describeMetadata(
        { roomId: '!r', name: 'Garden', topic: 'trees', by: '@me:x|LAPTOP' },
        before,
        '@me:x',
        name,
      ),
      'you set the topic to “trees”.',
    );
    assert.equal(
      describeMetadata({ roomId: '!r', name: 'Garden', by: '@bob:x|PHONE' }, before, '@me:x', name),
      'bob cleared the topic.',
    );
    assert.equal(
      describeMetadata({ roomId: '!r', name: 'Garden', topic: 'plants' }, {}, '@me:x', name),
      'the room is called “Garden” and has the topic “plants”.',
    );
  });

  test('a change replaced by another made at the same time is told to its maker', () => {
    assert.equal(
      describeReplaced(
        { roomId: '!r', field: 'topic', mine: 'apples', value: 'pears', by: '@bob:x|PHONE' },
        name,
      ),
      'your topic change (“apples”) was replaced by bob’s (“pears”), made at the same time.',
    );
  });

  test('devices added to a room name their user; an unknown device of your own warns', () => {
    assert.equal(
      describeAddedDevice('@bob:x|PHONE', '@me:x', name),
      'bob’s device PHONE was added to the room’s encryption.',
    );
    assert.equal(
      describeAddedDevice('@me:x|TABLET', '@me:x', name),
      'your device TABLET was added to the room’s encryption.',
    );
    assert.match(
      describeUnknownOwnDevice('@me:x|EVIL'),
      /new device of yours, EVIL.*someone else did/,
    );
  });

  test('forks, resolutions, invitations and refused commits', () => {
    assert.match(
      describeFork({ roomId: '!r', tips: [EPOCH, { ...EPOCH, creator: '@bob:x|D' }] }),
      /^the room forked: 2 branches/,
    );
    assert.equal(
      describeResolved(
        { roomId: '!r', eventId: '$r', epoch: EPOCH, resolves: [EPOCH], mine: false },
        name,
      ),
      'the fork was resolved by alice: 2 branches merged into epoch 3.',
    );
    assert.equal(
      describeInvite({ roomId: '!r:x', inviter: '@alice:x' }, 2, name),
      'alice (@alice:x) invited you to !r:x: type /join 2 to accept.',
    );
    const refused = (code: string, reason = 'why') =>
      describeCommitRefused(
        { roomId: '!r', eventId: '$c', sender: '@mallory:x', code, reason },
        name,
      );
    assert.equal(
      refused('KEY_MISMATCH'),
      'a change to the room’s encryption from mallory was refused: it adds a device under a key that its user did not publish for it: someone posing as that device (KEY_MISMATCH). The room carries on without it.',
    );
    assert.match(
      refused('SOMETHING_NEW', 'a new reason\x1b[2J'),
      /refused: a new reason�\[2J \(SOMETHING_NEW\)/,
    );
  });

  test('device trust: kept-out devices always said, new or changed ones once the list is known', () => {
    const bob = (userId: string) => (userId === '@bob:x' ? 'bob' : userId);
    const event = (trust: Parameters<typeof describeDeviceTrust>[0]['trust'], firstLook = false) =>
      describeDeviceTrust({ userId: '@bob:x', deviceId: 'EVIL', trust, firstLook }, bob);
    const kept = event({ trusted: false, reason: 'UNSIGNED', message: 'not signed' }, true);
    assert.deepEqual(kept, {
      text: "bob's device EVIL is NOT TRUSTED and is kept out of your rooms: its user did not sign it (cross-signing), and this chat runs with --trust strict.",
      warn: true,
    });
    assert.match(
      event({ trusted: false, reason: 'MASTER_KEY_CHANGED', message: 'm' })!.text,
      /new master key .* accept the new key/,
    );
    assert.equal(event({ trusted: true, signed: true }, true), undefined, 'first look: quiet');
    assert.equal(event({ trusted: true, signed: false }, true), undefined);
    assert.deepEqual(event({ trusted: true, signed: true }), {
      text: "bob's device EVIL is signed by its user.",
      warn: false,
    });
    assert.match(event({ trusted: true, signed: false })!.text, /not signed .* --trust tofu/);
    assert.match(
      describeMasterKeyChanged({ userId: '@bob:x', masterKey: 'K', verified: true }, bob),
      /^bob's master key changed, and you had verified the old one: bob's new devices are kept out/,
    );
  });

  test('a lost connection is a sentence, not an HTTP line', () => {
    const said = describeConnectionLost(new ClientError('NETWORK', 'GET /sync: network error'));
    assert.equal(
      said,
      'cannot reach the server: it does not answer. Messages you type wait here, and go as soon as it answers again.',
    );
    assert.match(
      describeConnectionLost(new ClientError('HTTP', 'GET /sync: 502', { status: 502 })),
      /it answers with errors \(HTTP 502\)/,
    );
  });
});

describe('lists', () => {
  test('rooms and invitations share one numbering; unread counts and the current room show', () => {
    const waiting: RoomSummary = {
      ...GARDEN,
      roomId: '!new:x',
      name: undefined,
      topic: undefined,
      joinedUsers: 1,
      inGroup: false,
      unread: 3,
    };
    assert.deepEqual(
      roomListLines(
        [GARDEN, waiting],
        [{ roomId: '!inv:x', inviter: { userId: '@carol:x', name: 'carol' } }],
        '!garden:example.org',
      ),
      [
        'Your rooms (switch with /room N):',
        '* 1. Garden (!garden:example.org) — plants [2 members]',
        '  2. !new:x [1 member, 3 unread, waiting to be added to the encrypted group]',
        'Invitations (accept with /join N):',
        '  3. !inv:x from carol (@carol:x)',
      ],
    );
    assert.match(roomListLines([], [], undefined)[0]!, /\/create/);
  });

  test('members show names, user ids and each device', () => {
    const lines = memberLines({
      room: GARDEN,
      members: [
        {
          userId: '@alice:x',
          name: 'alice',
          devices: [{ deviceId: 'LAPTOP', inEpoch: true, thisDevice: true }],
        },
        {
          userId: '@bob:x',
          name: 'bob',
          devices: [{ deviceId: 'PHONE', inEpoch: false, thisDevice: false }],
        },
      ],
      epoch: { epoch: 4n, creator: '@alice:x|LAPTOP' },
      leaving: ['@carol:x|OLD'],
    });
    assert.deepEqual(lines, [
      'Members of Garden:',
      '  alice (@alice:x)',
      '    device LAPTOP: in the current epoch, this device',
      '  bob (@bob:x)',
      '    device PHONE: not in the current epoch yet',
      '  @carol:x (OLD): still in the current epoch, leaves with the next commit',
      'Current epoch: 4, created by @alice:x (LAPTOP).',
    ]);
  });

  test('the recovery key comes with the warning; a restore says what it read', () => {
    const lines = recoveryKeyLines('EsAB CDEF', '7').join('\n');
    assert.match(lines, /EsAB CDEF/);
    assert.match(lines, /shown this once only/);
    assert.deepEqual(restoreReportLines({ epochs: 1, messages: 5, unreadable: 0 }), [
      'Restored 1 epoch from the backup and read 5 messages with them.',
    ]);
    assert.match(
      restoreReportLines({ epochs: 2, messages: 0, unreadable: 1 })[1]!,
      /^1 older message stays unreadable/,
    );
  });

  test('identities are shortened for the epoch graph; /help lists every command', () => {
    assert.equal(shortIdentity('@alice:example.org|LAPTOP'), 'alice|LAPTOP');
    const help = helpLines().join('\n');
    for (const command of [
      '/rooms',
      '/me',
      '/history',
      '/whois',
      '/backup passphrase',
      '/restore',
      '/quit',
    ]) {
      assert.ok(help.includes(command), command);
    }
  });
});

describe('errors', () => {
  test('failures are sentences that say what to do', () => {
    assert.equal(
      describeError(new ClientError('NETWORK', 'fetch failed'), 'send the message'),
      'Could not send the message: the server does not answer. Check that it is running and that --server points at it, then try again.',
    );
    assert.match(
      describeError(new ClientError('NOT_READY', 'no group'), 'send the message'),
      /not in the room’s encrypted group yet\. Wait/,
    );
    assert.match(
      describeError(
        new ClientError('HTTP', 'POST /register: 400 M_USER_IN_USE taken', {
          status: 400,
          errcode: 'M_USER_IN_USE',
        }),
        'create the account',
      ),
      /taken\. Pick another one/,
    );
    assert.equal(describeError(new Error('boom.'), 'do it'), 'Could not do it: boom.');
  });

  test('no raw HTTP line: the target named, the server’s own words quoted', () => {
    const raw = 'POST /rooms/!r%3Ax/invite: 404 M_NOT_FOUND Unknown user @zed:x';
    const notFound = new ClientError('HTTP', raw, {
      status: 404,
      errcode: 'M_NOT_FOUND',
      serverError: 'Unknown user @zed:x',
    });
    const said = describeError(notFound, 'invite @zed:x', '@zed:x');
    assert.equal(
      said,
      'Could not invite @zed:x: @zed:x does not exist on the server. Check the spelling and try again.',
    );
    const forbidden = new ClientError(
      'HTTP',
      'POST /rooms/!r/kick: 403 M_FORBIDDEN You do not have…',
      {
        status: 403,
        errcode: 'M_FORBIDDEN',
        serverError: 'You do not have a high enough power level to kick this user',
      },
    );
    const refused = describeError(forbidden, 'remove @bob:x', '@bob:x');
    assert.equal(
      refused,
      'Could not remove @bob:x: the server does not allow it (the server says: You do not have a high enough power level to kick this user).',
    );
    const odd = new ClientError('HTTP', 'PUT /x: 418 M_TEAPOT', {
      status: 418,
      errcode: 'M_TEAPOT',
    });
    for (const text of [said, refused, describeError(odd, 'do it')]) {
      assert.doesNotMatch(text, /\b(POST|PUT|GET) \/|\b40[34]\b/, text);
    }
  });

  test('a refused login says the name or password is wrong', () => {
    const forbidden = new ClientError('HTTP', 'Invalid username or password', {
      status: 403,
      errcode: 'M_FORBIDDEN',
    });
    assert.match(
      describeLoginError(forbidden, false),
      /user name or password is wrong.*--register/,
    );
  });

  test('a failed restore tells a typo from a wrong key, and never suggests a new backup', () => {
    const failed = (code: ConstructorParameters<typeof BackupError>[0]) =>
      describeRestoreError(
        new ClientError('BACKUP', 'the backup cannot be unlocked', {
          cause: new BackupError(code, 'x'),
        }),
      );
    assert.match(failed('RECOVERY_KEY_PARITY'), /recovery key has a typo/);
    assert.match(failed('RECOVERY_KEY_LENGTH'), /too short or too long/);
    assert.match(failed('RECOVERY_KEY_CHARACTER'), /not a recovery key/);
    assert.match(failed('WRONG_KEY'), /wrong key/);
    const none = describeRestoreError(new ClientError('BACKUP', 'the server has no key backup'));
    assert.match(none, /holds no key backup/);
    for (const text of [
      none,
      ...['RECOVERY_KEY_PARITY', 'WRONG_KEY'].map((c) => failed(c as 'WRONG_KEY')),
    ]) {
      assert.doesNotMatch(text, /\/backup|start a backup/, text);
    }
  });
});

describe('backup passphrases', () => {
  test('short, repetitive or common passphrases are weak; long ones are not', () => {
    assert.match(passphraseWeakness('hunter2') ?? '', /7 characters/);
    assert.match(passphraseWeakness('abababababababab') ?? '', /repeats/);
    assert.match(passphraseWeakness('Password123!') ?? '', /password/);
    assert.match(passphraseWeakness('abcdefghijkl') ?? '', /short for the few kinds/);
    assert.equal(passphraseWeakness('correct horse battery staple'), undefined);
    assert.equal(passphraseWeakness('Tr0ub4dor&3-x9!Q'), undefined);
  });
});

describe('cross-signing', () => {
  const MASTER = 'Ab3dEfGhIjKlMnOpQrStUvWxYz0123456789+/abcde';
  const signed: DeviceSignatureCheck = { signed: true, masterKey: MASTER, selfSigningKey: 'S' };
  const unsigned = (fault: 'DEVICE_NOT_SIGNED' | 'NO_MASTER_KEY' | 'SELF_SIGNING_KEY_INVALID') =>
    ({ signed: false, fault, message: fault }) as DeviceSignatureCheck;

  test('a master key is read out in groups of four', () => {
    assert.equal(fingerprint(MASTER), 'Ab3d EfGh IjKl MnOp QrSt UvWx Yz01 2345 6789 +/ab cde');
  });

  test('/devices: each device signed by its user or why not, this device marked', () => {
    const lines = userDeviceLines({
      userId: '@alice:x',
      name: 'alice',
      own: true,
      devices: [
        { deviceId: 'LAPTOP', thisDevice: true, check: signed },
        { deviceId: 'PHONE', thisDevice: false, check: unsigned('DEVICE_NOT_SIGNED') },
      ],
    });
    assert.deepEqual(lines, [
      `Devices of alice (@alice:x), master key ${fingerprint(MASTER)}:`,
      '    device LAPTOP: signed by its user, this device',
      '    device PHONE: not signed by you: /recovery with your recovery key on that device signs it',
    ]);
    // Another user's: no advice to run /recovery; a forged chain says it is not to be trusted.
    const bob = userDeviceLines({
      userId: '@bob:x',
      name: 'bob',
      own: false,
      devices: [
        { deviceId: 'A', thisDevice: false, check: unsigned('DEVICE_NOT_SIGNED') },
        { deviceId: 'B', thisDevice: false, check: unsigned('SELF_SIGNING_KEY_INVALID') },
      ],
    });
    assert.deepEqual(bob, [
      'Devices of bob (@bob:x):',
      '    device A: not signed by its user',
      '    device B: NOT TRUSTED: the self-signing key the server lists is not signed by the master key',
    ]);
    const none = userDeviceLines({
      userId: '@carol:x',
      name: 'carol',
      own: false,
      devices: [{ deviceId: 'C', thisDevice: false, check: unsigned('NO_MASTER_KEY') }],
    });
    assert.match(none[1]!, /C: not signed: this user has not set up cross-signing$/);
    // Devices of one user chaining to two master keys: no single key is named.
    const two = userDeviceLines({
      userId: '@dan:x',
      name: 'dan',
      own: false,
      devices: [
        { deviceId: 'D1', thisDevice: false, check: signed },
        { deviceId: 'D2', thisDevice: false, check: { ...signed, masterKey: 'other' } },
      ],
    });
    assert.equal(two[0], 'Devices of dan (@dan:x):');
  });

  test('/recovery: the master key and whether this device is signed, or why not', () => {
    const shown = recoveryStateLines(MASTER, signed, undefined);
    assert.match(shown[0]!, /this device holds your keys/);
    assert.equal(shown[1], `  master key ${fingerprint(MASTER)}`);
    assert.equal(shown[2], '  this device: signed by its user');
    assert.match(
      recoveryStateLines(MASTER, signed, 'set up')[0]!,
      /under the backup’s recovery key/,
    );
    assert.match(recoveryStateLines(MASTER, signed, 'recovered')[0]!, /recovered/);
    assert.equal(
      recoveryStateLines(MASTER, unsigned('DEVICE_NOT_SIGNED'), undefined)[2],
      '  this device: not signed by you: /recovery signs it',
    );
    const replaced = recoveryStateLines(MASTER, { ...signed, masterKey: 'OTHERKEY' }, undefined);
    assert.match(replaced[2]!, /NOT TRUSTED: the server lists another master key, OTHE RKEY/);
  });

  test('a failed recovery says why, and never suggests new keys', () => {
    const wrong = describeRecoveryError(
      new ClientError('SECRET_STORAGE', 'x', {
        cause: new MatrixError('SECRET_STORAGE_WRONG_KEY', 'the key check fails'),
      }),
    );
    assert.match(wrong, /wrong key.*\/recovery again/);
    const notAKey = describeRecoveryError(
      new ClientError('SECRET_STORAGE', 'x', {
        cause: new MatrixError('INVALID_RECOVERY_KEY', 'the parity byte is wrong'),
      }),
    );
    assert.match(notAKey, /not a recovery key \(the parity byte is wrong\).*without a passphrase/);
    const none = describeRecoveryError(
      new ClientError('SECRET_STORAGE', '@alice:x has no secret storage'),
    );
    assert.match(none, /cannot be read \(@alice:x has no secret storage\)/);
    const stale = describeRecoveryError(
      new ClientError('CROSS_SIGNING', 'the keys are not the published ones'),
    );
    assert.match(stale, /not the ones your account publishes/);
    for (const text of [wrong, notAKey, none, stale])
      assert.doesNotMatch(text, /set up|\/backup/, text);
    assert.match(
      describeRecoveryError(new ClientError('NETWORK', 'down')),
      /^Could not recover the cross-signing keys: the server does not answer/,
    );
  });
});
