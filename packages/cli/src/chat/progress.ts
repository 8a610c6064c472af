/**
 * Progress of long work (logging in, restoring a backup, waiting to be added to a big room),
 * shown in place of the prompt and refreshed a few times a second with the time spent.
 */
import type { Terminal } from './terminal.js';

export interface Progress {
  /** Redraws now (after the counts behind `describe` changed a lot). */
  update(): void;
  /** Puts the prompt back. */
  stop(): void;
}

export function startProgress(
  terminal: Terminal,
  describe: () => string,
  refreshMs = 250,
): Progress {
  const started = Date.now();
  const draw = () => {
    const seconds = Math.floor((Date.now() - started) / 1000);
    terminal.setStatus(`${describe()} ${seconds > 0 ? `(${seconds} s)` : ''}`.trimEnd());
  };
  draw();
  const timer = setInterval(draw, refreshMs);
  let stopped = false;
  return {
    update: () => {
      if (!stopped) draw();
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      terminal.setStatus(undefined);
    },
  };
}
