/**
 * The story, step by step: an embedded server, three users with four devices, an encrypted
 * room, a fork and its resolution, a removed member shut out, a new device restoring history,
 * a device the server invents kept out.
 * Each step waits for what the clients report and fails the story if it does not happen.
 */
import { Cast } from './cast.js';
import type { Narrator } from './narrator.js';
import { Scene } from './scene.js';
import { startEmbeddedServer } from './server.js';
import { signUp } from './steps/accounts.js';
import { forkTheRoom, readBothBranches } from './steps/fork.js';
import { inventADevice } from './steps/invented.js';
import { removeCarol } from './steps/removal.js';
import { resolveTheFork } from './steps/resolution.js';
import { restoreOnNewDevice } from './steps/restore.js';
import { openRoom } from './steps/room.js';

/** What to stop and delete when the story ends, however it ends (last added, first run). */
export class Teardown {
  private tasks: (() => Promise<void>)[] = [];

  add(task: () => Promise<void>): void {
    this.tasks.push(task);
  }

  async run(): Promise<void> {
    const tasks = this.tasks.reverse();
    this.tasks = [];
    for (const task of tasks) await task().catch(() => undefined);
  }
}

/** What the devices of a story under way hold, for a failure outside any wait to show. */
export class StoryState {
  describe: () => string = () => 'no devices yet';
}

export async function runStory(
  narrator: Narrator,
  teardown: Teardown,
  state: StoryState = new StoryState(),
): Promise<string> {
  const started = Date.now();
  await narrator.step(
    'A homeserver starts',
    'The real Trellis homeserver runs inside this process, on a throwaway SQLite database in a ' +
      'temporary directory. Every client below talks to it over HTTP, as it would to any ' +
      'server; the server only ever sees ciphertext.',
  );
  try {
    const server = await startEmbeddedServer();
    teardown.add(() => server.close());
    narrator.fact(`listening on ${server.url} as server name "${server.serverName}"`);
    narrator.detail(`database: ${server.databasePath}`);
    const cast = new Cast(server.url);
    state.describe = () => cast.describe();
    teardown.add(() => cast.stopAll());
    const scene = new Scene(narrator, cast);

    const people = await signUp(scene);
    const roomId = await openRoom(scene, people);
    scene.reportBackgroundErrors();
    const fork = await forkTheRoom(scene, people, roomId);
    await readBothBranches(scene, people, roomId, fork);
    const resolution = await resolveTheFork(scene, people, roomId, fork);
    scene.reportBackgroundErrors();
    await removeCarol(scene, people, roomId);
    scene.reportBackgroundErrors();
    const restored = await restoreOnNewDevice(scene, people, roomId);
    scene.reportBackgroundErrors();
    await inventADevice(scene, people, roomId, restored.tablet);
    scene.reportBackgroundErrors();

    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    return (
      `Done in ${seconds} s: the room forked at epoch ${fork.base.epoch + 1n}; ` +
      `${cast.epoch(resolution)} merged the branches; carol was shut out; bob's new tablet ` +
      `restored ${restored.messages.length} messages from his backup; the device the server ` +
      `invented for bob was kept out.`
    );
  } finally {
    await teardown.run();
  }
}
