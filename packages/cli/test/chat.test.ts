/**
 * `trellis chat` in a real terminal: a Trellis server runs in this process, and each chat runs
 * in a pseudo-terminal whose screen a headless terminal emulator draws (helpers/ptyChat.ts).
 * The steps build on each other, as one session of three people would:
 *
 * - alice signs up (typing her password at the hidden prompt), creates a room, invites bob; each
 *   reads the other's message live, with its time and the sender's name in their colour;
 * - a second chat on alice's store is refused, naming the process that holds it;
 * - alice removes carol with a reason: everyone reads who did it and why, and carol's prompt no
 *   longer names the room;
 * - alice is warned off a weak backup passphrase, and makes a backup with a recovery key;
 * - alice signs in on a second device: bob is told of it, and alice's first device warns her;
 * - the second device restores the history from the backup, with the times messages were sent
 *   (a mistyped recovery key is reported as such first);
 * - the server stops: what alice types waits, and is sent, in order, when the server is back;
 * - bob restarts his chat, and reads the room's history with the times messages were sent.
 *
 * With TRELLIS_CHAT_SCREENS=path, the screens at the end are written to that file (the session
 * shown in docs/chat-session.md).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { senderColour } from '../src/chat/style.js';
import { clock } from '../src/chat/time.js';
import { ChatServer } from './helpers/chatServer.js';
import { PtyChat } from './helpers/ptyChat.js';

/** `HH:MM:SS name: body` on a line of its own (no suffix such as "not sent yet"). */
const line = (name: string, body: string) =>
  new RegExp(`^(\\d\\d:\\d\\d:\\d\\d) ${name}: ${body}$`, 'm');

/** The palette index of an SGR foreground colour (31 is 1, 91 is 9). */
const palette = (sgr: number) => (sgr >= 90 ? sgr - 90 + 8 : sgr - 30);

