/**
 * `trellis chat` in a real terminal: a Trellis server runs in this process, and two chat
 * processes run in pseudo-terminals (node-pty), whose output a headless terminal emulator
 * (@xterm/headless) turns into the screen a person would see. Alice signs up (typing her
 * password at the hidden prompt), creates a room and invites Bob; Bob accepts; each reads the
 * other's message live.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import xterm from '@xterm/headless';
import { spawn, type IPty } from 'node-pty';
import {
  buildApp,
  DEFAULT_CONFIG,
  NO_AUTH_LIMITS,
  Store,
  type ServerConfig,
} from '@trellis/server';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const TRELLIS = join(REPO, 'packages', 'cli', 'bin', 'trellis.js');
const COLUMNS = 200;
const ROWS = 50;
/** A step fails when its screen has not changed for this long: far beyond a loaded machine. */
const QUIET_MS = 60_000;
/** Even on a screen that keeps changing, a step this long is stuck. */
const STEP_CAP_MS = 5 * 60_000;

/** One `trellis chat` in a pseudo-terminal, and the screen it draws. */
class Chat {
  private readonly terminal = new xterm.Terminal({
    cols: COLUMNS,
    rows: ROWS,
    scrollback: 1000,
    allowProposedApi: true,
  });
  private readonly pty: IPty;
  /** Called after each chunk of output has been drawn. */
  private readonly listeners = new Set<() => void>();
  exitCode: number | undefined;

  constructor(
    readonly name: string,
    args: string[],
  ) {
    this.pty = spawn(process.execPath, [TRELLIS, 'chat', ...args], {
      name: 'xterm-256color',
      cols: COLUMNS,
      rows: ROWS,
      cwd: REPO,
      env: { ...process.env, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', TERM: 'xterm-256color' },
    });
    this.pty.onData((data) => this.terminal.write(data, () => this.changed()));
    this.pty.onExit(({ exitCode }) => {
      this.exitCode = exitCode;
      this.changed();
    });
  }

  private changed(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** The screen and its scrollback, lines the terminal wrapped joined (as capture-pane -J). */
  screen(): string {
    const buffer = this.terminal.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < buffer.length; i++) {
      const line = buffer.getLine(i);
      if (!line) continue;
      const text = line.translateToString(true);
      if (line.isWrapped && lines.length > 0) lines[lines.length - 1] += text;
      else lines.push(text);
    }
    return lines.join('\n');
  }

  /** Types `text`, then Enter. */
  type(text: string): void {
    this.pty.write(text);
    this.pty.write('\r');
  }

  /**
   * Waits until `done` holds, checked whenever the screen changes; fails with the screen when
   * it has not changed for `QUIET_MS`.
   */
  private async until(what: string, done: () => boolean): Promise<void> {
    const started = Date.now();
    let last = this.screen();
    let changedAt = started;
    while (!done()) {
      const now = Date.now();
      const screen = this.screen();
      if (screen !== last) {
        last = screen;
        changedAt = now;
      }
      if (now - changedAt > QUIET_MS || now - started > STEP_CAP_MS) {
        assert.fail(
          `waiting for ${what} in ${this.name}'s terminal, ` +
            (now - started > STEP_CAP_MS
              ? `not there after ${STEP_CAP_MS / 1000} s`
              : `the screen did not change for ${QUIET_MS / 1000} s`) +
            `; it shows:\n${screen}`,
        );
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.listeners.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, 1_000);
        this.listeners.add(wake);
      });
    }
  }

  /** Waits until the screen shows `expected`; returns the screen. */
  async waitFor(expected: string | RegExp, what: string): Promise<string> {
    const shows = () => {
      const text = this.screen();
      return typeof expected === 'string' ? text.includes(expected) : expected.test(text);
    };
    await this.until(what, shows);
    return this.screen();
  }

  /** Waits until the process has exited; returns its exit code. */
  async exited(): Promise<number> {
    await this.until('the process to exit', () => this.exitCode !== undefined);
    return this.exitCode!;
  }

  kill(): void {
    if (this.exitCode === undefined) this.pty.kill();
    this.terminal.dispose();
  }
}

describe('trellis chat in a terminal', () => {
  let dir: string;
  let url: string;
  let close: (() => Promise<void>) | undefined;

  const chats: Chat[] = [];
  const startChat = (name: string, args: string[]) => {
    const chat = new Chat(name, args);
    chats.push(chat);
    return chat;
  };

  before(async () => {
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
    for (const chat of chats) chat.kill();
    await close?.();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test(
    'alice and bob register, share a room and read each other live',
    { timeout: 20 * 60_000 },
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
      const alice = startChat('alice', chatArgs('alice'));
      await alice.waitFor('Password for alice:', 'the password prompt');
      alice.type('alice-secret-pw');
      const screen = await alice.waitFor('Signed in as @alice:localhost', 'alice signing in');
      assert.ok(!screen.includes('alice-secret-pw'), `the password was echoed:\n${screen}`);

      const bob = startChat('bob', [...chatArgs('bob'), '--password', 'bob-pw']);
      await bob.waitFor('Signed in as @bob:localhost', 'bob signing in');

      alice.type('/create Garden');
      await alice.waitFor('Created the encrypted room Garden', 'the room being created');
      await alice.waitFor('[Garden] >', 'the prompt naming the room');
      alice.type('/invite @bob:localhost');
      await alice.waitFor('Invited @bob:localhost', 'the invitation');

      await bob.waitFor('you were invited by @alice:localhost', 'the invitation reaching bob');
      bob.type('/join 1');
      await bob.waitFor(/joined the room.s encrypted group/, 'bob being added to the group');
      await bob.waitFor('[Garden] >', 'bob in the room, named');

      alice.type('hello from alice');
      await bob.waitFor(
        /\d\d:\d\d:\d\d @alice:localhost \(\w+\): hello from alice/,
        'alice’s message, with time, sender and device',
      );
      bob.type('hi from bob');
      await alice.waitFor(/\d\d:\d\d:\d\d @bob:localhost \(\w+\): hi from bob/, 'bob’s answer');

      bob.type('/nonsense');
      await bob.waitFor(
        'There is no command /nonsense: type /help',
        'the unknown-command sentence',
      );

      for (const chat of [alice, bob]) chat.type('/quit');
      for (const chat of [alice, bob]) assert.equal(await chat.exited(), 0, `${chat.name} exits 0`);
    },
  );
});
