/**
 * How the demo tells its story: numbered step headings, a plain explanation of each step, then
 * what actually happened (facts taken from the clients' events), epoch graphs, a summary line.
 * `quiet` keeps only the headings, the summary and failures.
 */
export interface NarratorOptions {
  readonly color: boolean;
  readonly quiet: boolean;
  /** Pause before each step after the first (ms), for presenting. */
  readonly pauseMs: number;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

type Style = 'bold' | 'dim' | 'green' | 'red' | 'yellow' | 'cyan' | 'magenta';

const ANSI: Record<Style, [number, number]> = {
  bold: [1, 22],
  dim: [2, 22],
  green: [32, 39],
  red: [31, 39],
  yellow: [33, 39],
  cyan: [36, 39],
  magenta: [35, 39],
};

const INDENT = '   ';

export class Narrator {
  private stepNumber = 0;
  private stepTitle = '';

  constructor(private readonly options: NarratorOptions) {}

  paint(style: Style, text: string): string {
    if (!this.options.color) return text;
    const [open, close] = ANSI[style];
    return `\x1b[${open}m${text}\x1b[${close}m`;
  }

  /** The step under way, for failure messages. */
  get currentStep(): string {
    return this.stepNumber === 0 ? 'before the first step' : `step ${this.stepNumber}`;
  }

  get currentTitle(): string {
    return this.stepTitle;
  }

  async step(title: string, explanation: string): Promise<void> {
    if (this.stepNumber > 0 && this.options.pauseMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, this.options.pauseMs));
    }
    this.stepNumber++;
    this.stepTitle = title;
    const heading = this.paint('bold', `${this.stepNumber}. ${title}`);
    this.options.out(`${this.stepNumber > 1 && !this.options.quiet ? '\n' : ''}${heading}\n`);
    if (!this.options.quiet) this.options.out(`${wrap(explanation, INDENT, 92)}\n`);
  }

  /** Something that happened. */
  fact(text: string): void {
    if (this.options.quiet) return;
    this.options.out(`${INDENT}${this.paint('green', '•')} ${text}\n`);
  }

  /** A detail under the previous fact. */
  detail(text: string): void {
    if (this.options.quiet) return;
    this.options.out(`${INDENT}  ${this.paint('dim', text)}\n`);
  }

  /** Something that happened and was expected not to succeed (a refusal, a failure to read). */
  refused(text: string): void {
    if (this.options.quiet) return;
    this.options.out(`${INDENT}${this.paint('red', '✗')} ${text}\n`);
  }

  /** A drawing (an epoch graph), indented under a caption. */
  drawing(caption: string, text: string): void {
    if (this.options.quiet) return;
    this.options.out(`${INDENT}${this.paint('cyan', caption)}\n`);
    for (const line of text.replace(/\n+$/, '').split('\n')) {
      this.options.out(`${INDENT}  ${line}\n`);
    }
  }

  /** Something the client reported in the background; the story carries on. */
  warning(text: string): void {
    if (this.options.quiet) return;
    this.options.out(`${INDENT}${this.paint('yellow', '!')} ${this.paint('yellow', text)}\n`);
  }

  summary(text: string): void {
    this.options.out(`\n${this.paint('green', this.paint('bold', text))}\n`);
  }

  failure(text: string): void {
    this.options.err(`\n${this.paint('red', this.paint('bold', `✗ ${text}`))}\n`);
  }
}

/** Word-wraps a paragraph to `width` columns, each line starting with `indent`. */
export function wrap(text: string, indent: string, width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '' && indent.length + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines.map((l) => `${indent}${l}`).join('\n');
}
