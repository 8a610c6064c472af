/**
 * A deterministic simulation of a federated room: a server that stores events in the order it
 * receives them (and nothing more: it does not order MLS epochs), a KeyPackage directory,
 * to-device Welcomes, and devices that see events late, out of order, or not at all while
 * offline. Every random choice comes from one seeded generator, so a seed replays exactly.
 */
import {
  basicCredential,
  cipherSuite,
  createKeyPackage,
  nodeCrypto,
  toHex,
  type KeyPackage,
  type KeyPackageBundle,
  type KeyPair,
} from '@trellis/mls';
import {
  DmlsGroup,
  epochKey,
  parseWelcome,
  type DmlsGroupOptions,
  type Received,
  type RoomEvent,
  type WelcomeContent,
} from '../../src/index.js';

export const SUITE = 1;
const suite = cipherSuite(SUITE, nodeCrypto);
const ROOM = '!sim:trellis.test';
const CREATE_EVENT = '$create';
const MAX_ROUNDS = 100;

/** xorshift32: small, fast and plenty for choosing simulation steps. */
export class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 0x100000000;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }
}

interface SentMessage {
  eventId: string;
  epochKey: string;
  sender: string;
  text: string;
  /** Members of the epoch as its sender saw them. */
  members: Set<string>;
  /** Devices the server delivers it to: those of users in the room when it was sent. */
  recipients: Set<string>;
}

/** One simulated device. */
export class SimDevice {
  group: DmlsGroup | undefined;
  /** Room events not yet processed by this device, in arrival order (shuffled on delivery). */
  inbox: string[] = [];
  welcomes: WelcomeContent[] = [];
  offlineUntil = 0;
  readonly keys: KeyPair = suite.signature.generateKeyPair();
  readonly bundles = new Map<string, KeyPackageBundle>();
  /** Texts decrypted, by event id. */
  readonly read = new Map<string, string>();
  /** Epochs of the messages this device decrypted. */
  readonly readEpochs = new Map<string, string>();
  removed = false;

  constructor(readonly identity: string) {}

  newKeyPackage(now: number): KeyPackage {
    const bundle = createKeyPackage(suite, {
      credential: basicCredential(new TextEncoder().encode(this.identity)),
      signatureKeyPair: this.keys,
      now: BigInt(Math.floor(now / 1000)),
    });
    this.bundles.set(bundle.keyPackage.initKey.toString(), bundle);
    return bundle.keyPackage;
  }
}

export interface SimOptions {
  seed: number;
  steps: number;
  users: number;
  log?: (line: string) => void;
}

export interface SimReport {
  seed: number;
  steps: number;
  devices: number;
  messages: number;
  forks: number;
  backfilled: number;
  /** Rounds after quiescence until every device sees one and the same tip. */
  resolutionRounds: number;
  /** Rounds until no device has a resolution or an update left to send. */
  settleRounds: number;
  tip: string;
  decrypted: number;
  missing: string[];
  violations: string[];
}

export class Simulation {
  readonly rng: Random;
  readonly log: (line: string) => void;
  now = 1_700_000_000_000;
  step = 0;
  /** The server's room timeline. */
  readonly events: RoomEvent[] = [];
  readonly byId = new Map<string, RoomEvent>();
  /** Every user and their current devices; `joined` are those in the room. */
  readonly users = new Map<string, SimDevice[]>();
  readonly joined = new Set<string>();
  readonly devices = new Map<string, SimDevice>();
  readonly sent: SentMessage[] = [];
  /** Commit events fetched by id to fill gaps. */
  backfilled = 0;
  private nextUser = 0;
  private nextDevice = 0;

  constructor(readonly options: SimOptions) {
    this.rng = new Random(options.seed);
    this.log = options.log ?? (() => {});
  }

  get roomDevices(): string[] {
    return [...this.joined].flatMap((u) => this.users.get(u)!.map((d) => d.identity));
  }

  userOf(device: SimDevice): string {
    return device.identity.slice(0, device.identity.lastIndexOf('|'));
  }

  inRoom(device: SimDevice): boolean {
    return !device.removed && this.joined.has(this.userOf(device));
  }

