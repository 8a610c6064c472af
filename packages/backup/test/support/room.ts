/**
 * A room driven through the public MLS API for backup tests: devices that join, leave, commit
 * and talk, and a timeline of the encrypted events a server would keep. The in-memory backup
 * store stands in for the server's room_keys API, passing everything through JSON.
 */
import assert from 'node:assert/strict';
import {
  basicCredential,
  cipherSuite,
  createCommit,
  createGroup,
  createKeyPackage,
  encode,
  encryptApplication,
  joinFromWelcome,
  mlsMessageCodec,
  nodeCrypto,
  processMessage,
  type CipherSuite,
  type GroupState,
} from '@trellis/mls';
import {
  creatorIdentity,
  type EpochCreator,
  type KeyBackupData,
  type RoomKeysBody,
} from '../../src/index.js';

export const NOW = BigInt(Math.floor(Date.now() / 1000));
export const ROOM_ID = '!history:example.org';
const utf8 = (text: string) => new TextEncoder().encode(text);

export function device(name: string): EpochCreator {
  return { userId: `@${name}:example.org`, deviceId: `${name.toUpperCase()}DEVICE` };
}

/** An encrypted room event as the server keeps it (MSC2883 fields that matter here). */
export interface TimelineEvent {
  readonly epoch: bigint;
  readonly epochCreator: EpochCreator;
  /** The MLSMessage, as `ciphertext` carries it. */
  readonly ciphertext: Uint8Array;
  /** What the test expects a restoring device to read. */
  readonly text: string;
  readonly sender: EpochCreator;
}

interface Member {
  device: EpochCreator;
  state: GroupState;
}

/** A group of devices that all follow every commit, and the epoch's creator. */
export class Room {
  readonly suite: CipherSuite;
  members: Member[];
  creator: EpochCreator;
  readonly timeline: TimelineEvent[] = [];

  constructor(names: string[], suiteId = 1) {
    this.suite = cipherSuite(suiteId, nodeCrypto);
    const [first, ...rest] = names.map(device);
    let state = createGroup(this.suite, {
      credential: basicCredential(utf8(creatorIdentity(first!))),
      now: NOW,
    });
    this.members = [{ device: first!, state }];
    this.creator = first!;
    if (rest.length > 0) this.commit(first!, { add: rest });
  }

  member(who: EpochCreator): Member {
    const m = this.members.find((x) => x.device.userId === who.userId);
    assert.ok(m, `${who.userId} is in the room`);
    return m;
  }

  get epoch(): bigint {
    return this.members[0]!.state.context.epoch;
  }

  /** `committer` commits adding and removing devices; everyone else follows; Welcomes join. */
  commit(committer: EpochCreator, change: { add?: EpochCreator[]; remove?: EpochCreator[] } = {}) {
    const bundles = (change.add ?? []).map((d) =>
      createKeyPackage(this.suite, {
        credential: basicCredential(utf8(creatorIdentity(d))),
        now: NOW,
      }),
    );
    const removed = (change.remove ?? []).map((d) => this.member(d).state.ownLeaf);
    const created = createCommit(this.member(committer).state, {
      add: bundles.map((b) => b.keyPackage),
      remove: removed,
      forcePath: true,
    });
    const next: Member[] = [];
    for (const m of this.members) {
      if (m.device.userId === committer.userId) {
        next.push({ device: m.device, state: created.pending });
        continue;
      }
      // A removed device just leaves. (It is not asked to process the commit: the engine refuses
      // with INVALID_STATE, instead of answering 'removed', when an Add of the same commit
      // reuses its leaf; reported separately.)
      if (removed.includes(m.state.ownLeaf)) continue;
      const r = processMessage(m.state, created.commit);
      assert.equal(r.kind, 'commit', `${m.device.userId} follows the commit`);
      if (r.kind === 'commit') next.push({ device: m.device, state: r.state });
    }
    (change.add ?? []).forEach((d, i) => {
      assert.ok(created.welcome);
      next.push({
        device: d,
        state: joinFromWelcome(nodeCrypto, created.welcome.welcome, bundles[i]!),
      });
    });
    this.members = next;
    this.creator = committer;
  }

  /** `sender` sends `text`; the event goes to the timeline. */
  send(sender: EpochCreator, text: string): void {
    const m = this.member(sender);
    const sent = encryptApplication(m.state, utf8(text));
    m.state = sent.state;
    this.timeline.push({
      epoch: m.state.context.epoch,
      epochCreator: this.creator,
      ciphertext: encode(mlsMessageCodec, sent.message),
      text,
      sender,
    });
  }
}

/**
 * The server side of room_keys, in memory: one backup version, and sessions by room and id,
 * kept as JSON text as a database would keep them.
 */
export class MemoryBackupStore {
  private version?: string;
  private readonly rooms = new Map<string, Map<string, string>>();

  createVersion(body: unknown): void {
    this.version = JSON.stringify(body);
  }

  getVersion(): unknown {
    assert.ok(this.version, 'a backup version exists');
    return JSON.parse(this.version);
  }

  put(body: RoomKeysBody): void {
    const received = JSON.parse(JSON.stringify(body)) as RoomKeysBody;
    for (const [roomId, { sessions }] of Object.entries(received.rooms)) {
      let room = this.rooms.get(roomId);
      if (!room) this.rooms.set(roomId, (room = new Map()));
      for (const [sessionId, data] of Object.entries(sessions))
        room.set(sessionId, JSON.stringify(data));
    }
  }

  /** `GET /room_keys/keys/{roomId}`: `{"sessions": {…}}`. */
  getRoom(roomId: string): unknown {
    const sessions: Record<string, KeyBackupData> = {};
    for (const [id, data] of this.rooms.get(roomId) ?? []) sessions[id] = JSON.parse(data);
    return { sessions };
  }

  /** Bytes the server stores for a room: session ids and their KeyBackupData JSON. */
  storedBytes(roomId: string): number {
    let bytes = 0;
    for (const [id, data] of this.rooms.get(roomId) ?? [])
      bytes += Buffer.byteLength(id) + Buffer.byteLength(data);
    return bytes;
  }

  sessionIds(roomId: string): string[] {
    return [...(this.rooms.get(roomId)?.keys() ?? [])];
  }
}
