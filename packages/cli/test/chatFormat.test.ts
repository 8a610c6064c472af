/** What `trellis chat` prints, without a terminal: lines from events and summaries, and errors. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ClientError, type ClientEvents } from '@trellis/client';
import { describeError, describeLoginError } from '../src/chat/errors.js';
import {
  clock,
  describeCommitRefused,
  describeFork,
  describeInvite,
  describeMembership,
  describeResolved,
  describeSyncError,
  formatMessage,
  helpLines,
  memberLines,
  printable,
  recoveryKeyLines,
  restoreReportLines,
  roomListLines,
  shortIdentity,
  type RoomSummary,
} from '../src/chat/format.js';

const AT = new Date(2024, 0, 2, 9, 5, 7);
const EPOCH = { epoch: 3n, creator: '@alice:example.org|LAPTOP' };

function message(overrides: Partial<ClientEvents['message']> = {}): ClientEvents['message'] {
  return {
    roomId: '!room:example.org',
    eventId: '$e',
    sender: '@bob:example.org',
    senderDevice: 'PHONE',
    type: 'm.room.message',
    content: { msgtype: 'm.text', body: 'hello' },
    epoch: EPOCH,
    source: 'live',
    ...overrides,
  };
}

const GARDEN: RoomSummary = {
  roomId: '!garden:example.org',
  name: 'Garden',
  topic: 'plants',
  joinedUsers: 2,
  inGroup: true,
};

describe('chat output', () => {
  test('a message shows the time, the sender and their device, and the body', () => {
    assert.equal(clock(AT), '09:05:07');
    assert.equal(formatMessage(message(), AT), '09:05:07 @bob:example.org (PHONE): hello');
  });

  test('a message of another room is labelled with it; backup and emotes are marked', () => {
    assert.equal(
      formatMessage(message({ source: 'backup' }), AT, GARDEN),
      '09:05:07 [Garden] @bob:example.org (PHONE): hello (from the backup)',
    );
    assert.equal(
      formatMessage(message({ content: { msgtype: 'm.emote', body: 'waves' } }), AT),
      '09:05:07 @bob:example.org (PHONE): * waves',
    );
    assert.equal(
      formatMessage(message({ type: 'm.reaction', content: {} }), AT),
      '09:05:07 @bob:example.org (PHONE): (a m.reaction event)',
    );
  });

  test('text from others cannot move the cursor or forge lines', () => {
    assert.equal(printable('a\x1b[2Jb\nc\u009bd'), 'a�[2Jb ⏎ c�d');
    const line = formatMessage(
      message({ content: { body: 'x\n09:00:00 @alice:x (A): fake' } }),
      AT,
    );
    assert.ok(!line.includes('\n'));
  });

  test('fork, resolution, invitation and membership notices say what happened', () => {
    assert.match(
      describeFork({ roomId: '!r', tips: [EPOCH, { ...EPOCH, creator: '@bob:x|D' }] }),
      /^the room forked: 2 branches/,
    );
    assert.equal(
      describeResolved({
        roomId: '!r',
        eventId: '$r',
        epoch: EPOCH,
        resolves: [EPOCH],
        mine: false,
      }),
      'the fork was resolved by @alice:example.org (LAPTOP): 2 branches merged into epoch 3.',
    );
    assert.equal(
      describeInvite({ roomId: '!r:x', inviter: '@alice:x' }, 2),
      'you were invited by @alice:x to !r:x: type /join 2 to accept.',
    );
    assert.equal(
      describeMembership(
        { roomId: '!r', userId: '@bob:x', membership: 'leave', eventId: '$m' },
        '@alice:x',
      ),
      '@bob:x left (or was removed).',
    );
    assert.equal(
      describeSyncError({ error: new ClientError('NETWORK', 'fetch failed'), retryInMs: 2400 }),
      'cannot reach the server (fetch failed); trying again in 2 s.',
    );
  });

  test('a refused commit is told as a sentence with its code', () => {
    const refused = (code: string, reason = 'why') =>
      describeCommitRefused({ roomId: '!r', eventId: '$c', sender: '@mallory:x', code, reason });
    assert.equal(
      refused('KEY_MISMATCH'),
      'a change to the room’s encryption from @mallory:x was refused: it adds a device under a key that its user did not publish for it: someone posing as that device (KEY_MISMATCH). The room carries on without it.',
    );
    for (const code of [
      'INVALID_RESOLVES',
      'REMOVAL_UNDONE',
      'DUPLICATE_IDENTITY',
      'INVALID_METADATA',
    ]) {
      assert.match(refused(code), new RegExp(`^a change .* was refused: it.* \\(${code}\\)\\.`));
    }
    // A code without a sentence of its own says the SDK's reason.
    assert.match(
      refused('SOMETHING_NEW', 'a new reason\x1b[2J'),
      /refused: a new reason�\[2J \(SOMETHING_NEW\)/,
    );
  });

  test('the room list numbers rooms and invitations and marks the current room', () => {
    const waiting: RoomSummary = {
      ...GARDEN,
      roomId: '!new:x',
      name: undefined,
      topic: undefined,
      joinedUsers: 1,
      inGroup: false,
    };
    assert.deepEqual(
      roomListLines(
        [GARDEN, waiting],
        [{ roomId: '!inv:x', inviter: '@carol:x' }],
        '!garden:example.org',
      ),
      [
        'Your rooms (switch with /room N):',
        '* 1. Garden (!garden:example.org) — plants [2 members]',
        '  2. !new:x [1 member, waiting to be added to the encrypted group]',
        'Invitations (accept with /join N):',
        '  1. !inv:x from @carol:x',
      ],
    );
    assert.match(roomListLines([], [], undefined)[0]!, /\/create/);
  });

  test('members show each device and whether it is in the current epoch', () => {
    const lines = memberLines({
      room: GARDEN,
      members: [
        { userId: '@alice:x', devices: [{ deviceId: 'LAPTOP', inEpoch: true, thisDevice: true }] },
        { userId: '@bob:x', devices: [{ deviceId: 'PHONE', inEpoch: false, thisDevice: false }] },
      ],
      epoch: { epoch: 4n, creator: '@alice:x|LAPTOP' },
      leaving: ['@carol:x|OLD'],
    });
    assert.deepEqual(lines, [
      'Members of Garden:',
      '  @alice:x',
      '    LAPTOP: in the current epoch, this device',
      '  @bob:x',
      '    PHONE: not in the current epoch yet',
      '  @carol:x (OLD): still in the current epoch, leaves with the next commit',
      'Current epoch: 4, created by @alice:x (LAPTOP).',
    ]);
  });

  test('the recovery key is printed with the warning to write it down', () => {
    const lines = recoveryKeyLines('EsAB CDEF', '7').join('\n');
    assert.match(lines, /EsAB CDEF/);
    assert.match(lines, /shown this once only/);
    assert.match(lines, /Write it down/);
  });

  test('a restore reports epochs, messages and what stays unreadable', () => {
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
      '/create',
      '/join',
      '/epochs',
      '/backup passphrase',
      '/restore',
      '/quit',
    ]) {
      assert.ok(help.includes(command), command);
    }
  });
});

describe('chat errors', () => {
  test('errors are sentences that say what to do', () => {
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
        new ClientError('HTTP', 'Desired user ID is already taken.', {
          status: 400,
          errcode: 'M_USER_IN_USE',
        }),
        'create the account',
      ),
      /taken\. Pick another one/,
    );
    assert.equal(describeError(new Error('boom.'), 'do it'), 'Could not do it: boom.');
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
});