  private groupOptions(identity: string): DmlsGroupOptions {
    return { roomId: ROOM, identity, provider: nodeCrypto };
  }

  private addUser(devices: number): string {
    const userId = `@u${this.nextUser++}:sim`;
    this.users.set(userId, []);
    for (let i = 0; i < devices; i++) this.addDevice(userId);
    return userId;
  }

  addDevice(userId: string): SimDevice {
    const device = new SimDevice(`${userId}|D${this.nextDevice++}`);
    this.users.get(userId)!.push(device);
    this.devices.set(device.identity, device);
    return device;
  }

  removeDevice(device: SimDevice): void {
    const userId = device.identity.slice(0, device.identity.lastIndexOf('|'));
    const list = this.users.get(userId)!;
    list.splice(list.indexOf(device), 1);
    device.removed = true;
  }

  /** The user leaves the room; its devices stay (they may come back when it is invited again). */
  leave(userId: string): void {
    this.joined.delete(userId);
  }

  join(userId: string): void {
    this.joined.add(userId);
  }

  /** The server accepts an event: it gets an id and reaches every device's inbox. */
  post(sender: SimDevice, content: object): string {
    const eventId = `$e${this.events.length}`;
    const event: RoomEvent = {
      eventId,
      sender: sender.identity.slice(0, sender.identity.lastIndexOf('|')),
      content,
    };
    this.events.push(event);
    this.byId.set(eventId, event);
    // Matrix delivers room events to the devices of joined users only.
    for (const d of this.devices.values())
      if (this.inRoom(d) || d === sender) d.inbox.push(eventId);
    return eventId;
  }

  createRoom(creator: SimDevice): void {
    creator.group = DmlsGroup.create({
      ...this.groupOptions(creator.identity),
      suite: SUITE,
      createEventId: CREATE_EVENT,
      signatureKeyPair: creator.keys,
      now: this.now,
    });
  }

  /** Claims one KeyPackage of each device (the directory makes them on demand). */
  claim(identities: readonly string[]): Map<string, KeyPackage> {
    const out = new Map<string, KeyPackage>();
    for (const id of identities) {
      const d = this.devices.get(id);
      if (d && !d.removed) out.set(id, d.newKeyPackage(this.now));
    }
    return out;
  }

  /** A device resolves or updates: one commit on its current view, posted to the room. */
  commitFrom(device: SimDevice, force: boolean): boolean {
    const group = device.group;
    if (!group) return false;
    const plan = group.planResolution(this.roomDevices);
    if (plan === 'wait') return false;
    const base = group.current();
    if (base.held.kind !== 'full' || group.commitInFlight) return false;
    if (!plan && !force) return false;
    const p = plan ?? { base: base.id, resolves: [], remove: [], add: [] };
    const made = group.commit(p, this.claim(p.add));
    const eventId = this.post(device, made.content);
    const welcome = made.welcomeFor(eventId);
    if (welcome) for (const id of made.added) this.devices.get(id)!.welcomes.push(welcome);
    return true;
  }

  sendMessage(device: SimDevice): void {
    const group = device.group;
    if (!group) return;
    const node = group.current();
    if (node.held.kind !== 'full') return;
    const text = `m${this.sent.length} from ${device.identity}`;
    const content = group.encrypt('m.room.message', { msgtype: 'm.text', body: text });
    const eventId = this.post(device, content);
    this.sent.push({
      eventId,
      epochKey: node.key,
      sender: device.identity,
      text,
      members: new Set(node.members.keys()),
      recipients: new Set(this.roomDevices),
    });
    device.read.set(eventId, text);
    device.readEpochs.set(eventId, node.key);
  }

  /** A device processes Welcomes and some of its inbox, in shuffled order. */
  deliver(device: SimDevice, share: number): void {
    // A removed device still reads what reached it before it left, and nothing after.
    if (this.step < device.offlineUntil) return;
    for (const w of device.welcomes.splice(0)) this.acceptWelcome(device, w);
    if (!device.group) return;
    const take = Math.max(1, Math.ceil(device.inbox.length * share));
    const batch = this.rng.shuffle(device.inbox.splice(0, take));
    for (const eventId of batch) this.process(device, this.byId.get(eventId)!);
  }

