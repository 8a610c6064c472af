/**
 * `tsx withPostgres.ts COMMAND [ARGS…]`: runs the command (the test runner) with a PostgreSQL
 * for the tests. The one at `TRELLIS_TEST_PG_URL` (default 127.0.0.1:5432, database `test`)
 * when it answers, as on CI; otherwise a temporary one (postgres.ts), started once for every
 * test file of the run, named to them in `TRELLIS_TEST_PG_URL` and deleted afterwards.
 */
import { spawn } from 'node:child_process';
import { answers, DEFAULT_PG_URL, startTemporaryPostgres } from './postgres.js';

const [command, ...args] = process.argv.slice(2);
if (!command) {
  process.stderr.write('usage: withPostgres.ts COMMAND [ARGS…]\n');
  process.exit(2);
}

const url = process.env.TRELLIS_TEST_PG_URL ?? DEFAULT_PG_URL;
let env = process.env;
let stop = async () => undefined as void;
if (!(await answers(url))) {
  process.stdout.write(`# no PostgreSQL answers at ${url}: starting a temporary one\n`);
  const temporary = await startTemporaryPostgres();
  process.stdout.write(`# temporary PostgreSQL at ${temporary.url}\n`);
  env = { ...process.env, TRELLIS_TEST_PG_URL: temporary.url };
  stop = temporary.stop;
}

const child = spawn(command, args, { env, stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => child.kill(signal));
}
const code = await new Promise<number>((resolve) => {
  child.on('error', (error) => {
    process.stderr.write(`${command}: ${error.message}\n`);
    resolve(127);
  });
  child.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
});
await stop();
process.exit(code);
