import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { DB_KINDS, startServer, type TestServer } from './helpers/server.js';

/**
 * matrix-nio, the Python Matrix client (Debian's python3-matrix-nio with python-olm; `.ci/run`
 * installs it), drives a running server through test/nio/driver.py: two users register, log
 * in, upload Olm keys, create an encrypted room, invite and join, query and claim keys, send
 * and sync an encrypted message, read it from /messages, exchange to-device messages, back up
 * and restore the room key, and log out. nio speaks the r0 paths. Without python3 and nio this
 * test fails: it is part of the suite, not optional.
 */

const PYTHON = process.env.TRELLIS_NIO_PYTHON ?? '/usr/bin/python3';
const DRIVER = fileURLToPath(new URL('./nio/driver.py', import.meta.url));
/** A generous bound on the whole driver run; it reports what it had done when it is hit. */
const DRIVER_LIMIT_MS = 10 * 60_000;

/** The driver's steps, in order. */
const STEPS = [
  'register',
  'login',
  'keys_upload',
  'create_room',
  'invite_and_join',
  'keys_query',
  'keys_claim',
  'send_and_sync',
  'messages',
  'to_device',
  'room_keys_backup',
  'devices_members_profile',
  'context_and_forget',
  'logout',
] as const;

interface StepResult {
  step: string;
  ok: boolean;
  error?: string;
  [detail: string]: unknown;
}

interface Run {
  code: number | string;
  stdout: string;
  stderr: string;
}

function run(args: string[], limitMs: number): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      stderr += `\n[test] the driver ran past ${limitMs} ms and was stopped`;
      child.kill('SIGKILL');
    }, limitMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: 'spawn-failed', stdout, stderr: `${stderr}${String(err)}` });
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: signal ?? code ?? -1, stdout, stderr });
    });
  });
}

for (const kind of DB_KINDS) {
  describe(`item 11: matrix-nio 0.20.1 drives the server on ${kind}`, () => {
    let server: TestServer;
    let driver: Run;
    const results = new Map<string, StepResult>();

    before(async () => {
      const probe = await run(
        ['-c', "import importlib.metadata as m, nio, olm; print(m.version('matrix-nio'))"],
        60_000,
      );
      if (probe.code !== 0) {
        throw new Error(
          `${PYTHON} cannot import matrix-nio with olm (install Debian's python3-matrix-nio, as .ci/run does): ${probe.stderr}`,
        );
      }
      assert.equal(
        probe.stdout.trim(),
        '0.20.1',
        'the matrix-nio version this test was written for',
      );
      server = await startServer(kind);
      driver = await run([DRIVER, server.url], DRIVER_LIMIT_MS);
      for (const line of driver.stdout.split('\n')) {
        if (line.trim() === '') continue;
        const result = JSON.parse(line) as StepResult;
        results.set(result.step, result);
      }
    });
    after(async () => server?.close());

    for (const step of STEPS) {
      it(step, () => {
        const result = results.get(step);
        const context = `driver exit ${String(driver.code)}; stderr:\n${driver.stderr.slice(-4000)}`;
        assert.ok(result, `step ${step} did not run; ${context}`);
        assert.equal(result.ok, true, `step ${step} failed: ${result.error ?? ''}; ${context}`);
      });
    }

    it('the driver ran every step and exited 0', () => {
      assert.deepEqual([...results.keys()], [...STEPS]);
      assert.equal(driver.code, 0, driver.stderr.slice(-4000));
    });
  });
}
