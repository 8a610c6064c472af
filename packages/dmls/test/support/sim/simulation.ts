/**
 * A seeded, deterministic story of one federated room (issue 12): honest users whose devices
 * come and go, a malicious member, three homeservers that a partition can split for longer
 * than the fork window, devices offline for long stretches, and delivery that is delayed,
 * reordered and duplicated. Then every partition heals, every device comes back, and the
 * devices run their resolution logic until nothing more happens; then the properties are
 * judged (oracle.ts). Every random choice, cryptographic ones included, comes from the seed.
 */
import { Device } from './device.js';
import { Mallory, TOLERATED } from './mallory.js';
import { Oracle, type AttemptSummary, type PropertyCounts } from './oracle.js';
import { Random, seededProvider } from './random.js';
import { HOMESERVERS, PARAMS, World } from './world.js';

export interface SimOptions {
  seed: number;
  /** Story steps of `PARAMS.stepMs` simulated time each. */
  steps: number;
  /** Honest users (each with 1–3 devices). */
  users?: number;
  log?: (line: string) => void;
  /** Leave parts of the story out, to tell causes apart when diagnosing (all on by default). */
  without?: readonly ('partition' | 'absence' | 'extensions' | 'forgeries' | 'malice')[];
}

export interface SimReport {
  seed: number;
  steps: number;
  counts: PropertyCounts;
  /** A few lines per failed property, for diagnosis. */
  details: Record<keyof PropertyCounts, string[]>;
  story: {
    devices: number;
    messages: number;
    commits: number;
    forks: number;
    backfilled: number;
    paginated: number;
    duplicates: number;
    partitions: number;
    /** Longest partition, and the fork window, in simulated ms. */
    longestPartitionMs: number;
    forkWindowMs: number;
    offlinePeriods: number;
    longestOfflineMs: number;
    rejoinsPosted: number;
    /** Why rejoin requests were posted (see `Oracle.rejoinReasons`). */
    rejoinReasons: Record<string, number>;
    /** Honest commits refused by honest devices, by code (EPOCH_EXPIRED: past the fork window). */
    honestCommitRefusals: Record<string, number>;
    welcomeFailures: Record<string, number>;
    /** The first refusals of honest commits by honest devices, with their reasons. */
    refusalSamples: string[];
    /** Simulated ms from healing until quiet (or the cap). */
    healMs: number;
    quiet: boolean;
    tip: string;
  };
  mallory: {
    /** Per kind: attempts made, honest refusals by code, honest acceptances. */
    attempts: Record<string, AttemptSummary>;
    /** Acceptances of attempts that must be refused (forgeries that got through). */
    forgeriesAccepted: number;
    extensions: number;
  };
  wallMs: number;
  /** Wall time of the story, the healing, the idle time before the retention check, the checks. */
  phaseMs: { story: number; heal: number; idle: number; checks: number };
}

const MAX_HEAL_MS = 20 * 60_000;
const QUIET_MS = 60_000;

const isTolerated = (kind: string) => (TOLERATED as readonly string[]).includes(kind);

export class Simulation {
  readonly rng: Random;
  readonly world: World;
  readonly oracle = new Oracle();
  readonly log: (line: string) => void;
  private readonly users = new Map<string, { hs: string; devices: Device[] }>();
  private mallory!: Mallory;
  private founder!: Device;
  private nextDevice = 0;
  private messagesSent = 0;
  private lastPostAt = 0;
  private readonly offline = new Map<Device, number>();
  private offlinePeriods = 0;
  private longestOfflineMs = 0;

  constructor(readonly options: SimOptions) {
    this.rng = new Random(options.seed);
    const provider = seededProvider(new Random((options.seed * 2654435761) ^ 0x5bd1e995));
    this.world = new World(this.rng, provider, this.oracle);
    this.oracle.world = this.world;
    this.world.onPost = (event) => {
      this.lastPostAt = this.world.now;
      this.oracle.posted(event);
    };
    this.log = options.log ?? (() => {});
  }

  private addUser(name: string, devices: number, malicious = false): string {
    const user = `@${name}:sim`;
    const hs = malicious ? 'hs0' : HOMESERVERS[this.users.size % HOMESERVERS.length]!;
    this.users.set(user, { hs, devices: [] });
    this.world.homeserverOf.set(user, hs);
    for (let i = 0; i < devices; i++) this.addDevice(user, malicious);
    return user;
  }

  private addDevice(user: string, malicious = false): Device {
    const entry = this.users.get(user)!;
    const device = new Device(this.world, `${user}|D${this.nextDevice++}`, entry.hs, malicious);
    entry.devices.push(device);
    this.world.devices.push(device);
    this.world.publishDevice(device.identity, device.keys.publicKey);
    device.view.apply(this.world.state.get(`device ${device.identity}`)!);
    return device;
  }

  private honestDevices(): Device[] {
    return this.world.devices.filter((d) => d.honest);
  }

  private honestUsers(): string[] {
    return [...this.users.keys()].filter((u) => !this.users.get(u)!.devices.some((d) => !d.honest));
  }

