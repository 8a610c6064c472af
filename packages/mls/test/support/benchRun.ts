/**
 * Runs a bench script as `npm run bench*` does, for the smoke tests that keep the benches from
 * rotting: they check options and output, never a speed.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
/** Far above a tiny run's normal duration on a loaded machine; a hang is reported with output. */
const LIMIT_MS = 5 * 60_000;

export interface BenchOutput {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `node --import tsx <script> <args>` from the repository root; `script` relative to it. */
export function runBench(script: string, args: string[]): Promise<BenchOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `${script} ${args.join(' ')} still running after ${LIMIT_MS / 1000} s:\n${stdout}\n${stderr}`,
        ),
      );
    }, LIMIT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs the bench and parses its stdout as one JSON object, failing with its output otherwise. */
export async function runBenchJson(script: string, args: string[]): Promise<any> {
  const out = await runBench(script, [...args, '--json']);
  if (out.code !== 0) throw new Error(`exit ${out.code}:\n${out.stdout}\n${out.stderr}`);
  try {
    return JSON.parse(out.stdout);
  } catch {
    throw new Error(`not one JSON object:\n${out.stdout}\n${out.stderr}`);
  }
}
