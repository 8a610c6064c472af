/**
 * `trellis demo` as a user runs it: a child process through the package's bin script, on its
 * own embedded server. It must exit 0 and its output must show the story: the fork (two tips
 * in a graph), the resolution (one tip) and its checked metadata, forged merges refused, carol
 * shut out, and the history restored from backup.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const BIN = fileURLToPath(new URL('../bin/trellis.js', import.meta.url));

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Past the demo's own last resort (15 minutes): the demo must end by itself, and say why. */
const DEMO_LIMIT_MS = 16 * 60_000;

function runDemo(args: readonly string[], timeoutMs = DEMO_LIMIT_MS): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'demo', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`trellis demo did not finish in ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The graph drawn under a caption: the indented lines that follow it. */
function graphAfter(output: string, caption: RegExp): string[] {
  const lines = output.split('\n');
  const start = lines.findIndex((l) => caption.test(l));
  assert.ok(start >= 0, `no graph captioned ${caption}`);
  const graph: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (!/^ {5}/.test(line)) break;
    graph.push(line);
  }
  return graph;
}

test(
  'trellis demo tells the whole story and exits 0',
  { timeout: DEMO_LIMIT_MS + 60_000 },
  async () => {
    const run = await runDemo(['--no-color']);
    const { stdout } = run;
    assert.equal(run.code, 0, `exit code ${run.code}\n${stdout}\n${run.stderr}`);
    assert.doesNotMatch(stdout, /\x1b\[/, 'no colours with --no-color');
    for (let step = 1; step <= 9; step++) assert.match(stdout, new RegExp(`^${step}\\. `, 'm'));

    // The fork: two epochs of one number, both tips of the graph drawn at the fork.
    assert.match(stdout, /noticed the fork: 2 tips, epoch (\d+) of \S+ and epoch \1 of \S+/);
    const atFork = graphAfter(stdout, /knew it at the fork \(2 tips\)/);
    assert.equal(atFork.filter((l) => /\(tip\b/.test(l)).length, 2, atFork.join('\n'));

    // Both branches read by everyone, then the resolution, after which the graph has one tip.
    assert.match(
      stdout,
      /sent "Sent on alice’s branch: shall we leave Friday\?" in epoch \d+ of alice\/laptop\n +read by alice\/phone, bob\/laptop, carol\/laptop/,
    );
    assert.match(
      stdout,
      /sent "Sent on bob’s branch: Saturday suits me better\." in epoch \d+ of bob\/laptop\n +read by alice\/laptop, alice\/phone, carol\/laptop/,
    );
    assert.match(stdout, /sent the resolving commit epoch \d+ of \S+, on epoch \d+ of \S+: merges/);
    const afterMerge = graphAfter(stdout, /knows it now \(1 tip\)/);
    assert.equal(afterMerge.filter((l) => /\(tip\b/.test(l)).length, 1, afterMerge.join('\n'));
    assert.ok(
      afterMerge.some((l) => /resolves \d+ /.test(l)),
      afterMerge.join('\n'),
    );

    // The merge's signed place in the graph, checked; a forged merge of a merged epoch refused.
    assert.match(stdout, /its signed commit data names its base, epoch \d+ of \S+ \(\$/);
    assert.match(stdout, /both commits sign the epoch they build on/);
    for (const device of ['alice/laptop', 'alice/phone', 'carol/laptop']) {
      assert.match(stdout, new RegExp(`${device} refused it: INVALID_RESOLVES`));
    }

    // Carol removed by a commit that raced her own update: the merge builds on the removal and
    // keeps her out, and a forged merge keeping her is refused.
    assert.match(stdout, /: removes carol\/laptop/);
    assert.match(stdout, /: merges epoch \d+ of carol\/laptop/);
    assert.match(stdout, /carol\/laptop’s branch did not win/);
    for (const device of ['alice/laptop', 'bob/laptop']) {
      assert.match(
        stdout,
        new RegExp(
          `${device} refused it: INVALID_RESOLVES \\(the merge is made on \\$\\S+, but the base rule picks`,
        ),
      );
    }
    assert.match(stdout, /carol\/laptop’s client never received it/);
    assert.match(stdout, /it cannot decrypt it: NOT_A_MEMBER/);

    // Bob's new tablet reads the history from the backup, in the epochs it was sent in.
    assert.match(stdout, /6 history messages decrypted, 1 unreadable/);
    const restored = [
      'alice/laptop: “Welcome, Bob and Carol!”',
      'carol/laptop: “Hi all, Carol here.”',
      'alice/laptop: “Sent on alice’s branch: shall we leave Friday?”',
      'bob/laptop: “Sent on bob’s branch: Saturday suits me better.”',
      'carol/laptop: “One tip again. Saturday it is!”',
      'bob/laptop: “Carol is gone; she cannot read this.”',
    ];
    for (const line of restored) assert.ok(stdout.includes(line), `restored: ${line}`);
    assert.match(stdout, /NOT_IN_BACKUP/);
    // The tablet was let in after signing itself; the device the server invented was not.
    assert.match(stdout, /bob\/tablet unlocked bob's cross-signing keys .* and signed itself/);
    for (const device of ['alice/laptop', 'alice/phone', 'bob/laptop', 'bob/tablet']) {
      assert.match(
        stdout,
        new RegExp(
          `${device} does not trust it: UNSIGNED \\(.*SERVER-MADE is not signed by its user`,
        ),
      );
    }
    assert.match(stdout, /no commit added it, and it read nothing/);
    assert.match(stdout, /^Done in [\d.]+ s: the room forked at epoch \d+/m);
  },
);

test(
  'trellis demo --quiet prints only the step headings and the summary',
  { timeout: DEMO_LIMIT_MS + 60_000 },
  async () => {
    const run = await runDemo(['--quiet']);
    assert.equal(run.code, 0, `exit code ${run.code}\n${run.stdout}\n${run.stderr}`);
    const lines = run.stdout.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 10, run.stdout);
    lines.slice(0, 9).forEach((line, i) => assert.match(line, new RegExp(`^${i + 1}\\. `)));
    assert.match(lines[9]!, /^Done in /);
  },
);

test('trellis demo --help prints the options and exits 0', async () => {
  const run = await runDemo(['--help']);
  assert.equal(run.code, 0);
  assert.match(run.stdout, /--quiet/);
  assert.match(run.stdout, /--no-color/);
});

test('trellis demo refuses an unknown option with exit code 2', async () => {
  const run = await runDemo(['--bogus']);
  assert.equal(run.code, 2);
  assert.match(run.stderr, /bogus/);
});
