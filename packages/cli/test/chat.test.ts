/**
 * `trellis chat` in a real terminal: a Trellis server runs in this process, and two chat
 * processes run in tmux panes, driven with send-keys and read with capture-pane. Alice signs
 * up (typing her password at the hidden prompt), creates a room and invites Bob; Bob accepts;
 * each reads the other's message live.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import {
  buildApp,
  DEFAULT_CONFIG,
  NO_AUTH_LIMITS,
  Store,
  type ServerConfig,
} from '@trellis/server';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const TRELLIS = join(REPO, 'packages', 'cli', 'bin', 'trellis.js');
/** A tmux server of our own, so the test never touches the user's sessions. */
const SOCKET = `trellis-chat-test-${process.pid}`;
const STEP_MS = 30_000;

function tmux(...args: string[]): string {
  const result = spawnSync('tmux', ['-u', '-f', '/dev/null', '-L', SOCKET, ...args], {
    cwd: REPO,
    encoding: 'utf8',
    env: { ...process.env, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' },
  });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(`tmux ${args.join(' ')} failed: ${result.stderr.trim()}`);
  }
  return result.stdout;
}

function requireTmux(): void {
  const result = spawnSync('tmux', ['-V'], { encoding: 'utf8' });
  if (result.error || result.status !== 0) {
    throw new Error(
      'This test drives `trellis chat` in tmux, which is not installed: install it (e.g. `sudo apt-get install tmux`, or `brew install tmux`) and run the test again. CI installs it.',
    );
  }
}

function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Starts `trellis chat ARGS` in a new tmux session; the pane stays open after it exits. */
function startChat(session: string, args: string[]): void {
  const command = ['node', TRELLIS, 'chat', ...args].map(shellQuote).join(' ');
  tmux(
    'new-session',
    '-d',
    '-s',
    session,
    '-x',
    '200',
    '-y',
    '50',
    '-c',
    REPO,
    `${command}; echo "[trellis chat exited with $?]"`,
    ';',
    'set-option',
    '-t',
    session,
    'remain-on-exit',
    'on',
  );
}

function pane(session: string): string {
  // -J joins lines the terminal wrapped, so long lines are matched whole.
  return tmux('capture-pane', '-p', '-J', '-t', session, '-S', '-200');
}

function type(session: string, text: string): void {
  tmux('send-keys', '-t', session, '-l', text);
  tmux('send-keys', '-t', session, 'Enter');
}

/** Polls the pane until it shows `expected`; fails with the pane's content. */
async function waitFor(session: string, expected: string | RegExp, what: string): Promise<string> {
  const deadline = Date.now() + STEP_MS;
  let text = '';
  while (Date.now() < deadline) {
    text = pane(session);
    if (typeof expected === 'string' ? text.includes(expected) : expected.test(text)) return text;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(
    `timed out after ${STEP_MS / 1000} s waiting for ${what} in ${session}'s pane:\n${text}`,
  );
}

describe('trellis chat in tmux', () => {
  let dir: string;
  let url: string;
  let close: (() => Promise<void>) | undefined;

  before(async () => {
    requireTmux();
    dir = mkdtempSync(join(tmpdir(), 'trellis-chat-'));
    const database = { kind: 'sqlite' as const, path: join(dir, 'server.db') };
    const config: ServerConfig = {
      ...DEFAULT_CONFIG,
      port: 0,
      logLevel: 'silent',
      database,
      syncTimeoutMaxMs: 5_000,
      authLimits: NO_AUTH_LIMITS,
    };
    const store = await Store.open(database);
    const app = await buildApp(config, store);
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${new URL(address).port}`;
    close = async () => {
      await app.close();
      await store.close();
    };
  });

  after(async () => {
    spawnSync('tmux', ['-L', SOCKET, 'kill-server']);
    // tmux leaves its socket file behind; it is ours alone, so remove it.
    const socketDir = join(process.env.TMUX_TMPDIR ?? '/tmp', `tmux-${process.getuid?.() ?? 0}`);
    rmSync(join(socketDir, SOCKET), { force: true });
    await close?.();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test(
    'alice and bob register, share a room and read each other live',
    { timeout: 180_000 },
    async () => {
      const chatArgs = (user: string) => [
        '--server',
        url,
        '--user',
        user,
        '--register',
        '--store',
        join(dir, `${user}.sqlite`),
      ];

      // Alice types her password at the prompt, which does not echo it.
      startChat('alice', chatArgs('alice'));
      await waitFor('alice', 'Password for alice:', 'the password prompt');
      type('alice', 'alice-secret-pw');
      let alice = await waitFor('alice', 'Signed in as @alice:localhost', 'alice signing in');
      assert.ok(!alice.includes('alice-secret-pw'), `the password was echoed:\n${alice}`);

      startChat('bob', [...chatArgs('bob'), '--password', 'bob-pw']);
      await waitFor('bob', 'Signed in as @bob:localhost', 'bob signing in');

      type('alice', '/create Garden');
      await waitFor('alice', 'Created the encrypted room Garden', 'the room being created');
      await waitFor('alice', '[Garden] >', 'the prompt naming the room');
      type('alice', '/invite @bob:localhost');
      await waitFor('alice', 'Invited @bob:localhost', 'the invitation');

      await waitFor('bob', 'you were invited by @alice:localhost', 'the invitation reaching bob');
      type('bob', '/join 1');
      await waitFor('bob', /joined the room.s encrypted group/, 'bob being added to the group');
      await waitFor('bob', '[Garden] >', 'bob in the room, named');

      type('alice', 'hello from alice');
      await waitFor(
        'bob',
        /\d\d:\d\d:\d\d @alice:localhost \(\w+\): hello from alice/,
        'alice’s message, with time, sender and device',
      );
      type('bob', 'hi from bob');
      alice = await waitFor(
        'alice',
        /\d\d:\d\d:\d\d @bob:localhost \(\w+\): hi from bob/,
        'bob’s answer',
      );

      type('bob', '/nonsense');
      await waitFor(
        'bob',
        'There is no command /nonsense: type /help',
        'the unknown-command sentence',
      );

      for (const session of ['alice', 'bob']) type(session, '/quit');
      for (const session of ['alice', 'bob']) {
        await waitFor(session, '[trellis chat exited with 0]', 'a clean exit');
      }
    },
  );
});