  private acceptWelcome(device: SimDevice, content: WelcomeContent): void {
    const welcome = parseWelcome(content);
    if (welcome.message.wireFormat !== 3) return;
    const refs = welcome.message.welcome.secrets.map((s) => toHex(s.newMember));
    const bundle = [...device.bundles.values()].find((b) => refs.includes(toHex(b.ref)));
    if (!bundle) return;
    if (device.group) device.group.addWelcome(welcome, bundle, nodeCrypto, this.now);
    else {
      device.group = DmlsGroup.fromWelcome({
        ...this.groupOptions(device.identity),
        welcome,
        bundle,
      });
    }
  }

  private process(device: SimDevice, event: RoomEvent): void {
    const results = device.group!.receive(event, this.now);
    for (const r of results) this.record(device, r);
    // Backfill: fetch what the queue waits for, oldest first, until nothing is missing.
    for (let guard = 0; guard < 1000; guard++) {
      const missing = device.group!.missing().filter((id) => this.byId.has(id));
      if (missing.length === 0) break;
      const known = device.group!.epochs().length;
      this.backfilled += missing.length;
      for (const id of missing) {
        for (const r of device.group!.receive(this.byId.get(id)!, this.now)) this.record(device, r);
      }
      if (device.group!.epochs().length === known) break;
    }
  }

  private record(device: SimDevice, r: Received): void {
    if (r.kind === 'message') {
      const body = r.plaintext.content.body;
      device.read.set(r.eventId, String(body));
      device.readEpochs.set(r.eventId, epochKey(r.epoch));
    }
  }

  /** One random step of the story. */
  randomStep(): void {
    this.step++;
    this.now += 1000;
    const active = [...this.devices.values()].filter(
      (d) => this.inRoom(d) && d.group && this.step >= d.offlineUntil,
    );
    const roll = this.rng.next();
    const users = [...this.users.keys()];
    const outside = users.filter((u) => !this.joined.has(u));
    if (roll < 0.35 && active.length > 0) {
      this.sendMessage(this.rng.pick(active));
    } else if (roll < 0.41 && outside.length > 0) {
      const user = this.rng.pick(outside);
      this.join(user);
      this.log(`step ${this.step}: ${user} is invited and joins`);
    } else if (roll < 0.45 && this.joined.size > 2) {
      const user = this.rng.pick([...this.joined].slice(1));
      this.leave(user);
      this.log(`step ${this.step}: ${user} is removed from the room`);
    } else if (roll < 0.5) {
      const user = this.rng.pick(users);
      const list = this.users.get(user)!;
      if (list.length < 3 && this.rng.next() < 0.6) this.addDevice(user);
      else if (list.length > 1) this.removeDevice(this.rng.pick(list.slice(1)));
    } else if (roll < 0.56 && active.length > 0) {
      this.commitFrom(this.rng.pick(active), true);
    } else if (roll < 0.64 && active.length > 1) {
      // 2–4 devices commit on what they see, before seeing each other's commits.
      const k = Math.min(active.length, 2 + this.rng.int(3));
      for (const d of this.rng.shuffle([...active]).slice(0, k)) this.commitFrom(d, true);
    } else if (roll < 0.65 && active.length > 2 && !this.anyOffline()) {
      const d = this.rng.pick(active);
      d.offlineUntil = this.step + 100;
      this.log(`step ${this.step}: ${d.identity} goes offline for 100 steps`);
    } else {
      for (const d of this.devices.values())
        if (this.rng.next() < 0.5) this.deliver(d, this.rng.next());
      if (this.rng.next() < 0.3) this.resolveRound();
    }
  }

  private anyOffline(): boolean {
    return [...this.devices.values()].some((d) => d.offlineUntil > this.step);
  }

