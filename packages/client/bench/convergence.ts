/**
 * Convergence after k concurrent commits, in lockstep: devices are `DmlsGroup`s driven directly
 * (no `Client`), over a transport that is either the real server's HTTP API or an in-process
 * log (for sizes HTTP cannot carry, see e2e.ts).
 *
 * A round: every device reads everything new; if every device sees one and the same tip, the
 * room has converged; otherwise the devices with a resolution to make and the lowest rank commit
 * (the back-off lets the first rank go alone: the others see its commit before their slot).
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
  parseWelcome,
  type ResolutionPlan,
  type RoomEvent,
  type WelcomeContent,
} from '@trellis/dmls';

export const suite = cipherSuite(1, nodeCrypto);

/** Every bench device's signature key, as its user would publish it. */
const published = new Map<string, Uint8Array>();
const deviceKeys = (identity: string) => published.get(identity) ?? null;

/** One device, driven by the bench. */
export class BenchDevice {
  group: DmlsGroup | undefined;
  readonly keys: KeyPair = suite.signature.generateKeyPair();
  readonly bundles = new Map<string, KeyPackageBundle>();
  /** Time this device spent reading (fetching, decrypting, applying) and committing (ms). */
  busyMs = 0;
  /** Room events that came before this device's Welcome. */
  readonly early: RoomEvent[] = [];

  constructor(
    readonly identity: string,
    readonly roomId: string,
  ) {
    published.set(identity, this.keys.publicKey);
  }

  get userId(): string {
    return this.identity.slice(0, this.identity.lastIndexOf('|'));
  }

  newKeyPackage(): KeyPackage {
    const bundle = createKeyPackage(suite, {
      credential: basicCredential(new TextEncoder().encode(this.identity)),
      signatureKeyPair: this.keys,
      now: BigInt(Math.floor(Date.now() / 1000)),
    });
    this.bundles.set(toHex(bundle.ref), bundle);
    return bundle.keyPackage;
  }

  /** Joins from a Welcome if one of its KeyPackages is named; returns whether it did. */
  accept(content: WelcomeContent): boolean {
    const welcome = parseWelcome(content);
    if (welcome.message.wireFormat !== 3) return false;
    const refs = welcome.message.welcome.secrets.map((s) => toHex(s.newMember));
    const bundle = refs.map((r) => this.bundles.get(r)).find((b) => b !== undefined);
    if (!bundle) return false;
    if (this.group) this.group.addWelcome(welcome, bundle, Date.now());
    else {
      this.group = DmlsGroup.fromWelcome({
        roomId: this.roomId,
        identity: this.identity,
        provider: nodeCrypto,
        deviceKeys,
        welcome,
        bundle,
      });
    }
    return true;
  }
}

/** What the devices talk through. */
export interface Transport {
  /** Stores a room event; answers its event id. */
  post(from: BenchDevice, content: object): Promise<string>;
  sendWelcome(from: BenchDevice, to: readonly string[], content: WelcomeContent): Promise<void>;
  /** What is new for a device: room events in order, and Welcomes. */
  pull(device: BenchDevice): Promise<{ events: RoomEvent[]; welcomes: WelcomeContent[] }>;
  fetch(device: BenchDevice, eventId: string): Promise<RoomEvent>;
  /** One KeyPackage per device. */
  claim(from: BenchDevice, identities: readonly string[]): Promise<Map<string, KeyPackage>>;
}

export interface Room {
  readonly transport: Transport;
  /** Every device of the room (identities), materialised or not. */
  readonly roomDevices: readonly string[];
  /** The devices that run a group and read everything. */
  readonly devices: readonly BenchDevice[];
}

/** Reads everything new for one device, backfilling unknown epochs. */
async function catchUp(room: Room, device: BenchDevice): Promise<void> {
  const { events, welcomes } = await room.transport.pull(device);
  const started = performance.now();
  for (const w of welcomes) device.accept(w);
  const group = device.group;
  if (!group) device.early.push(...events);
  else {
    for (const e of [...device.early.splice(0), ...events]) group.receive(e, Date.now());
    for (let guard = 0; guard < 1000 && group.missing().length > 0; guard++) {
      const before = group.epochs().length;
      for (const id of group.missing())
        group.receive(await room.transport.fetch(device, id), Date.now());
      if (group.epochs().length === before) break;
    }
  }
  device.busyMs += performance.now() - started;
}

