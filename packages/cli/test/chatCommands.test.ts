/** The lines `trellis chat` reads, and its command-line options. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { defaultStoreName, parseChatArgs, UsageError } from '../src/chat/args.js';
import { DEFAULT_HISTORY, parseCommand } from '../src/chat/commands.js';

const BIN = fileURLToPath(new URL('../bin/trellis.js', import.meta.url));
const PACKAGE = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

describe('chat commands', () => {
  test('plain lines are messages; // sends a line that starts with a slash', () => {
    assert.deepEqual(parseCommand('hello there  '), { kind: 'say', text: 'hello there' });
    assert.deepEqual(parseCommand('//shrug'), { kind: 'say', text: '/shrug' });
    assert.deepEqual(parseCommand('   '), { kind: 'nothing' });
  });

  test('slash commands and their arguments', () => {
    assert.deepEqual(parseCommand('/create Rose garden'), { kind: 'create', name: 'Rose garden' });
    assert.deepEqual(parseCommand('/create'), { kind: 'create', name: undefined });
    assert.deepEqual(parseCommand('/ROOM 2'), { kind: 'room', target: '2' });
    assert.deepEqual(parseCommand('/invite @bob:example.org'), {
      kind: 'invite',
      userId: '@bob:example.org',
    });
    assert.deepEqual(parseCommand('/join'), { kind: 'join', target: undefined });
    assert.deepEqual(parseCommand('/kick @bob:x being rude'), {
      kind: 'kick',
      userId: '@bob:x',
      reason: 'being rude',
    });
    assert.deepEqual(parseCommand('/topic  all about roses '), {
      kind: 'topic',
      text: 'all about roses',
    });
    assert.deepEqual(parseCommand('/backup'), { kind: 'backup', passphrase: false });
    assert.deepEqual(parseCommand('/backup passphrase'), { kind: 'backup', passphrase: true });
    assert.deepEqual(parseCommand('/quit'), { kind: 'quit' });
  });

  test('/me, /history and /whois', () => {
    assert.deepEqual(parseCommand('/me waves  at all'), { kind: 'me', text: 'waves  at all' });
    assert.deepEqual(parseCommand('/history'), { kind: 'history', count: DEFAULT_HISTORY });
    assert.deepEqual(parseCommand('/history 50'), { kind: 'history', count: 50 });
    assert.deepEqual(parseCommand('/whois bob'), { kind: 'whois', user: 'bob' });
    assert.deepEqual(parseCommand('/whois @bob:x'), { kind: 'whois', user: '@bob:x' });
    for (const wrong of [
      '/me',
      '/history 0',
      '/history -3',
      '/history lots',
      '/history 1001',
      '/whois',
      '/whois a b',
    ]) {
      assert.equal(parseCommand(wrong).kind, 'mistake', wrong);
    }
    assert.match((parseCommand('/history x') as { message: string }).message, /\/history N/);
  });

  test('/recovery, and /devices for oneself or another user', () => {
    assert.deepEqual(parseCommand('/recovery'), { kind: 'recovery' });
    assert.deepEqual(parseCommand('/Recovery  '), { kind: 'recovery' });
    assert.deepEqual(parseCommand('/devices'), { kind: 'devices', user: undefined });
    assert.deepEqual(parseCommand('/devices @bob:x'), { kind: 'devices', user: '@bob:x' });
    assert.deepEqual(parseCommand('/devices  bob '), { kind: 'devices', user: 'bob' });
    assert.deepEqual(parseCommand('/accept-key bob'), { kind: 'acceptKey', user: 'bob' });
    assert.equal(parseCommand('/accept-key').kind, 'mistake');
    const extra = parseCommand('/recovery now');
    assert.equal(extra.kind, 'mistake');
    assert.match((extra as { message: string }).message, /just \/recovery/);
    const two = parseCommand('/devices bob carol');
    assert.equal(two.kind, 'mistake');
    assert.match((two as { message: string }).message, /\/devices @bob:server/);
  });

  test('mistakes come back as sentences that say what to type', () => {
    assert.deepEqual(parseCommand('/frobnicate'), {
      kind: 'mistake',
      message: 'There is no command /frobnicate: type /help for the list.',
    });
    const invite = parseCommand('/invite bob');
    assert.equal(invite.kind, 'mistake');
    assert.match((invite as { message: string }).message, /\/invite @bob:server/);
    assert.equal(parseCommand('/room').kind, 'mistake');
    assert.equal(parseCommand('/name').kind, 'mistake');
    assert.equal(parseCommand('/backup now').kind, 'mistake');
  });
});

describe('the trellis command', () => {
  test('--version says the version', () => {
    const out = spawnSync(process.execPath, [BIN, '--version'], { encoding: 'utf8' });
    assert.equal(out.status, 0);
    assert.equal(out.stdout, `trellis ${PACKAGE.version}\n`);
  });
});

describe('chat options', () => {
  const home = '/home/ann';

  test('defaults: the local server and a store named for the server and user', () => {
    const parsed = parseChatArgs(['--user', 'alice'], {}, home);
    assert.deepEqual(parsed, {
      kind: 'run',
      options: {
        server: 'http://127.0.0.1:8008',
        user: 'alice',
        password: undefined,
        register: false,
        deviceId: undefined,
        storePath: '/home/ann/.trellis/127.0.0.1_8008-alice.sqlite',
        trustPolicy: 'tofu',
      },
    });
    const strict = parseChatArgs(['--user', 'alice', '--trust', 'strict'], {}, home);
    assert.equal(strict.kind === 'run' && strict.options.trustPolicy, 'strict');
    assert.throws(
      () => parseChatArgs(['--user', 'alice', '--trust', 'maybe'], {}, home),
      (e: unknown) => e instanceof UsageError && /strict or tofu/.test(e.message),
    );
    assert.equal(
      defaultStoreName('https://chat.example.org/', '@bob:example.org'),
      'chat.example.org-bob.sqlite',
    );
  });

  test('the password may come from TRELLIS_PASSWORD; --password wins', () => {
    const env = { TRELLIS_PASSWORD: 'from-env' };
    const fromEnv = parseChatArgs(['--user', 'a'], env, home);
    assert.equal(fromEnv.kind === 'run' && fromEnv.options.password, 'from-env');
    const given = parseChatArgs(['--user', 'a', '--password', 'given'], env, home);
    assert.equal(given.kind === 'run' && given.options.password, 'given');
  });

  test('--help, and mistakes explained', () => {
    assert.deepEqual(parseChatArgs(['--help'], {}, home), { kind: 'help' });
    assert.throws(
      () => parseChatArgs([], {}, home),
      (e: unknown) => e instanceof UsageError && /--user NAME/.test(e.message),
    );
    assert.throws(
      () => parseChatArgs(['--register', '--store', 'x'], {}, home),
      /--register needs --user/,
    );
    assert.throws(
      () => parseChatArgs(['--user', 'a', '--server', 'ftp://x'], {}, home),
      /not an http\(s\) URL/,
    );
    assert.throws(
      () => parseChatArgs(['--user', 'a', '--colour'], {}, home),
      /trellis chat --help/,
    );
  });
});
