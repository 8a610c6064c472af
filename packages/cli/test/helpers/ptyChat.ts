/**
 * One `trellis chat` in a pseudo-terminal (node-pty), and the screen a person would see, drawn
 * by a headless terminal emulator (@xterm/headless). Waits follow the screen: a wait fails when
 * the screen has not changed for a long while (far beyond a loaded machine), printing it.
 */
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import xterm from '@xterm/headless';
import { spawn, type IPty } from 'node-pty';
import { waitForProgress, type Watched } from '@trellis/client';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const TRELLIS = join(REPO, 'packages', 'cli', 'bin', 'trellis.js');
const COLUMNS = 160;
const ROWS = 40;
/** A step fails when its screen has not changed for this long: far beyond a loaded machine. */
const QUIET_MS = 90_000;
/** Even on a screen that keeps changing, a step this long is stuck. */
const STEP_CAP_MS = 5 * 60_000;

export class PtyChat {
  private readonly terminal = new xterm.Terminal({
    cols: COLUMNS,
    rows: ROWS,
    scrollback: 5000,
    allowProposedApi: true,
  });
  private readonly pty: IPty;
  /** Called after each chunk of output has been drawn. */
  private readonly listeners = new Set<() => void>();
  exitCode: number | undefined;

  constructor(
    readonly name: string,
    args: string[],
    env: Record<string, string> = {},
  ) {
    this.pty = spawn(process.execPath, [TRELLIS, 'chat', ...args], {
      name: 'xterm-256color',
      cols: COLUMNS,
      rows: ROWS,
      cwd: REPO,
      env: {
        ...process.env,
        LANG: 'C.UTF-8',
        LC_ALL: 'C.UTF-8',
        TERM: 'xterm-256color',
        ...env,
      },
    });
    this.pty.onData((data) => this.terminal.write(data, () => this.changed()));
    this.pty.onExit(({ exitCode }) => {
      this.exitCode = exitCode;
      this.changed();
    });
  }

  /** The process the chat runs in. */
  get pid(): number {
    return this.pty.pid;
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
    while (lines.length > 0 && lines.at(-1) === '') lines.pop();
    return lines.join('\n');
  }

  /**
   * The foreground colour of the first cell of `text` on screen (a palette index), or undefined
   * for the default colour; fails when `text` is not on screen.
   */
  colourOf(text: string): number | undefined {
    const buffer = this.terminal.buffer.active;
    for (let i = 0; i < buffer.length; i++) {
      const line = buffer.getLine(i);
      const at = line?.translateToString(true).indexOf(text) ?? -1;
      if (!line || at < 0) continue;
      const cell = line.getCell(at)!;
      return cell.isFgDefault() ? undefined : cell.getFgColor();
    }
    assert.fail(`${JSON.stringify(text)} is not on ${this.name}'s screen:\n${this.screen()}`);
  }

  /** Types `text`, then Enter. */
  type(text: string): void {
    this.pty.write(text);
    this.pty.write('\r');
  }

  /**
   * Waits until `done` holds, checked whenever the screen changes; fails with the screen when
   * it has not changed for `QUIET_MS` (the client SDK's progress-driven wait).
   */
  private until(what: string, done: () => boolean): Promise<void> {
    const terminal: Watched = {
      describe: () => this.screen(),
      onActivity: (wake) => {
        this.listeners.add(wake);
        return () => this.listeners.delete(wake);
      },
    };
    return waitForProgress(`${what} in ${this.name}'s terminal`, done, terminal, {
      quietMs: QUIET_MS,
      capMs: STEP_CAP_MS,
    });
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

  /** Waits until `expected` matches on the screen; returns the match. */
  async match(expected: RegExp, what: string): Promise<RegExpMatchArray> {
    await this.waitFor(expected, what);
    return this.screen().match(expected)!;
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
