/**
 * Welcomes that reach this device (to-device messages). A Welcome is accepted only from a device
 * of the room: its sender is the to-device sender's device, that user is joined, and the device
 * is in the user's device list. One for a room this device has not joined yet, or naming devices
 * whose keys cannot be fetched yet, is kept for a while and tried again after each sync.
 */
import { deviceOf, DmlsError, parseWelcome, ROOM_EVENT_TYPE } from '@trellis/dmls';
import { parseAlgorithm, WireFormat } from '@trellis/mls';
import type { ClientCore } from './clientCore.js';
import { ClientError } from './errors.js';
import { guardAsync } from './guard.js';
import { isObject, type Json } from './json.js';

const PENDING_WELCOMES = 'pending_welcomes';
/** How long a Welcome for a room not (yet) joined is kept. */
const PENDING_WELCOME_MS = 24 * 3600 * 1000;

interface PendingWelcome {
  sender: string;
  content: Json;
  at: number;
}

export class Welcomes {
  /** Welcomes processed during the current sync answer: room → the commit they came from. */
  readonly catchUps = new Map<string, string>();

  constructor(private readonly core: ClientCore) {}

  /** A to-device event: a Welcome is accepted, anything else ignored. */
  async receive(value: unknown): Promise<void> {
    if (!isObject(value) || value.type !== ROOM_EVENT_TYPE || !isObject(value.content)) return;
    const algorithm = value.content.algorithm;
    if (typeof algorithm !== 'string' || parseAlgorithm(algorithm)?.kind !== 'welcome') return;
    if (typeof value.sender !== 'string') return;
    await this.accept(value.sender, value.content, Date.now());
  }

  /** Tries the kept Welcomes again (those kept too long are dropped). */
  async retryPending(): Promise<void> {
    const list = this.pending();
    if (list.length === 0) return;
    this.core.store.setValue(PENDING_WELCOMES, undefined);
    const now = Date.now();
    for (const w of list) {
      if (w.at + PENDING_WELCOME_MS < now) continue;
      await guardAsync(this.core.reportError, 'pending Welcome', async () => {
        await this.accept(w.sender, w.content, w.at);
      });
    }
  }

  private async accept(sender: string, content: Json, receivedAt: number): Promise<boolean> {
    const { rooms, directory, stock } = this.core;
    const welcome = parseWelcome(content);
    if (deviceOf(welcome.sender).userId !== sender) {
      throw new ClientError(
        'BAD_RESPONSE',
        `a Welcome from ${sender} claims to be from ${welcome.sender}`,
      );
    }
    const room = rooms.get(welcome.roomId);
    if (!room || room.membership !== 'join') {
      this.keep({ sender, content, at: receivedAt });
      return false;
    }
    if (room.membershipOf(sender) !== 'join') {
      throw new ClientError(
        'BAD_RESPONSE',
        `a Welcome to ${welcome.roomId} from ${sender}, who is not in it`,
      );
    }
    if (!directory.isKnown(sender)) {
      directory.markDirty([sender]);
      await this.core.refreshDevices();
    }
    if (!directory.devicesOf(sender).some((d) => d.identity === welcome.sender)) {
      throw new ClientError(
        'BAD_RESPONSE',
        `a Welcome from ${welcome.sender}, not a device of the room`,
      );
    }
    if (welcome.message.wireFormat !== WireFormat.mls_welcome) return false;
    const found = stock.find(welcome.message.welcome.secrets.map((s) => s.newMember));
    if (!found) return false; // for other devices, or its KeyPackage was already used
    try {
      room.acceptWelcome(welcome, found.bundle);
    } catch (error) {
      if (!waitsForDevices(error)) throw error;
      // The tree names devices whose keys were not fetched yet (the lookup marked their users).
      await this.core.refreshDevices();
      try {
        room.acceptWelcome(welcome, found.bundle);
      } catch (again) {
        if (!waitsForDevices(again)) throw again;
        this.keep({ sender, content, at: receivedAt });
        return false;
      }
    }
    stock.used(found.record);
    this.catchUps.set(room.roomId, welcome.commitEvent);
    return true;
  }

  private pending(): PendingWelcome[] {
    const text = this.core.store.value(PENDING_WELCOMES);
    return text === undefined ? [] : (JSON.parse(text) as PendingWelcome[]);
  }

  private keep(welcome: PendingWelcome): void {
    const list = [...this.pending(), welcome].slice(-100);
    this.core.store.setValue(PENDING_WELCOMES, JSON.stringify(list));
  }
}

/** dMLS could not open a Welcome before the keys of the devices it names are fetched. */
function waitsForDevices(error: unknown): boolean {
  return error instanceof DmlsError && error.code === 'NOT_READY' && 'devices' in error;
}
