/**
 * `trellis demo`: runs the scripted story on an embedded server and prints what happens.
 * Exit code 0 when every step happened as scripted, 1 when one did not, 2 for bad options.
 */
import { parseArgs } from 'node:util';
import { Narrator } from './narrator.js';
import { runStory, StoryState, Teardown } from './story.js';
import { StoryFailure } from './waiting.js';

const USAGE = `trellis demo: a scripted story on an embedded homeserver

Three users and their devices share an encrypted room. Two devices commit at once and the
room forks; both branches are read; a resolving commit merges them, its place in the graph
signed and checked, and a forged merge is refused; a member removed while committing is shut
out, her branch merged without her; a brand-new device reads the history from the key backup.
Each step prints what the clients actually saw, with the room's epoch graph.

Options:
  --quiet      print only the step headings and the summary
  --no-color   no colours (they are used only when the output is a terminal)
  --slow       pause between steps, for presenting
  --help       this text
`;

/**
 * The whole story's last resort, for a hang outside any wait (each wait fails by itself when the
 * devices stop making progress): far beyond a run on a loaded machine.
 */
const STORY_TIMEOUT_MS = 15 * 60_000;
const SLOW_PAUSE_MS = 2_500;

export async function demo(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        quiet: { type: 'boolean', short: 'q' },
        'no-color': { type: 'boolean' },
        slow: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    process.stderr.write(`trellis demo: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const color =
    !values['no-color'] && process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
  const narrator = new Narrator({
    color,
    quiet: values.quiet === true,
    pauseMs: values.slow ? SLOW_PAUSE_MS : 0,
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
  });

  const state = new StoryState();
  let deadline: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    deadline = setTimeout(
      () =>
        reject(
          new StoryFailure(
            `the demo did not finish within ${STORY_TIMEOUT_MS / 60_000} minutes; ` +
              `the devices hold:\n${state.describe()}`,
          ),
        ),
      STORY_TIMEOUT_MS,
    );
  });
  const teardown = new Teardown();
  try {
    const summary = await Promise.race([runStory(narrator, teardown, state), timedOut]);
    narrator.summary(summary);
    return 0;
  } catch (error) {
    const where = `${narrator.currentStep} (${narrator.currentTitle})`;
    if (error instanceof StoryFailure) {
      narrator.failure(`The demo failed at ${where}: ${error.message}`);
    } else {
      narrator.failure(`The demo failed at ${where} with an unexpected error:`);
      process.stderr.write(
        `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
    }
    // After a timeout the story is still under way: stopping its clients and server ends it.
    await teardown.run();
    return 1;
  } finally {
    clearTimeout(deadline);
  }
}