  // -------------------------------------------------------------------------------------------
  // The story

  run(): SimReport {
    const started = performance.now();
    const { steps } = this.options;
    const userCount = this.options.users ?? 5;
    for (let i = 0; i < userCount; i++) this.addUser(`u${i}`, 1 + this.rng.int(2));
    const evil = this.addUser('mallory', 2, true);
    const [m1, m2] = this.users.get(evil)!.devices as [Device, Device];
    this.mallory = new Mallory(this.world, m1, m2);
    const honestUsers = this.honestUsers();
    for (const u of [...honestUsers.slice(0, 3), evil]) this.world.join(u);
    this.founder = this.users.get(honestUsers[0]!)!.devices[0]!;
    this.founder.createGroup();

    // Fixed beats so every seed has them: one partition longer than the fork window, one long
    // absence, and M1's removal followed by its branch extensions.
    let partitionAt = Math.floor(steps * (0.2 + 0.25 * this.rng.next()));
    const partitionMs = Math.floor(PARAMS.forkWindowMs * (1.4 + this.rng.next()));
    const absenceAt = Math.floor(steps * (0.1 + 0.4 * this.rng.next()));
    const removeAt = Math.floor(steps * (0.3 + 0.15 * this.rng.next()));
    let nextExtensionAt = Infinity;

    for (let step = 1; step <= steps; step++) {
      const world = this.world;
      world.now += PARAMS.stepMs;
      if (world.partition && world.now >= world.partition.until) {
        world.heal();
        this.log(`step ${step}: partition healed`);
      }
      for (const [d, until] of this.offline) if (world.now >= until) this.comeBack(d);
      if (step === partitionAt && !this.without('partition')) {
        if (world.partition)
          partitionAt++; // after the one under way
        else this.partition(partitionMs, step);
      }
      if (step === absenceAt && !this.without('absence')) {
        this.goOffline(step, 4 * 60_000 + this.rng.int(4 * 60_000));
      }
      if (step === removeAt && !this.without('malice')) {
        this.mallory.removeM1();
        nextExtensionAt = step + 10;
        this.log(`step ${step}: ${m1.identity} logs out (removed); Mallory keeps its states`);
      }
      if (step >= nextExtensionAt && !this.without('extensions')) {
        this.mallory.act(); // the rotation now includes extensions and undo attempts
        this.mallory.act();
        nextExtensionAt = step + this.rng.between(8, 20);
      }
      this.randomStep(step);
      this.tickAll();
      this.mallory.observe();
    }
    return this.finish(started, performance.now());
  }

  private randomStep(step: number): void {
    const world = this.world;
    const rng = this.rng;
    const roll = rng.next();
    const honestUsers = this.honestUsers();
    const outside = honestUsers.filter((u) => !world.joined.has(u));
    const inside = honestUsers.filter((u) => world.joined.has(u) && u !== this.founder.user);
    const active = this.honestDevices().filter(
      (d) => d.online && !d.loggedOut && world.inRoom(d.identity) && d.group,
    );
    if (roll < 0.28) {
      if (active.length > 0) this.message(rng.pick(active));
    } else if (roll < 0.31) {
      if (outside.length > 0) {
        const user = rng.pick(outside);
        world.join(user);
        this.log(`step ${step}: ${user} joins`);
      }
    } else if (roll < 0.33) {
      if (inside.length > 2) {
        const user = rng.pick(inside);
        world.leave(user);
        this.log(`step ${step}: ${user} leaves`);
      }
    } else if (roll < 0.35) {
      const user = rng.pick(honestUsers);
      const live = this.users.get(user)!.devices.filter((d) => !d.loggedOut);
      if (live.length < 3 && this.world.devices.length < 22) {
        const d = this.addDevice(user);
        this.log(`step ${step}: ${d.identity} is a new device`);
      }
    } else if (roll < 0.365) {
      const user = rng.pick(honestUsers);
      const live = this.users.get(user)!.devices.filter((d) => !d.loggedOut && d !== this.founder);
      if (live.length > 1) {
        const d = rng.pick(live);
        d.loggedOut = true;
        world.unpublishDevice(d.identity);
        this.log(`step ${step}: ${d.identity} logs out`);
      }
    } else if (roll < 0.395) {
      if (active.length > 0) rng.pick(active).forceCommit();
    } else if (roll < 0.415) {
      // 2–3 devices commit on what they see, at once: a fork.
      const k = Math.min(active.length, 2 + rng.int(2));
      for (const d of rng.shuffle([...active]).slice(0, k)) d.forceCommit();
    } else if (roll < 0.42) {
      if (this.offline.size < 2) this.goOffline(step, 60_000 + rng.int(6 * 60_000));
    } else if (roll < 0.422) {
      if (!world.partition && !this.without('partition'))
        this.partition(Math.floor(PARAMS.forkWindowMs * (0.3 + 1.5 * rng.next())), step);
    } else if (roll < 0.46) {
      if (
        world.joined.has(this.mallory.m2.user) &&
        !this.without('forgeries') &&
        !this.without('malice')
      ) {
        this.mallory.act();
      }
    }
  }