/** One commit from `device`: its resolution plan if it has one, else a plain key update. */
async function commitFrom(room: Room, device: BenchDevice, plan?: ResolutionPlan): Promise<string> {
  const group = device.group!;
  const started = performance.now();
  const p = plan ?? { baseKey: group.current().key, resolveKeys: [], remove: [], add: [] };
  const keyPackages = p.add.length > 0 ? await room.transport.claim(device, p.add) : new Map();
  const made = group.commit(p, keyPackages);
  device.busyMs += performance.now() - started;
  const eventId = await room.transport.post(device, made.content);
  group.receive({ eventId, sender: device.userId, content: made.content }, Date.now());
  const welcome = made.welcomeFor(eventId);
  if (welcome) await room.transport.sendWelcome(device, made.added, welcome);
  return eventId;
}

function converged(room: Room): boolean {
  const tips = new Set<string>();
  for (const d of room.devices) {
    const t = d.group?.tips();
    if (!t || t.length !== 1) return false;
    tips.add(t[0]!.key);
  }
  return tips.size === 1;
}

/** All devices read until nothing is new. */
export async function readAll(room: Room): Promise<void> {
  for (const d of room.devices) await catchUp(room, d);
}

/** Waves of resolving commits until no device has anything left; each wave one rank. */
export async function settle(
  room: Room,
  maxRounds = 100,
): Promise<{ converged: number; settled: number; commits: number }> {
  let convergedAt: number | undefined;
  let commits = 0;
  for (let round = 0; round < maxRounds; round++) {
    await readAll(room);
    if (convergedAt === undefined && converged(room)) convergedAt = round;
    const plans = room.devices
      .map((d) => ({ d, plan: d.group?.planResolution({ devices: room.roomDevices }) }))
      .filter(
        (x): x is { d: BenchDevice; plan: ResolutionPlan } =>
          x.plan !== undefined && x.plan !== 'wait',
      );
    if (plans.length === 0) return { converged: convergedAt ?? round, settled: round, commits };
    const first = Math.min(...plans.map((x) => x.plan.rank));
    const wave = plans.filter((x) => x.plan.rank === first);
    await Promise.all(wave.map((x) => commitFrom(room, x.d, x.plan)));
    commits += wave.length;
  }
  throw new Error('no convergence');
}

export interface ConvergenceResult {
  k: number;
  /** Rounds until every device sees one and the same tip. */
  rounds: number;
  /** Rounds until no device has work left (devices whose update was merged away update again). */
  settleRounds: number;
  /** Resolving commits sent. */
  resolvingCommits: number;
  /** Wall-clock time of the whole phase, every device on this machine in turn (ms). */
  wallMs: number;
  /** The largest time one device spent in the phase: what a device running alone would take. */
  deviceMs: number;
}

/** k devices commit on the same epoch at once, then the room settles. */
export async function concurrentCommits(
  room: Room,
  committers: readonly BenchDevice[],
): Promise<ConvergenceResult> {
  await readAll(room);
  for (const d of room.devices) d.busyMs = 0;
  const started = performance.now();
  // Commits made before any is posted: none sees another.
  await Promise.all(committers.map((d) => commitFrom(room, d)));
  const result = await settle(room);
  return {
    k: committers.length,
    rounds: result.converged,
    settleRounds: result.settled,
    resolvingCommits: result.commits,
    wallMs: performance.now() - started,
    deviceMs: Math.max(...room.devices.map((d) => d.busyMs)),
  };
}

/** Creates the group on `creator` and adds every other device, `batch` per commit. */
export async function buildGroup(
  room: Room,
  creator: BenchDevice,
  createEventId: string,
  batch: number,
): Promise<void> {
  creator.group = DmlsGroup.create({
    roomId: creator.roomId,
    identity: creator.identity,
    provider: nodeCrypto,
    deviceKeys,
    suite: 1,
    createEventId,
    signatureKeyPair: creator.keys,
    now: Date.now(),
  });
  const others = room.roomDevices.filter((id) => id !== creator.identity);
  for (let i = 0; i < others.length; i += batch) {
    const add = others.slice(i, i + batch);
    const current = creator.group.current();
    await commitFrom(room, creator, {
      base: current.id,
      baseKey: current.key,
      resolves: [],
      resolveKeys: [],
      remove: [],
      add,
      selfUpdate: false,
      rank: 0,
      crossed: 0,
    });
  }
  await readAll(room);
  if (!converged(room)) throw new Error('the group did not form');
}

/** A small seeded generator, so the committers chosen are the same on every run. */
export function seeded(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}
