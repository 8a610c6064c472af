/**
 * Waiting for the story to happen. Every step waits for what the clients report; a step that
 * does not happen fails the demo with a `StoryFailure` saying what was expected and what each
 * device held, rather than letting it print success for something that did not occur. Waits
 * fail for want of progress, not of speed (`waitForProgress` of the client SDK).
 */
import { waitForProgress, WaitFailure, type Watched } from '@trellis/client';

export type { Watched } from '@trellis/client';

export class StoryFailure extends Error {
  override readonly name = 'StoryFailure';
}

/** Waits until `condition` holds, or fails the story with what each device holds. */
export async function waitUntil(
  what: string,
  condition: () => boolean,
  watched: Watched,
): Promise<void> {
  try {
    await waitForProgress(what, condition, watched);
  } catch (e) {
    throw e instanceof WaitFailure ? new StoryFailure(e.message) : e;
  }
}

/** Fails the story unless `condition` holds. */
export function expect(condition: boolean, what: string): asserts condition {
  if (!condition) throw new StoryFailure(what);
}