  private without(part: NonNullable<SimOptions['without']>[number]): boolean {
    return this.options.without?.includes(part) ?? false;
  }

  private message(device: Device): void {
    if (device.sendMessage(this.messagesSent)) this.messagesSent++;
  }

  private partition(durationMs: number, step: number): void {
    const isolated = this.rng.pick(HOMESERVERS);
    this.world.startPartition(isolated, durationMs);
    this.log(`step ${step}: ${isolated} is cut off for ${Math.round(durationMs / 1000)} s`);
  }

  private goOffline(step: number, durationMs: number): void {
    const candidates = this.honestDevices().filter((d) => d.online && d !== this.founder);
    if (candidates.length === 0) return;
    const d = this.rng.pick(candidates);
    d.goOffline();
    this.offline.set(d, this.world.now + durationMs);
    this.offlinePeriods++;
    this.longestOfflineMs = Math.max(this.longestOfflineMs, durationMs);
    this.log(`step ${step}: ${d.identity} goes offline for ${Math.round(durationMs / 1000)} s`);
  }

  private comeBack(d: Device): void {
    this.offline.delete(d);
    d.comeOnline();
  }

  private tickAll(): void {
    for (const d of this.rng.shuffle([...this.world.devices])) d.tick();
  }

  // -------------------------------------------------------------------------------------------
  // Healing and judging

  private quiet(): boolean {
    return (
      this.world.pendingFederation === 0 &&
      this.world.devices.every((d) => d.idle) &&
      this.world.now - this.lastPostAt >= QUIET_MS
    );
  }

  private finish(started: number, storyDone: number): SimReport {
    const world = this.world;
    // Heal: federation resumes, everyone comes back, the malicious member stops.
    world.heal();
    for (const d of [...this.offline.keys()]) this.comeBack(d);
    const healedAt = world.now;
    let quiet = false;
    while (world.now - healedAt < MAX_HEAL_MS) {
      world.now += PARAMS.stepMs;
      this.tickAll();
      if (this.quiet()) {
        quiet = true;
        break;
      }
    }
    const healMs = world.now - healedAt;
    const healDone = performance.now();
    const agreement = this.oracle.agreement();
    const lost = this.oracle.lost();
    // Then time passes (devices keep running and pruning) until every epoch superseded so far
    // is past the message window, and retention is judged.
    const idleUntil =
      world.now + PARAMS.forkWindowMs + PARAMS.messageWindowMs + 2 * PARAMS.pruneEveryMs;
    const checks1 = performance.now() - healDone;
    const idleStart = performance.now();
    while (world.now < idleUntil) {
      world.now += 5 * PARAMS.stepMs;
      this.tickAll();
    }
    const idleDone = performance.now();
    const retention = this.oracle.retention();
    const counted = this.oracle.counted();
    const counts: PropertyCounts = {
      disagree: agreement.disagree,
      membership: agreement.membership,
      removedReads: counted.removedReads,
      lost,
      retention,
      errors: counted.errors,
    };
    const attempts = Object.fromEntries(
      [...this.oracle.summaries].sort((a, b) => (a[0] < b[0] ? -1 : 1)),
    );
    let forgeriesAccepted = 0;
    for (const [kind, s] of this.oracle.summaries) {
      if (kind !== 'extend-after-removal' && !isTolerated(kind)) forgeriesAccepted += s.accepted;
    }
    const partitions = world.partitions;
    return {
      seed: this.options.seed,
      steps: this.options.steps,
      counts,
      details: this.oracle.details,
      story: {
        devices: world.devices.length,
        messages: this.oracle.messages.size,
        commits: [...this.oracle.commits.values()].filter((c) =>
          this.oracle.accepted.has(c.eventId),
        ).length,
        forks: this.oracle.forks(),
        backfilled: this.oracle.counts.backfilled,
        paginated: this.oracle.counts.paginated,
        duplicates: world.counts.duplicates,
        partitions: partitions.length,
        longestPartitionMs: Math.max(0, ...partitions.map((p) => p.until - p.from)),
        forkWindowMs: PARAMS.forkWindowMs,
        offlinePeriods: this.offlinePeriods,
        longestOfflineMs: this.longestOfflineMs,
        rejoinsPosted: this.oracle.counts.rejoinsPosted,
        rejoinReasons: this.oracle.rejoinReasons,
        honestCommitRefusals: this.oracle.honestCommitRefusals,
        welcomeFailures: this.oracle.welcomeFailures,
        refusalSamples: this.oracle.samples.slice(0, 20),
        healMs,
        quiet,
        tip: agreement.tip,
      },
      mallory: { attempts, forgeriesAccepted, extensions: this.mallory.extensions },
      wallMs: performance.now() - started,
      phaseMs: {
        story: storyDone - started,
        heal: healDone - storyDone,
        idle: idleDone - idleStart,
        checks: checks1 + performance.now() - idleDone,
      },
    };
  }
}
