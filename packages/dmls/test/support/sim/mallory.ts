/**
 * The malicious member: a user with two devices, M1 and M2, both members, running the client
 * to stay in the group, and besides:
 * - forging fork metadata: commits whose signed data resolves their own base or an ancestor,
 *   names an epoch with a garbage tag, or is garbage; room-event JSON whose clear fields lie
 *   (commit_event, sender, a message's epoch);
 * - adding ghost leaves: a KeyPackage in another device's name signed with its own key, a
 *   second leaf of an existing member, a device its user never published; and rejoin requests
 *   in another device's name;
 * - after M1 is logged out (and so removed from the group), keeping M1's pre-removal epoch
 *   states and committing on them, and on its own commits after them, again and again (posted
 *   through M2's session, which the server still accepts), and trying to merge them back.
 */
import {
  basicCredential,
  createCommit,
  createKeyPackage,
  encode,
  fromHex,
  keyPackageCodec,
  type GroupState,
  type KeyPackage,
  type KeyPair,
} from '@trellis/mls';
import {
  encodeCommitData,
  toBase64,
  type CommitData,
  type EpochId,
  type EpochNode,
} from '../../../src/index.js';
import { roomEventContent } from '../../../src/wire.js';
import type { Device } from './device.js';
import { CREATE_EVENT, SUITE, type SimEvent, type World } from './world.js';

/** Attempts that every honest device must refuse. */
export const FORGERIES = [
  'self-resolve',
  'ancestor-resolve',
  'garbage-tag',
  'garbage-data',
  'lying-commit-event',
  'lying-sender',
  'lying-epoch',
  'ghost-other-device',
  'ghost-second-leaf',
  'forged-rejoin',
] as const;
/**
 * Attempts that are let in, then undone: a leaf of a device nobody published cannot be told
 * from a device that logged out since, so it is accepted and the next commit removes it (the
 * membership property checks it is gone).
 */
export const TOLERATED = ['ghost-unpublished'] as const;
/** After M1's removal: merging its old branch back (must be refused) and extending it. */
export const AFTER_REMOVAL = ['undo-removal', 'extend-after-removal'] as const;

interface Hoarded {
  readonly key: string;
  readonly id: EpochId;
  readonly tag: string;
  readonly state: GroupState;
  readonly generation: number;
}

const utf8 = new TextEncoder();

export class Mallory {
  /** M1's epoch states, kept whatever its client prunes. */
  private readonly hoard = new Map<string, Hoarded>();
  /** The head of M1's own branch after its removal: the state its last extension created. */
  private branch: Hoarded | undefined;
  private rotation: string[] = [];
  removedAt: number | undefined;
  private ghosts = 0;
  extensions = 0;

  constructor(
    readonly world: World,
    readonly m1: Device,
    readonly m2: Device,
  ) {}

  /** Keeps every state M1 holds in full (the newest few dozen). */
  observe(): void {
    if (this.removedAt !== undefined && this.hoard.size > 0) return; // pre-removal states only
    for (const node of this.m1.group?.epochs() ?? []) {
      if (node.held.kind !== 'full' || this.hoard.has(node.key)) continue;
      this.hoard.set(node.key, {
        key: node.key,
        id: node.id,
        tag: node.tag,
        state: node.held.state,
        generation: node.generation,
      });
    }
    if (this.hoard.size > 40) {
      const oldest = [...this.hoard.values()].sort((a, b) => a.generation - b.generation);
      for (const h of oldest.slice(0, this.hoard.size - 40)) this.hoard.delete(h.key);
    }
  }

  /** M1 logs out: the room's device list drops it, and honest devices remove it. */
  removeM1(): void {
    this.observe();
    this.removedAt = this.world.now;
    this.m1.loggedOut = true;
    this.world.unpublishDevice(this.m1.identity);
  }

  /** A session the server accepts events from. */
  private poster(): Device | undefined {
    return [this.m2, this.m1].find((d) => this.world.inRoom(d.identity));
  }

  /** A member device of Mallory's with a tip held in full, for forgeries made in the open. */
  private member(): { device: Device; tip: EpochNode; state: GroupState } | undefined {
    for (const device of this.removedAt === undefined ? [this.m1, this.m2] : [this.m2]) {
      const tip = device.current();
      if (tip && tip.held.kind === 'full') return { device, tip, state: tip.held.state };
    }
    return undefined;
  }