  /** Every device reads everything; then the devices that should resolve do, by rank. */
  resolveRound(): number {
    for (const d of this.devices.values()) this.deliverAll(d);
    const plans = [...this.devices.values()]
      .filter((d) => this.inRoom(d) && d.group && this.step >= d.offlineUntil)
      .map((d) => ({ d, plan: d.group!.planResolution(this.roomDevices) }))
      .filter((x) => x.plan && x.plan !== 'wait');
    if (plans.length === 0) return 0;
    // Back-off by rank: the lowest rank goes first; the rest see its commit before their turn.
    const first = Math.min(...plans.map((x) => (x.plan as { rank: number }).rank));
    let sent = 0;
    for (const { d, plan } of plans) {
      if ((plan as { rank: number }).rank === first && this.commitFrom(d, false)) sent++;
    }
    return sent;
  }

  deliverAll(device: SimDevice): void {
    for (let i = 0; i < 50 && (device.inbox.length > 0 || device.welcomes.length > 0); i++) {
      this.deliver(device, 1);
    }
  }

  run(): SimReport {
    for (let i = 0; i < this.options.users; i++) this.addUser(1 + this.rng.int(3));
    const [founder, second] = this.users.keys();
    this.join(founder!);
    this.join(second!);
    this.createRoom(this.users.get(founder!)![0]!);
    for (let i = 0; i < this.options.steps; i++) this.randomStep();
    // Quiescence: everyone online, everything delivered, resolution rounds until one tip.
    for (const d of this.devices.values()) d.offlineUntil = 0;
    // Rounds until one tip; then more until no device has anything left to do (each device whose
    // own update was lost on a losing branch updates again, one at a time by rank).
    let converged: number | undefined;
    let rounds = 0;
    for (; rounds < MAX_ROUNDS; rounds++) {
      for (const d of this.devices.values()) this.deliverAll(d);
      if (converged === undefined && this.converged()) converged = rounds;
      if (this.resolveRound() === 0) break;
    }
    for (const d of this.devices.values()) this.deliverAll(d);
    return this.report(converged ?? MAX_ROUNDS, rounds);
  }

  private converged(): boolean {
    const tips = new Set<string>();
    for (const d of this.devices.values()) {
      if (!this.inRoom(d) || !d.group) continue;
      const t = d.group.tips();
      if (t.length !== 1) return false;
      tips.add(t[0]!.key);
    }
    return tips.size === 1;
  }

  private report(rounds: number, settleRounds: number): SimReport {
    const violations: string[] = [];
    const missing: string[] = [];
    let decrypted = 0;
    const live = [...this.devices.values()].filter((d) => this.inRoom(d) && d.group);
    const tips = new Set(
      live.map((d) =>
        d
          .group!.tips()
          .map((t) => t.key)
          .join(','),
      ),
    );
    if (tips.size !== 1 || [...tips][0]!.includes(','))
      violations.push(`not converged: ${[...tips].join(' / ')}`);
    for (const m of this.sent) {
      for (const d of this.devices.values()) {
        const read = d.read.get(m.eventId);
        if (read !== undefined) {
          decrypted++;
          if (read !== m.text) violations.push(`${d.identity} read ${m.eventId} wrongly`);
          if (!m.members.has(d.identity)) {
            violations.push(`${d.identity} read ${m.eventId} without being a member of its epoch`);
          }
        } else if (m.members.has(d.identity) && m.recipients.has(d.identity)) {
          missing.push(`${d.identity} did not read ${m.eventId} (${m.epochKey})`);
        }
      }
    }
    // A fork: an epoch that more than one commit took as its base, in any device's view.
    const children = new Map<string, Set<string>>();
    for (const d of this.devices.values()) {
      for (const n of d.group?.epochs() ?? []) {
        if (n.base) children.set(n.base, (children.get(n.base) ?? new Set()).add(n.key));
      }
    }
    const forks = [...children.values()].filter((c) => c.size > 1).length;
    return {
      seed: this.options.seed,
      steps: this.options.steps,
      devices: this.devices.size,
      messages: this.sent.length,
      forks,
      backfilled: this.backfilled,
      resolutionRounds: rounds,
      settleRounds,
      tip: [...tips][0] ?? '',
      decrypted,
      missing,
      violations,
    };
  }
}
