/** The two transports of the convergence bench: the real server over HTTP, and a plain log. */
import {
  decode,
  encode,
  keyPackageAlgorithm,
  mlsMessageCodec,
  WireFormat,
  type KeyPackage,
} from '@trellis/mls';
import { fromBase64, toBase64, type RoomEvent, type WelcomeContent } from '@trellis/dmls';
import { MatrixHttp } from '../src/index.js';
import type { BenchDevice, Transport } from './convergence.js';

/** Devices on the real server: each its own access token, sync token, and KeyPackages. */
export class HttpTransport implements Transport {
  private readonly sessions = new Map<string, { http: MatrixHttp; since?: string }>();
  private readonly algorithm = keyPackageAlgorithm(1);

  constructor(private readonly roomId: string) {}

  register(device: BenchDevice, http: MatrixHttp): void {
    this.sessions.set(device.identity, { http });
  }

  private session(device: BenchDevice) {
    return this.sessions.get(device.identity)!;
  }

  /** Uploads one one-time KeyPackage of the device. */
  async uploadKeyPackage(device: BenchDevice): Promise<void> {
    const kp = device.newKeyPackage();
    const value = toBase64(
      encode(mlsMessageCodec, { wireFormat: WireFormat.mls_key_package, keyPackage: kp }),
    );
    const { bundles } = device;
    const ref = [...bundles.values()].at(-1)!.ref;
    await this.session(device).http.uploadKeys({
      one_time_keys: { [`${this.algorithm}:${toBase64(ref)}`]: value },
    });
  }

  async post(from: BenchDevice, content: object): Promise<string> {
    return this.session(from).http.sendEvent(
      this.roomId,
      'm.room.encrypted',
      `${Date.now()}-${Math.random()}`,
      content,
    );
  }

  async sendWelcome(
    from: BenchDevice,
    to: readonly string[],
    content: WelcomeContent,
  ): Promise<void> {
    const messages: Record<string, Record<string, object>> = {};
    for (const id of to) {
      const at = id.lastIndexOf('|');
      (messages[id.slice(0, at)] ??= {})[id.slice(at + 1)] = content;
    }
    await this.session(from).http.sendToDevice(
      'm.room.encrypted',
      `${Date.now()}-${Math.random()}`,
      messages,
    );
  }

  async pull(device: BenchDevice): Promise<{ events: RoomEvent[]; welcomes: WelcomeContent[] }> {
    const session = this.session(device);
    const events: RoomEvent[] = [];
    const welcomes: WelcomeContent[] = [];
    for (;;) {
      const body = await session.http.sync({
        ...(session.since !== undefined && { since: session.since }),
        timeout: 0,
        filter: JSON.stringify({ room: { timeline: { limit: 100 } } }),
      });
      session.since = body.next_batch as string;
      const room = ((body.rooms as { join?: Record<string, { timeline?: { events?: unknown[] } }> })
        ?.join ?? {})[this.roomId];
      const timeline = (room?.timeline?.events ?? []) as {
        event_id: string;
        sender: string;
        type: string;
        content: object;
      }[];
      for (const e of timeline) {
        if (e.type === 'm.room.encrypted')
          events.push({ eventId: e.event_id, sender: e.sender, content: e.content });
      }
      const toDevice = (body.to_device as { events?: { content: WelcomeContent }[] })?.events ?? [];
      for (const t of toDevice) welcomes.push(t.content);
      // A full timeline or a full batch of to-device messages: there may be more.
      if (timeline.length < 100 && toDevice.length < 100) break;
    }
    return { events, welcomes };
  }

  async fetch(device: BenchDevice, eventId: string): Promise<RoomEvent> {
    const e = await this.session(device).http.getEvent(this.roomId, eventId);
    return { eventId: e.event_id, sender: e.sender, content: e.content };
  }

  async claim(from: BenchDevice, identities: readonly string[]): Promise<Map<string, KeyPackage>> {
    const wanted: Record<string, Record<string, string>> = {};
    for (const id of identities) {
      const at = id.lastIndexOf('|');
      (wanted[id.slice(0, at)] ??= {})[id.slice(at + 1)] = this.algorithm;
    }
    const answer = await this.session(from).http.claimKeys(wanted);
    const out = new Map<string, KeyPackage>();
    for (const id of identities) {
      const at = id.lastIndexOf('|');
      const keys = (
        answer[id.slice(0, at)] as Record<string, Record<string, string>> | undefined
      )?.[id.slice(at + 1)];
      const value = keys && Object.values(keys)[0];
      if (!value) continue;
      const message = decode(mlsMessageCodec, fromBase64(value, 'kp'));
      if (message.wireFormat === WireFormat.mls_key_package) out.set(id, message.keyPackage);
    }
    return out;
  }
}

/** An in-process log: what the server does for the room, minus HTTP and storage. */
export class MemoryTransport implements Transport {
  private readonly log: RoomEvent[] = [];
  private readonly byId = new Map<string, RoomEvent>();
  private readonly read = new Map<string, number>();
  private readonly inbox = new Map<string, WelcomeContent[]>();

  constructor(private readonly all: ReadonlyMap<string, BenchDevice>) {}

  async post(from: BenchDevice, content: object): Promise<string> {
    const event = { eventId: `$${this.log.length}`, sender: from.userId, content };
    this.log.push(event);
    this.byId.set(event.eventId, event);
    return event.eventId;
  }

  async sendWelcome(
    _from: BenchDevice,
    to: readonly string[],
    content: WelcomeContent,
  ): Promise<void> {
    for (const id of to) this.inbox.set(id, [...(this.inbox.get(id) ?? []), content]);
  }

  async pull(device: BenchDevice): Promise<{ events: RoomEvent[]; welcomes: WelcomeContent[] }> {
    const from = this.read.get(device.identity) ?? 0;
    this.read.set(device.identity, this.log.length);
    const welcomes = this.inbox.get(device.identity) ?? [];
    this.inbox.delete(device.identity);
    return { events: this.log.slice(from), welcomes };
  }

  async fetch(_device: BenchDevice, eventId: string): Promise<RoomEvent> {
    return this.byId.get(eventId)!;
  }

  /** Devices that are not materialised still have KeyPackages: made on demand. */
  async claim(_from: BenchDevice, identities: readonly string[]): Promise<Map<string, KeyPackage>> {
    const out = new Map<string, KeyPackage>();
    for (const id of identities) {
      const device = this.all.get(id);
      if (device) out.set(id, device.newKeyPackage());
    }
    return out;
  }
}
