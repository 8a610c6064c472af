/**
 * The server's log as a person reads it in a terminal: one line per entry, `HH:MM:SS.mmm LEVEL
 * message key=value …`, an error's stack below it, the level in colour unless `NO_COLOR` is
 * set. Files and pipes get the JSON lines of the logger (pino) unchanged: tools read those.
 */

const LEVELS: Record<number, { name: string; colour: number }> = {
  10: { name: 'TRACE', colour: 90 },
  20: { name: 'DEBUG', colour: 36 },
  30: { name: 'INFO', colour: 32 },
  40: { name: 'WARN', colour: 33 },
  50: { name: 'ERROR', colour: 31 },
  60: { name: 'FATAL', colour: 35 },
};

/** Fields every entry has, shown in their own places or not at all. */
const OWN_FIELDS = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'v', 'err']);

/** Where formatted lines go: anything with `write` (process.stdout). */
export interface LineSink {
  write(text: string): unknown;
}

/** A destination for the logger that writes each JSON entry to `out` as readable lines. */
export function readableLogStream(out: LineSink, colour: boolean): { write(chunk: string): void } {
  return {
    write: (chunk) => {
      for (const line of chunk.split('\n'))
        if (line !== '') out.write(`${readableLogLine(line, colour)}\n`);
    },
  };
}

/** One JSON log entry as a readable line (several for an error's stack); other text unchanged. */
export function readableLogLine(json: string, colour: boolean): string {
  let entry: unknown;
  try {
    entry = JSON.parse(json);
  } catch {
    return json;
  }
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return json;
  const fields = entry as Record<string, unknown>;
  const level = LEVELS[Number(fields.level)] ?? { name: String(fields.level ?? '?'), colour: 0 };
  const name = level.name.padEnd(5);
  const head = [
    typeof fields.time === 'number' ? timeOf(new Date(fields.time)) : '',
    colour ? `\x1b[${level.colour}m${name}\x1b[0m` : name,
    typeof fields.msg === 'string' ? fields.msg : '',
  ].filter((part) => part !== '');
  const rest = Object.entries(fields)
    .filter(([key]) => !OWN_FIELDS.has(key))
    .map(([key, value]) => `${key}=${valueText(value)}`);
  const lines = [[...head, ...rest].join(' ')];
  const err = fields.err;
  if (typeof err === 'object' && err !== null) {
    const { message, stack } = err as { message?: unknown; stack?: unknown };
    if (typeof stack === 'string') lines.push(...stack.split('\n').map((l) => `    ${l}`));
    else if (typeof message === 'string') lines.push(`    ${message}`);
  }
  return lines.join('\n');
}

/** `HH:MM:SS.mmm`, local time. */
function timeOf(at: Date): string {
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return `${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}.${pad(at.getMilliseconds(), 3)}`;
}

/** A value as `key=value` shows it: plain when it has no space, else as JSON. */
function valueText(value: unknown): string {
  if (typeof value === 'string' && /^[^\s"=]+$/.test(value)) return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value) ?? String(value);
}
