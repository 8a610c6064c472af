/**
 * Waiting for the story to happen. Every step waits for what the clients report, within a
 * deadline; a step that does not happen fails the demo with a `StoryFailure` saying what was
 * expected, rather than letting it print success for something that did not occur.
 */
export class StoryFailure extends Error {
  override readonly name = 'StoryFailure';
}

/** How long one thing the script waits for may take before the demo fails. */
export const STEP_TIMEOUT_MS = 20_000;

/** Polls `condition` until it holds; fails with `what` after `timeoutMs`. */
export async function waitUntil(
  what: string,
  condition: () => boolean,
  timeoutMs = STEP_TIMEOUT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new StoryFailure(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Fails the story unless `condition` holds. */
export function expect(condition: boolean, what: string): asserts condition {
  if (!condition) throw new StoryFailure(what);
}
