/**
 * What the steps of the story share: the narrator, the cast, the room, and the ways of
 * reporting what the devices saw (who read a message and in which epoch, the epoch graph).
 */
import type { ClientEvents } from '@trellis/client';
import type { EpochNode } from '@trellis/dmls';
import { drawEpochGraph } from '../epochGraph.js';
import type { Cast, DemoDevice } from './cast.js';
import type { Narrator } from './narrator.js';
import { waitUntil } from './waiting.js';

export class Scene {
  private readonly errorsShown = new Set<unknown>();

  constructor(
    readonly narrator: Narrator,
    readonly cast: Cast,
  ) {}

  /** Waits until `condition` holds, while the devices make progress (waiting.ts). */
  waitUntil(what: string, condition: () => boolean): Promise<void> {
    return waitUntil(what, condition, this.cast);
  }

  /** The room's epoch graph as `device` knows it now (or as given), with readable device names. */
  draw(device: DemoDevice, roomId: string, epochs?: readonly EpochNode[]): string {
    const current = device.client.room(roomId)?.group?.current().key;
    return drawEpochGraph(epochs ?? device.epochs(roomId), {
      ...(epochs === undefined && current !== undefined && { current }),
      device: (identity) => this.cast.label(identity),
    });
  }

  /** Sends a text from `sender` and waits until every one of `readers` has read it. */
  async say(
    sender: DemoDevice,
    roomId: string,
    text: string,
    readers: readonly DemoDevice[],
  ): Promise<string> {
    const eventId = await sender.client.sendText(roomId, text);
    await this.waitForReaders(roomId, text, readers);
    return eventId;
  }

  async waitForReaders(roomId: string, text: string, readers: readonly DemoDevice[]) {
    await this.waitUntil(`${readers.map((d) => d.label).join(', ')} to read "${text}"`, () =>
      readers.every((d) => d.read(roomId, text) !== undefined),
    );
  }

  /** Prints who sent a message in which epoch, and which devices read it in which epoch. */
  reportReaders(roomId: string, text: string, readers: readonly DemoDevice[]): void {
    const { cast, narrator } = this;
    const reads = readers.map((d) => ({ device: d, message: d.read(roomId, text) }));
    const first = reads.find((r) => r.message)?.message;
    if (!first) return;
    const senderIdentity = `${first.sender}|${first.senderDevice}`;
    narrator.fact(`${cast.label(senderIdentity)} sent "${text}" in ${cast.epoch(first.epoch)}`);
    const others = reads.filter((r) => r.message && r.device.client.identity !== senderIdentity);
    const described = others.map(({ device, message }) => {
      const where =
        message!.epoch.epoch === first.epoch.epoch && message!.epoch.creator === first.epoch.creator
          ? ''
          : ` in ${cast.epoch(message!.epoch)}`;
      return `${device.label}${where}`;
    });
    if (described.length > 0) narrator.detail(`read by ${described.join(', ')}`);
  }

  /**
   * Waits until every one of `devices` refused the commit `eventId`, and prints how each did.
   * Returns the refusals.
   */
  async reportRefusals(
    eventId: string,
    devices: readonly DemoDevice[],
  ): Promise<ClientEvents['commitRefused'][]> {
    const refusal = (d: DemoDevice) => d.events('commitRefused').find((r) => r.eventId === eventId);
    await this.waitUntil(
      `${devices.map((d) => d.label).join(', ')} to refuse the forged commit`,
      () => devices.every((d) => refusal(d) !== undefined),
    );
    return devices.map((d) => {
      const r = refusal(d)!;
      this.narrator.refused(`${d.label} refused it: ${r.code} (${r.reason})`);
      return r;
    });
  }

  /** Prints background errors the clients reported since the last call (the story goes on). */
  reportBackgroundErrors(): void {
    for (const device of this.cast.devices) {
      for (const reported of device.events('error')) {
        if (this.errorsShown.has(reported)) continue;
        this.errorsShown.add(reported);
        const { error, context } = reported;
        const message = error instanceof Error ? error.message : String(error);
        this.narrator.warning(`${device.label}, ${context}: ${message}`);
      }
    }
  }
}
