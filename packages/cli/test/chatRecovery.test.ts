/**
 * Cross-signing in `trellis chat`, in real terminals against a Trellis server in this process
 * (helpers/ptyChat.ts): alice is told to make a backup before /recovery, makes one, sets up
 * cross-signing with /recovery; a second device of hers is listed by /devices as not signed,
 * refuses a wrong key, then recovers with the recovery key typed at a hidden prompt, and
 * /devices on the first device shows both signed by their user, against one master key.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ChatServer } from './helpers/chatServer.js';
import { PtyChat } from './helpers/ptyChat.js';

describe('trellis chat: /recovery and /devices', { timeout: 30 * 60_000 }, () => {
  let dir: string;
  let server: ChatServer;
  const chats: PtyChat[] = [];
  const start = (name: string, store: string, more: string[]) => {
    const chat = new PtyChat(name, [
      ...['--server', server.url, '--user', 'alice', '--store', join(dir, `${store}.sqlite`)],
      ...more,
    ]);
    chats.push(chat);
    return chat;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-chat-recovery-'));
    server = new ChatServer(join(dir, 'server.db'));
    await server.start();
  });

  after(async () => {
    for (const chat of chats) chat.kill();
    await server.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('set up on one device, recovered on another: both signed by their user', async () => {
    const alice = start('alice', 'alice', ['--register', '--password', 'alice-pw']);
    const [, first] = (await alice.match(/Signed in as alice .*, device (\w+)\./, 'login')) as [
      string,
      string,
    ];
    alice.type('/recovery');
    await alice.waitFor('run /backup first', 'no cross-signing without a backup');
    alice.type('/backup');
    const [, recoveryKey] = (await alice.match(
      /RECOVERY KEY.*\n\n {2}(\S[\w ]+\S)\n/,
      'the recovery key',
    )) as [string, string];
    alice.type('/recovery');
    await alice.waitFor('Cross-signing is set up: your new keys', 'the set-up');
    const [, fingerprint] = (await alice.match(
      / {2}master key ([\w+/ ]+)\n {2}this device: signed by its user/,
      'the master key, this device signed',
    )) as [string, string];
    alice.type('/recovery');
    await alice.waitFor('this device holds your keys', 'the state, shown again');

    const alice2 = start('alice’s second device', 'alice2', ['--password', 'alice-pw']);
    const [, second] = (await alice2.match(/Signed in as alice .*, device (\w+)\./, 'login')) as [
      string,
      string,
    ];
    assert.notEqual(first, second);
    alice.type('/devices');
    await alice.waitFor(
      `device ${second}: not signed by you: /recovery with your recovery key on that device signs it`,
      'the new device, not signed yet',
    );

    alice2.type('/recovery');
    await alice2.waitFor('Recovery key or passphrase (not shown):', 'the hidden prompt');
    alice2.type('not the recovery key');
    await alice2.waitFor(
      'This device was not signed: that is not a recovery key',
      'a passphrase refused: the backup has none',
    );
    alice2.type('/recovery');
    await alice2.waitFor(
      /Recovery key or passphrase(.|\n)*Recovery key or passphrase \(not shown\):/,
      'asked again',
    );
    alice2.type(recoveryKey);
    await alice2.waitFor('Cross-signing keys recovered', 'the recovery');
    const screen = await alice2.waitFor(
      `  master key ${fingerprint}\n  this device: signed by its user`,
      'the same master key, this device signed',
    );
    assert.ok(!screen.includes(recoveryKey), `the recovery key was echoed:\n${screen}`);

    alice.type('/devices @alice:localhost');
    const devices = await alice.waitFor(
      `device ${second}: signed by its user\n`,
      'the second device, signed',
    );
    const listing = devices.slice(devices.lastIndexOf('Devices of alice'));
    assert.ok(
      listing.startsWith(`Devices of alice (@alice:localhost), master key ${fingerprint}:`),
      listing,
    );
    assert.match(listing, new RegExp(`device ${first}: signed by its user, this device\\n`));

    for (const chat of [alice, alice2]) chat.type('/quit');
    for (const chat of [alice, alice2])
      assert.equal(await chat.exited(), 0, `${chat.name} exits 0`);
  });
});
