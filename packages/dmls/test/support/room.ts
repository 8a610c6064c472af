/**
 * A room log and its devices for the group tests, delivering only when told to. Every device
 * publishes its signature key; `keys` is the directory every group checks leaves against.
 */
import {
  basicCredential,
  cipherSuite,
  createCommit,
  createKeyPackage,
  nodeCrypto,
  type CommitOptions,
  type GroupState,
  type KeyPackageBundle,
} from '@trellis/mls';
import {
  DmlsGroup,
  encodeCommitData,
  parseWelcome,
  type CommitDataInput,
  type Received,
  type RoomEvent,
  type RoomEventContent,
} from '../../src/index.js';
import { roomEventContent } from '../../src/wire.js';

export const suite = cipherSuite(1, nodeCrypto);
export const ROOM = '!room:test';
export const T0 = 1_700_000_000_000;

export const ALICE = '@alice:test|A1';
export const BOB = '@bob:test|B1';
export const CAROL = '@carol:test|C1';
export const DAVE = '@dave:test|D1';

type KeyPair = ReturnType<typeof suite.signature.generateKeyPair>;

export class TestRoom {
  readonly events: RoomEvent[] = [];
  readonly groups = new Map<string, DmlsGroup>();
  /** Published device keys (the directory every device checks leaves against). */
  readonly published = new Map<string, Uint8Array>();
  /** Devices a viewer has not looked up yet: its directory answers `undefined` for them. */
  readonly unknownTo = new Map<string, Set<string>>();
  /** Devices a viewer does not trust (its user did not sign them, under its policy). */
  readonly untrustedBy = new Map<string, Set<string>>();
  private readonly pairs = new Map<string, KeyPair>();
  readonly now = { value: T0 };

  keyPair(identity: string): KeyPair {
    if (!this.pairs.has(identity)) {
      const pair = suite.signature.generateKeyPair();
      this.pairs.set(identity, pair);
      this.published.set(identity, pair.publicKey);
    }
    return this.pairs.get(identity)!;
  }

  options(identity: string) {
    return {
      roomId: ROOM,
      identity,
      provider: nodeCrypto,
      deviceKeys: (id: string) =>
        this.unknownTo.get(identity)?.has(id)
          ? undefined
          : this.untrustedBy.get(identity)?.has(id)
            ? { untrusted: 'not signed by its user' }
            : (this.published.get(id) ?? null),
    };
  }

  group(identity: string): DmlsGroup {
    return this.groups.get(identity)!;
  }

  create(identity: string): DmlsGroup {
    const group = DmlsGroup.create({
      ...this.options(identity),
      suite: 1,
      createEventId: '$create',
      signatureKeyPair: this.keyPair(identity),
      now: this.now.value,
    });
    this.groups.set(identity, group);
    return group;
  }

  keyPackage(identity: string, signer = identity): KeyPackageBundle {
    return createKeyPackage(suite, {
      credential: basicCredential(new TextEncoder().encode(identity)),
      signatureKeyPair: this.keyPair(signer),
      now: BigInt(Math.floor(this.now.value / 1000)),
    });
  }

  post(identity: string, content: object): RoomEvent {
    const event = { eventId: `$${this.events.length}`, sender: identity.split('|')[0]!, content };
    this.events.push(event);
    return event;
  }

  deliver(identity: string, event: RoomEvent): Received[] {
    return this.group(identity).receive(event, this.now.value);
  }

  deliverAll(event: RoomEvent, except: readonly string[] = []): void {
    for (const id of this.groups.keys()) if (!except.includes(id)) this.deliver(id, event);
  }

  /** `from` adds `identities` in one commit (delivered to all); the new devices join. */
  add(from: string, identities: string[]): RoomEvent {
    const group = this.group(from);
    const bundles = new Map(identities.map((id) => [id, this.keyPackage(id)]));
    const current = group.current();
    const made = group.commit(
      { baseKey: current.key, resolveKeys: [], remove: [], add: identities },
      new Map([...bundles].map(([id, b]) => [id, b.keyPackage])),
    );
    const event = this.post(from, made.content);
    this.deliverAll(event);
    const welcome = parseWelcome(made.welcomeFor(event.eventId));
    for (const [id, bundle] of bundles) {
      this.groups.set(id, DmlsGroup.fromWelcome({ ...this.options(id), welcome, bundle }));
    }
    return event;
  }

  commit(identity: string, plan?: Parameters<DmlsGroup['commit']>[0]): RoomEvent {
    const group = this.group(identity);
    const made = group.commit(
      plan ?? { baseKey: group.current().key, resolveKeys: [], remove: [] },
      new Map(),
    );
    return this.post(identity, made.content);
  }

  /** Resolves as planned by `identity` for a room of `devices`, delivering to everyone. */
  resolve(identity: string, devices: readonly string[]): RoomEvent {
    const plan = this.group(identity).planResolution({ devices });
    if (!plan || plan === 'wait') throw new Error(`${identity} has nothing to resolve`);
    const event = this.commit(identity, plan);
    this.deliverAll(event);
    return event;
  }

  say(identity: string, body: string): RoomEvent {
    return this.post(identity, this.group(identity).encrypt('m.room.message', { body }));
  }

  /** The member state a device holds for one epoch. */
  state(identity: string, key: string): GroupState {
    const held = this.group(identity).epoch(key)!.held;
    if (held.kind !== 'full') throw new Error(`${identity} does not hold ${key}`);
    return held.state;
  }

  /**
   * A commit made with the engine directly, as a hostile member would: any commit data (or raw
   * authenticated data) and any options, on an epoch it holds.
   */
  forge(
    identity: string,
    baseKey: string,
    data: CommitDataInput | Uint8Array,
    options: CommitOptions = {},
  ): RoomEvent {
    const state = this.state(identity, baseKey);
    const node = this.group(identity).epoch(baseKey)!;
    const created = createCommit(state, {
      forcePath: true,
      pending: 'none',
      authenticatedData: data instanceof Uint8Array ? data : encodeCommitData(data),
      ...options,
    });
    const content: RoomEventContent = roomEventContent(
      1,
      created.commit,
      node.id,
      identity,
      baseKey,
    );
    return this.post(identity, content);
  }
}

export function bodyOf(results: Received[]): string | undefined {
  const m = results.find((r) => r.kind === 'message');
  return m?.kind === 'message' ? String(m.plaintext.content.body) : undefined;
}

export function codeOf(results: Received[]): string | undefined {
  const f = results.find((r) => r.kind === 'failed');
  return f?.kind === 'failed' ? f.code : undefined;
}

export function threeMembers(): TestRoom {
  const room = new TestRoom();
  room.create(ALICE);
  room.add(ALICE, [BOB, CAROL]);
  return room;
}
