import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitForProgress, WaitFailure, type Watched } from '../src/index.js';

/** A watched "device" whose state is a counter, and who wakes the wait when it changes. */
function counter(): Watched & { bump(): void; value: number } {
  const wakers = new Set<() => void>();
  const c = {
    value: 0,
    bump() {
      c.value++;
      for (const w of wakers) w();
    },
    describe: () => `counter at ${c.value}`,
    onActivity(wake: () => void) {
      wakers.add(wake);
      return () => wakers.delete(wake);
    },
  };
  return c;
}

test('a wait ends when the condition holds after activity', async () => {
  const c = counter();
  const bumping = setInterval(() => c.bump(), 5);
  try {
    await waitForProgress('three bumps', () => c.value >= 3, c);
  } finally {
    clearInterval(bumping);
  }
  assert.ok(c.value >= 3);
});

test('a wait fails when nothing changes, and says what the devices hold', async () => {
  const c = counter();
  c.bump();
  await assert.rejects(
    waitForProgress('a bump that never comes', () => c.value > 1, c, { quietMs: 50 }),
    (e: unknown) =>
      e instanceof WaitFailure &&
      e.state === 'counter at 1' &&
      /nothing changed/.test(e.message) &&
      e.message.includes('a bump that never comes'),
  );
});

test('progress keeps a wait alive past the quiet limit, up to the cap', async () => {
  const c = counter();
  const bumping = setInterval(() => c.bump(), 5);
  try {
    // Failing at the cap, not for quiet, shows it outlived the quiet limit.
    await assert.rejects(
      waitForProgress('a condition that never holds', () => false, c, {
        quietMs: 1_000,
        capMs: 1_500,
      }),
      (e: unknown) => e instanceof WaitFailure && /not done after/.test(e.message),
    );
  } finally {
    clearInterval(bumping);
  }
});