  /** One attempt of the next kind in a shuffled rotation (so that every kind comes up). */
  act(): void {
    if (this.rotation.length === 0) {
      this.rotation = this.world.rng.shuffle([
        ...FORGERIES,
        ...TOLERATED,
        ...(this.removedAt !== undefined ? AFTER_REMOVAL : []),
      ]);
    }
    const kind = this.rotation.shift()!;
    try {
      if (kind === 'extend-after-removal') this.extend();
      else if (kind === 'undo-removal') this.undoRemoval();
      else this.forge(kind);
    } catch (e) {
      // Mallory's own engine refused to build it (a ghost whose key is already in her tree):
      // not an attempt.
      if (!(e instanceof Error && e.name === 'MlsError')) throw e;
    }
  }

  private post(
    content: object,
    kind: string,
    mustRefuse: boolean,
    type: 'm.room.encrypted' | 'trellis.rejoin' = 'm.room.encrypted',
  ): SimEvent | undefined {
    const poster = this.poster();
    if (!poster) return undefined;
    const event = this.world.post(poster, type, content);
    if (event) this.world.oracle.attempt(event, kind, mustRefuse);
    return event;
  }

  private commitContent(
    state: GroupState,
    base: { key: string; id: EpochId },
    signer: string,
    authenticatedData: Uint8Array,
    options: { add?: KeyPackage[]; jsonCommitEvent?: string; resolves?: EpochId[] } = {},
  ) {
    const created = createCommit(state, {
      add: options.add ?? [],
      forcePath: true,
      pending: 'none',
      authenticatedData,
    });
    const content = roomEventContent(
      SUITE,
      created.commit,
      base.id,
      signer,
      options.jsonCommitEvent ?? base.key,
      options.resolves,
    );
    return { content, pending: created.pending };
  }

  private keyPackage(identity: string, keys: KeyPair): KeyPackage {
    return createKeyPackage(this.world.suite, {
      credential: basicCredential(utf8.encode(identity)),
      signatureKeyPair: keys,
      now: BigInt(Math.floor(this.world.now / 1000)),
    }).keyPackage;
  }

  private honestRoomDevice(): string | undefined {
    const room = this.world.roomDevices();
    const honest = this.world.devices.filter((d) => d.honest && room.has(d.identity));
    return honest.length > 0 ? this.world.rng.pick(honest).identity : undefined;
  }

