/**
 * The line-based terminal of `trellis chat`, on node:readline: a prompt, lines printed above it
 * without disturbing what the user is typing, questions (with or without echo), and a status
 * shown in place of the prompt while long work runs.
 */
import { createInterface, type Interface } from 'node:readline';
import { Writable } from 'node:stream';

/**
 * The terminal as readline sees it, with a switch that drops readline's echo: a hidden answer
 * (a password, a recovery key) is read by readline as usual but never shown.
 */
class EchoSwitch extends Writable {
  muted = false;

  constructor(private readonly target: NodeJS.WriteStream) {
    super();
    // readline lays out long lines with the terminal's width, and redraws when it changes.
    target.on('resize', () => this.emit('resize'));
  }

  get columns(): number {
    return this.target.columns;
  }

  get rows(): number {
    return this.target.rows;
  }

  get isTTY(): boolean {
    return this.target.isTTY;
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    done: (error?: Error | null) => void,
  ): void {
    // Forwarded at once, not when the terminal drains: the chat's own writes go straight to the
    // terminal, and the two must reach it in the order they were made.
    if (!this.muted) this.target.write(chunk);
    done();
  }
}

export interface AskOptions {
  /** Do not echo the answer (passwords, recovery keys). */
  readonly hidden?: boolean;
}

export class Terminal {
  private readonly rl: Interface;
  private readonly echo: EchoSwitch;
  private readonly interactive: boolean;
  private promptText = '> ';
  private status: string | undefined;
  private asking: AbortController | undefined;
  /** Lines printed while a hidden answer is typed wait, so they cannot reveal where it is. */
  private held: string[] | undefined;
  private closed = false;
  private readonly closeHandlers: (() => void)[] = [];
  private readonly interruptHandlers: (() => void)[] = [];

  constructor(
    input: NodeJS.ReadStream = process.stdin,
    private readonly output: NodeJS.WriteStream = process.stdout,
  ) {
    this.interactive = Boolean(input.isTTY && output.isTTY);
    this.echo = new EchoSwitch(output);
    this.rl = createInterface({
      input,
      output: this.echo,
      terminal: this.interactive,
      historySize: 200,
    });
    this.rl.on('close', () => {
      if (!this.closed) this.output.write('\n');
      this.closed = true;
      for (const handler of this.closeHandlers) handler();
    });
    // Ctrl-C: cancel a question if one is open, else tell the owner (who quits).
    this.rl.on('SIGINT', () => {
      if (this.asking) this.asking.abort();
      else for (const handler of this.interruptHandlers) handler();
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  onLine(handler: (line: string) => void): void {
    this.rl.on('line', handler);
  }

  /** Ctrl-D, or the end of the input. */
  onClose(handler: () => void): void {
    this.closeHandlers.push(handler);
  }

  /** Ctrl-C outside a question. */
  onInterrupt(handler: () => void): void {
    this.interruptHandlers.push(handler);
  }

  /** Prints lines above the prompt; what the user is typing is redrawn after them. */
  print(lines: string | readonly string[]): void {
    const list = typeof lines === 'string' ? [lines] : lines;
    if (list.length === 0) return;
    if (this.held) {
      this.held.push(...list);
      return;
    }
    const text = `${list.join('\n')}\n`;
    if (!this.interactive || this.closed) {
      this.output.write(text);
      return;
    }
    // Go to where the prompt starts (the typed line may wrap over several rows), clear from
    // there down, print, and draw the prompt and the typed text again.
    const { rows } = this.rl.getCursorPos();
    this.output.write(`${rows > 0 ? `\x1b[${rows}A` : ''}\r\x1b[J${text}`);
    this.rl.prompt(true);
  }

  /**
   * Takes `line`, just entered, off the screen (with its prompt): the chat shows it again in its
   * own form (a message, as sent).
   */
  eraseTyped(line: string): void {
    if (!this.interactive || this.closed) return;
    const columns = Math.max(1, this.output.columns || 80);
    const width = [...this.currentPrompt()].length + [...line].length;
    // Enter left the cursor at the start of the row below the line.
    const rows = Math.floor(width / columns) + 1;
    this.output.write(`\x1b[${rows}A\r\x1b[J`);
  }

  setPrompt(text: string): void {
    this.promptText = text;
    this.redrawPrompt();
  }

  /** Shows `text` in place of the prompt (progress of long work); `undefined` brings it back. */
  setStatus(text: string | undefined): void {
    this.status = text;
    this.redrawPrompt();
  }

  /** Shows the prompt, for the next line. */
  prompt(): void {
    if (!this.closed && !this.asking) {
      this.rl.setPrompt(this.currentPrompt());
      this.rl.prompt(true);
    }
  }

  /** Asks a question; `undefined` when the user cancels it (Ctrl-C) or the input ends. */
  async ask(question: string, options: AskOptions = {}): Promise<string | undefined> {
    if (this.closed) return undefined;
    const controller = new AbortController();
    this.asking = controller;
    const hidden = options.hidden === true && this.interactive;
    try {
      return await new Promise<string | undefined>((resolve) => {
        const onClose = () => resolve(undefined);
        this.rl.once('close', onClose);
        controller.signal.addEventListener('abort', () => {
          this.rl.off('close', onClose);
          resolve(undefined);
        });
        if (hidden) {
          // The question takes the prompt's place on its line.
          this.output.write(`\r\x1b[J${question}`);
          this.held = [];
          this.echo.muted = true;
        }
        this.rl.question(hidden ? '' : question, { signal: controller.signal }, (answer) => {
          this.rl.off('close', onClose);
          resolve(answer);
        });
      });
    } finally {
      this.asking = undefined;
      if (hidden) {
        this.echo.muted = false;
        this.output.write('\n');
        const held = this.held ?? [];
        this.held = undefined;
        this.print(held);
      }
      this.prompt();
    }
  }

  /** Closes the input; `farewell` replaces the prompt as the last line. */
  close(farewell?: string): void {
    if (!this.closed) {
      if (this.interactive) {
        const { rows } = this.rl.getCursorPos();
        this.output.write(`${rows > 0 ? `\x1b[${rows}A` : ''}\r\x1b[J`);
      }
      this.closed = true;
      this.rl.close();
    }
    if (farewell !== undefined) this.output.write(`${farewell}\n`);
  }

  private currentPrompt(): string {
    return this.status !== undefined ? `${this.status} ` : this.promptText;
  }

  private redrawPrompt(): void {
    if (this.closed || this.asking) return;
    this.rl.setPrompt(this.currentPrompt());
    if (this.interactive) this.rl.prompt(true);
  }
}
