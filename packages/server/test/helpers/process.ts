import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

/** The server's entry point, run as its own process as users run it. */
export const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

export interface ServerProcess {
  url: string;
  /** The log message saying where it listens (and which registration mode is in force). */
  startMessage: string;
  child: ChildProcess;
  /** Resolves with the exit code or signal once the process is gone. */
  exited: Promise<number | string>;
  /** Sends SIGTERM and waits for the exit. */
  stop(): Promise<number | string>;
}

/** Login and registration limits off (flags in ARGS still set them). */
const NO_AUTH_LIMIT_ENV = {
  TRELLIS_LOGIN_LIMIT_ADDRESS: '0',
  TRELLIS_LOGIN_LIMIT_ACCOUNT: '0',
  TRELLIS_REGISTER_LIMIT_ADDRESS: '0',
  TRELLIS_REGISTER_LIMIT_ACCOUNT: '0',
};

/**
 * Starts `node --import tsx src/main.ts ARGS` on an ephemeral port and waits for the log line
 * saying where it listens.
 */
export async function spawnServer(
  args: string[],
  env: Record<string, string> = {},
): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', MAIN, '--port', '0', '--host', '127.0.0.1', ...args],
    {
      env: { ...process.env, LOG_LEVEL: 'info', ...NO_AUTH_LIMIT_ENV, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? code ?? -1)),
  );
  // Never outlive the test or bench that started it.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  void exited.then(() => process.off('exit', reap));
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  let startMessage = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start in 3 minutes: ${stderr}`)),
      180_000,
    );
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { address?: string; msg?: string };
        if (entry.address) {
          clearTimeout(timer);
          startMessage = entry.msg ?? '';
          resolve(entry.address);
        }
      } catch {
        // not a log line
      }
    });
    void exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${how}) before listening: ${stderr}`));
    });
  });
  return {
    url,
    startMessage,
    child,
    exited,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Command-line flags that select a database config. */
export function databaseArgs(
  database:
    | { kind: 'sqlite'; path: string }
    | { kind: 'postgres'; url: string; schema?: string | undefined },
): string[] {
  if (database.kind === 'sqlite') return ['--database', database.path];
  return ['--database', database.url, ...(database.schema ? ['--db-schema', database.schema] : [])];
}