describe('trellis chat in a terminal', { timeout: 30 * 60_000 }, () => {
  let dir: string;
  let server: ChatServer;
  const chats: PtyChat[] = [];
  const store = (name: string) => join(dir, `${name}.sqlite`);
  const start = (name: string, args: string[]) => {
    const chat = new PtyChat(name, args);
    chats.push(chat);
    return chat;
  };
  const signUp = (user: string, more: string[] = []) =>
    start(user, [
      '--server',
      server.url,
      '--user',
      user,
      '--register',
      '--store',
      store(user),
      ...more,
    ]);

  let alice: PtyChat;
  let bob: PtyChat;
  let alice2: PtyChat;
  /** When alice's first message was sent, as bob's screen showed it live. */
  let firstSent: string;
  let recoveryKey: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-chat-'));
    server = new ChatServer(join(dir, 'server.db'));
    await server.start();
  });

  after(async () => {
    const path = process.env.TRELLIS_CHAT_SCREENS;
    if (path) {
      const screens = chats.map((c) => `## ${c.name}\n\n\`\`\`text\n${c.screen()}\n\`\`\`\n`);
      writeFileSync(path, screens.join('\n'));
    }
    for (const chat of chats) chat.kill();
    await server.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('alice and bob sign up, share a room and read each other live', async () => {
    alice = signUp('alice');
    await alice.waitFor('Password for alice:', 'the password prompt');
    alice.type('alice-secret-pw');
    const screen = await alice.waitFor('Signed in as alice (@alice:localhost)', 'alice signing in');
    assert.ok(!screen.includes('alice-secret-pw'), `the password was echoed:\n${screen}`);

    bob = signUp('bob', ['--password', 'bob-pw']);
    await bob.waitFor('Signed in as bob (@bob:localhost)', 'bob signing in');

    alice.type('/create Garden');
    await alice.waitFor('Created the encrypted room Garden', 'the room being created');
    await alice.waitFor('[Garden] >', 'the prompt naming the room');
    alice.type('/invite @bob:localhost');
    await alice.waitFor('Invited @bob:localhost', 'the invitation');

    await bob.waitFor('alice (@alice:localhost) invited you', 'the invitation reaching bob');
    bob.type('/join 1');
    await bob.waitFor(/joined the room.s encrypted group/, 'bob being added to the group');
    await bob.waitFor('[Garden] >', 'bob in the room, named');
    await alice.waitFor(
      /bob’s device \w+ was added to the room’s encryption/,
      'bob’s device, told',
    );

    alice.type('hello from alice');
    [, firstSent] = (await bob.match(line('alice', 'hello from alice'), 'alice’s message')) as [
      string,
      string,
    ];
    bob.type('hi from bob');
    await alice.waitFor(line('bob', 'hi from bob'), 'bob’s answer');
    bob.type('/me waves');
    await alice.waitFor(/^\d\d:\d\d:\d\d \* bob waves$/m, 'an action');

    // Each message is on screen once: as sent, not also as the line typed.
    const own = alice
      .screen()
      .split('\n')
      .filter((l) => l.includes('hello from alice'));
    assert.equal(own.length, 1, `alice's message is shown once:\n${alice.screen()}`);
    // Senders in their colours.
    assert.equal(bob.colourOf('alice: hello'), palette(senderColour('@alice:localhost')));
    assert.equal(alice.colourOf('bob: hi from bob'), palette(senderColour('@bob:localhost')));

    bob.type('/nonsense');
    await bob.waitFor('There is no command /nonsense: type /help', 'the unknown-command sentence');
  });

  test('a second chat on a store in use is refused, naming the process that holds it', async () => {
    const again = start('alice, twice', ['--server', server.url, '--store', store('alice')]);
    assert.equal(await again.exited(), 1);
    const screen = again.screen();
    assert.match(screen, new RegExp(`is in use by process ${alice.pid}\\b`));
    assert.match(screen, /Quit the other trellis chat first/);
  });

  test('a kick says who removed whom and why; the removed user has no room left', async () => {
    const carol = signUp('carol', ['--password', 'carol-pw']);
    await carol.waitFor('Signed in as carol', 'carol signing in');
    alice.type('/invite @carol:localhost');
    await carol.waitFor('invited you', 'the invitation reaching carol');
    carol.type('/join');
    await carol.waitFor(/joined the room.s encrypted group/, 'carol being added');
    await bob.waitFor(/carol’s device \w+ was added to the room’s encryption/, 'carol’s device');

    alice.type('/kick @carol:localhost bye carol');
    await bob.waitFor('alice removed carol: bye carol', 'the kick, with actor and reason');
    await carol.waitFor('alice removed you from Garden: bye carol', 'carol told she was removed');
    carol.type('still here?');
    await carol.waitFor('No room selected: “still here?” was not sent', 'carol has no room');
    // The prompt is drawn again after the sentence: wait for it rather than race it.
    await carol.waitFor(/\[no room\] >\s*$/, 'the prompt no longer naming the room');
    carol.type('/quit');
    assert.equal(await carol.exited(), 0);
  });

  test('a new device of alice is announced to bob, and stands out on alice’s other device', async () => {
    // A weak passphrase is warned about, and the backup waits for a yes.
    alice.type('/backup passphrase');
    await alice.waitFor('Passphrase for the backup (not shown):', 'the passphrase prompt');
    alice.type('hunter2');
    await alice.waitFor('This passphrase is weak', 'the warning');
    await alice.waitFor('Use it anyway? Type yes to go on:', 'the question');
    alice.type('no');
    await alice.waitFor('The backup was not started', 'no backup with a weak passphrase');
    alice.type('/backup');
    [, recoveryKey] = (await alice.match(/RECOVERY KEY.*\n\n {2}(\S[\w ]+\S)\n/, 'the key')) as [
      string,
      string,
    ];
    alice2 = start('alice’s second device', [
      ...['--server', server.url, '--user', 'alice', '--password', 'alice-secret-pw'],
      ...['--store', store('alice2')],
    ]);
    const [, device] = (await alice2.match(/Signed in as alice .*, device (\w+)\./, 'login')) as [
      string,
      string,
    ];
    await alice2.waitFor(/joined the room.s encrypted group/, 'the second device added');
    await bob.waitFor(`alice’s device ${device} was added to the room’s encryption`, 'told bob');
    await alice.waitFor(`!! a new device of yours, ${device}, was added`, 'the warning to alice');
  });

  test('a restore shows the messages with the times they were sent', async () => {
    // What was sent before this device joined cannot be read here: /history says so, once.
    alice2.type('/history 10');
    await alice2.waitFor(
      /3 older messages cannot be read on this device: .*\/restore reads them/,
      'the unreadable history pointed out',
    );
    // Meaningful only if now is not the time the message was sent.
    assert.notEqual(clock(new Date()), firstSent);
    alice2.type('/restore');
    await alice2.waitFor('Recovery key or passphrase (not shown):', 'the restore prompt');
    const typo = recoveryKey.replace(
      /^(\S{4} \S)(\S)/,
      (_, head: string, c: string) => head + (c === 'a' ? 'b' : 'a'),
    );
    alice2.type(typo);
    await alice2.waitFor(
      /Nothing was restored: (the recovery key has a typo|that is the wrong key)/,
      'the typo',
    );
    assert.doesNotMatch(alice2.screen(), /\/backup/, 'no new backup is suggested');
    alice2.type('/restore');
    await alice2.waitFor(
      /Recovery key or passphrase(.|\n)*Recovery key or passphrase/,
      'asked again',
    );
    alice2.type(recoveryKey);
    await alice2.waitFor(/Restored \d+ epochs? from the backup/, 'the restore');
    await alice2.waitFor(
      `${firstSent} alice: hello from alice (from the backup)`,
      'the restored message, with the time it was sent',
    );
  });

  test('what is typed while the server is away waits, and is sent in order when it is back', async () => {
    await server.stop();
    await alice.waitFor('cannot reach the server', 'alice told the server is away');
    alice.type('first while away');
    alice.type('second while away');
    await alice.waitFor(/second while away \(not sent yet/, 'the messages waiting');
    await server.start();
    await alice.waitFor('reconnected', 'alice told the server is back');
    await bob.waitFor(line('alice', 'second while away'), 'the messages reaching bob');
    const screen = bob.screen();
    assert.ok(
      screen.indexOf('alice: first while away') < screen.indexOf('alice: second while away'),
      `in the order typed:\n${screen}`,
    );
    await alice.waitFor(line('alice', 'second while away'), 'alice’s own copy, sent');
  });

  test('a restarted chat shows the room’s history with the times messages were sent', async () => {
    bob.type('/quit');
    assert.equal(await bob.exited(), 0);
    assert.notEqual(clock(new Date()), firstSent);
    const restarted = start('bob, restarted', ['--server', server.url, '--store', store('bob')]);
    await restarted.waitFor('Signed in as bob', 'bob back');
    await restarted.waitFor(`${firstSent} alice: hello from alice`, 'the history, with its times');
    await restarted.waitFor(line('alice', 'second while away'), 'the newest messages too');
    restarted.type('/quit');
    assert.equal(await restarted.exited(), 0);
    for (const chat of [alice, alice2]) chat.type('/quit');
    for (const chat of [alice, alice2])
      assert.equal(await chat.exited(), 0, `${chat.name} exits 0`);
  });
});