  private forge(kind: string): void {
    const m = this.member();
    if (!m) return;
    const { device, tip, state } = m;
    const group = device.group!;
    const rng = this.world.rng;
    const parent = tip.base !== undefined ? group.epoch(tip.base) : undefined;
    // Device changes are declared as they are: these forgeries are about something else.
    const data = (resolves: CommitData['resolves'], added: string[] = []) =>
      encodeCommitData({ baseEvent: tip.key, resolves, added });
    const tagOf = (n: EpochNode) => fromHex(n.tag);
    const commit = (ad: Uint8Array, options: Parameters<Mallory['commitContent']>[4] = {}) =>
      this.commitContent(state, tip, device.identity, ad, options).content;
    switch (kind) {
      case 'self-resolve':
        // The signed data resolves the commit's own base.
        this.post(
          commit(data([{ event: tip.key, tag: tagOf(tip) }]), { resolves: [tip.id] }),
          kind,
          true,
        );
        return;
      case 'ancestor-resolve': {
        if (!parent || parent.tag === '') return this.forge('self-resolve');
        this.post(
          commit(data([{ event: parent.key, tag: tagOf(parent) }]), { resolves: [parent.id] }),
          kind,
          true,
        );
        return;
      }
      case 'garbage-tag': {
        // Names another epoch (another tip if there is one) with a tag that is not its own.
        const other = group.tips().find((t) => t.key !== tip.key) ?? parent;
        const target = other ?? { key: CREATE_EVENT, id: { epoch: 0n, creator: device.identity } };
        this.post(
          commit(data([{ event: target.key, tag: rng.bytes(32) }]), { resolves: [target.id] }),
          kind,
          true,
        );
        return;
      }
      case 'garbage-data':
        this.post(commit(rng.bytes(48)), kind, true);
        return;
      case 'lying-commit-event': {
        // Signed base is the tip; the clear commit_event names another epoch.
        const lie = parent?.key ?? CREATE_EVENT;
        this.post(
          commit(data([]), { jsonCommitEvent: lie === tip.key ? '$nowhere' : lie }),
          kind,
          true,
        );
        return;
      }
      case 'lying-sender': {
        const victim = this.honestRoomDevice();
        if (!victim) return;
        const content = device.group!.encrypt('m.room.message', { body: 'forged sender' });
        const at = victim.lastIndexOf('|');
        // Another user's device, or the other device of Mallory's user: both are lies.
        const sender = rng.chance(0.5)
          ? [victim.slice(0, at), victim.slice(at + 1)]
          : [device.user, (device === this.m1 ? this.m2 : this.m1).identity.split('|')[1]!];
        this.post({ ...content, sender }, kind, true);
        device.dirty = true;
        return;
      }
      case 'lying-epoch': {
        const content = device.group!.encrypt('m.room.message', { body: 'wrong epoch' });
        this.post({ ...content, commit_event: parent?.key ?? CREATE_EVENT }, kind, true);
        device.dirty = true;
        return;
      }
      case 'ghost-other-device': {
        // Another device's identity, signed by a key of Mallory's (M1's once it is logged out).
        const victim = this.honestRoomDevice();
        if (!victim) return;
        const key =
          this.removedAt !== undefined
            ? this.m1.keys
            : this.world.suite.signature.generateKeyPair();
        this.post(commit(data([], [victim]), { add: [this.keyPackage(victim, key)] }), kind, true);
        return;
      }
      case 'ghost-second-leaf': {
        // A second leaf for a device already in the tree (its own), under a fresh key.
        const kp = this.keyPackage(device.identity, this.world.suite.signature.generateKeyPair());
        this.post(commit(data([]), { add: [kp] }), kind, true);
        return;
      }
      case 'ghost-unpublished': {
        // A device its user never published cannot be told from one that logged out since it
        // was added, so it is let in; the next commit removes it (the membership property).
        const ghost = `${device.user}|GHOST${this.ghosts++}`;
        const kp = this.keyPackage(ghost, this.world.suite.signature.generateKeyPair());
        this.post(commit(data([], [ghost]), { add: [kp] }), kind, false);
        return;
      }
      case 'forged-rejoin': {
        // A rejoin request in an honest device's name, or for M2 under a key it never published.
        const victim = rng.chance(0.5) ? this.honestRoomDevice() : undefined;
        const target = victim ?? this.m2.identity;
        const kp = this.keyPackage(target, this.world.suite.signature.generateKeyPair());
        this.post(
          { device: target, key_package: toBase64(encode(keyPackageCodec, kp)) },
          kind,
          true,
          'trellis.rejoin',
        );
        return;
      }
    }
  }

  /** A pre-removal state of M1: mostly the last one, sometimes an older one. */
  private oldState(): Hoarded | undefined {
    const states = [...this.hoard.values()].sort((a, b) => b.generation - a.generation);
    if (states.length === 0) return undefined;
    return this.world.rng.chance(0.6) ? states[0] : this.world.rng.pick(states.slice(0, 6));
  }

  /** M1 commits on its own branch, or starts one on a pre-removal epoch: signed data honest. */
  private extend(): void {
    const from = this.branch && this.world.rng.chance(0.6) ? this.branch : this.oldState();
    if (!from) return;
    const made = this.commitContent(
      from.state,
      from,
      this.m1.identity,
      encodeCommitData({ baseEvent: from.key, resolves: [] }),
    );
    const event = this.post(made.content, 'extend-after-removal', false);
    if (!event) return;
    this.extensions++;
    this.branch = {
      key: event.eventId,
      id: { epoch: from.id.epoch + 1n, creator: this.m1.identity },
      tag: '',
      state: made.pending,
      generation: from.generation + 1,
    };
  }

  /** A commit on M1's old state that claims to merge the group's current tip (keeping M1). */
  private undoRemoval(): void {
    const from = this.branch ?? this.oldState();
    const main = this.m2.current();
    if (!from || !main || main.tag === '' || main.key === from.key) return;
    const made = this.commitContent(
      from.state,
      from,
      this.m1.identity,
      encodeCommitData({
        baseEvent: from.key,
        resolves: [{ event: main.key, tag: fromHex(main.tag) }],
      }),
      { resolves: [main.id] },
    );
    this.post(made.content, 'undo-removal', true);
  }
}
