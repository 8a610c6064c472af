/**
 * One device running the Trellis client logic around a `DmlsGroup`: it sees the room only through
 * its own delayed, reordered inbox (membership included), backfills what its group waits for,
 * fetches device keys, collects rejoin requests, resolves by rank after a back-off, sends
 * Welcomes once its commit is echoed, asks to rejoin when it cannot follow, and prunes.
 */
import {
  basicCredential,
  bytesEqual,
  createKeyPackage,
  decode,
  encode,
  keyPackageCodec,
  toHex,
  validateKeyPackage,
  type KeyPackage,
  type KeyPackageBundle,
  type KeyPair,
} from '@trellis/mls';
import {
  backoffMs,
  DmlsError,
  DmlsGroup,
  fromBase64,
  parseWelcome,
  toBase64,
  type DmlsGroupOptions,
  type EpochNode,
  type Received,
  type ResolutionPlan,
  type RoomEvent,
  type RoomEventContent,
  type WelcomeContent,
} from '../../../src/index.js';
import { CREATE_EVENT, PARAMS, ROOM, SUITE, userOf, type SimEvent, type World } from './world.js';

const utf8 = new TextEncoder();
/** Room events kept while a device waits for its first Welcome. */
const PRE_GROUP_LIMIT = 300;

/** The room as one device knows it: the latest state event it saw per user and per device. */
export class RoomViewModel {
  private readonly members = new Map<string, { index: number; joined: boolean }>();
  private readonly deviceList = new Map<string, { index: number; present: boolean }>();
  private cached: Set<string> | undefined;

  /** Applies a state event; order of arrival does not matter (the newest by index wins). */
  apply(event: SimEvent): boolean {
    const c = event.content as {
      user: string;
      membership?: string;
      device?: string;
      change?: string;
    };
    if (event.type === 'm.room.member') {
      const had = this.members.get(c.user);
      if (had && had.index >= event.index) return false;
      this.members.set(c.user, { index: event.index, joined: c.membership === 'join' });
    } else {
      const had = this.deviceList.get(c.device!);
      if (had && had.index >= event.index) return false;
      this.deviceList.set(c.device!, { index: event.index, present: c.change === 'added' });
    }
    this.cached = undefined;
    return true;
  }

  joined(user: string): boolean {
    return this.members.get(user)?.joined ?? false;
  }

  /** Devices of joined users, as this device believes. */
  devices(): Set<string> {
    if (!this.cached) {
      this.cached = new Set(
        [...this.deviceList]
          .filter(([id, d]) => d.present && this.joined(userOf(id)))
          .map(([id]) => id),
      );
    }
    return this.cached;
  }
}

interface Inflight {
  eventId: string;
  content: RoomEventContent;
  added: string[];
  welcomeFor(commitEventId: string): WelcomeContent | undefined;
}

export class Device {
  readonly user: string;
  readonly createdAt: number;
  readonly keys: KeyPair;
  group: DmlsGroup | undefined;
  online = true;
  /** Logged out: its key is no longer published (it still receives everything). */
  loggedOut = false;
  readonly view = new RoomViewModel();
  readonly rejoins = new Map<string, { keyPackage: KeyPackage; index: number }>();
  /** Removed from a branch by a commit, and not welcomed back since. */
  outOfGroup = false;
  lastPruneAt = -Infinity;
  /** Something changed in the group since the oracle last looked. */
  dirty = true;
  private inbox: { at: number; event: SimEvent }[] = [];
  private toDevice: { at: number; content: WelcomeContent }[] = [];
  private waitingWelcomes: WelcomeContent[] = [];
  /** Room events that came before this device had a group: read once it joins. */
  private preGroup: SimEvent[] = [];
  /**
   * History skipped by limited syncs after absences, paged back newest first. A device that
   * goes offline again before it finished paging has two gaps, and must fill both.
   */
  private gaps: { lo: number; hi: number }[] = [];
  private readonly keyCache = new Map<string, Uint8Array>();
  private readonly absent = new Set<string>();
  private readonly bundles = new Map<string, KeyPackageBundle>();
  /** Backfill attempts per event id (an event refused or not yet reachable is tried again). */
  private readonly fetches = new Map<string, { at: number; count: number }>();
  private uncheckedRejoins: SimEvent[] = [];
  /** The room index of the newest commit learned that removed each device (not re-adding it). */
  private readonly lastRemoval = new Map<string, number>();
  private lastRejoinAt = -Infinity;
  private waitingSince: number | undefined;
  private resolveTimer: { sig: string; at: number } | undefined;
  private inflight: Inflight | undefined;
  readonly deviceKeys = (identity: string): Uint8Array | null | undefined =>
    this.keyCache.get(identity) ?? (this.absent.has(identity) ? null : undefined);
  readonly stats = {
    backfilled: 0,
    paginated: 0,
    gaps: 0,
    rejoinsPosted: 0,
    commits: 0,
    resolutions: 0,
    welcomesSent: 0,
    welcomesOpened: 0,
  };

  constructor(
    readonly world: World,
    readonly identity: string,
    readonly hs: string,
    readonly malicious: boolean,
  ) {
    this.user = userOf(identity);
    this.createdAt = world.now;
    this.keys = world.suite.signature.generateKeyPair();
    this.keyCache.set(identity, this.keys.publicKey);
    // A new device's first sync carries the room's current state.
    for (const event of world.state.values()) this.view.apply(event);
  }

  get honest(): boolean {
    return !this.malicious;
  }

  groupOptions(): DmlsGroupOptions {
    return {
      roomId: ROOM,
      identity: this.identity,
      provider: this.world.provider,
      deviceKeys: this.deviceKeys,
      retention: {
        forkWindowMs: PARAMS.forkWindowMs,
        messageWindowMs: PARAMS.messageWindowMs,
      },
    };
  }

  createGroup(): void {
    this.group = DmlsGroup.create({
      ...this.groupOptions(),
      suite: SUITE,
      createEventId: CREATE_EVENT,
      signatureKeyPair: this.keys,
      now: this.world.now,
    });
  }

  // -------------------------------------------------------------------------------------------
  // Delivery

  enqueue(at: number, event: SimEvent): void {
    this.inbox.push({ at, event });
  }

  enqueueWelcome(at: number, content: WelcomeContent): void {
    this.toDevice.push({ at, content });
  }

  get idle(): boolean {
    return (
      this.inbox.length === 0 &&
      this.toDevice.length === 0 &&
      this.waitingWelcomes.length === 0 &&
      this.gaps.length === 0 &&
      this.inflight === undefined &&
      this.resolveTimer === undefined
    );
  }

  goOffline(): void {
    this.online = false;
  }

  /**
   * Back online: a limited sync. The room state comes whole, the timeline only its newest
   * events; the rest is paged back later, and commits the group waits for are fetched by id.
   */
  comeOnline(): void {
    this.online = true;
    const now = this.world.now;
    const due = this.inbox.filter((d) => d.at <= now && !d.event.isState);
    const ids = [...new Set(due.map((d) => d.event.index))].sort((a, b) => b - a);
    if (ids.length <= PARAMS.gapLimit) return;
    const skipped = new Set(ids.slice(PARAMS.gapLimit));
    this.inbox = this.inbox.filter((d) => !(d.at <= now && skipped.has(d.event.index)));
    this.gaps.push({ lo: Math.min(...skipped), hi: Math.max(...skipped) });
    this.stats.gaps++;
  }

  // -------------------------------------------------------------------------------------------
  // The client loop

  tick(): void {
    if (!this.online) return;
    const now = this.world.now;
    this.openWelcomes(now);
    if (this.inbox.length > 0) {
      const due = this.inbox.filter((d) => d.at <= now).sort((a, b) => a.at - b.at);
      if (due.length > 0) {
        this.inbox = this.inbox.filter((d) => d.at > now);
        for (const d of due) this.handleEvent(d.event);
      }
    }
    if (this.gaps.length > 0) this.paginate();
    this.backfill();
    this.refreshKeys();
    if (this.uncheckedRejoins.length > 0) {
      const again = this.uncheckedRejoins;
      this.uncheckedRejoins = [];
      for (const e of again) this.collectRejoin(e);
    }
    this.replenishKeyPackages();
    this.cleanRejoins();
    this.maybeRejoin();
    this.maybeResolve();
    if (this.group && now - this.lastPruneAt >= PARAMS.pruneEveryMs) {
      this.guard('prune', () => this.group!.prune(now));
      this.lastPruneAt = now;
      this.dirty = true;
    }
    if (this.dirty) {
      this.world.oracle.observe(this);
      this.dirty = false;
    }
  }

  private handleEvent(event: SimEvent): void {
    switch (event.type) {
      case 'm.room.member':
      case 'trellis.device': {
        if (!this.view.apply(event)) return;
        const c = event.content as {
          user: string;
          membership?: string;
          device?: string;
          change?: string;
        };
        if (c.membership === 'leave') {
          // Rejoin requests die with their user's membership.
          for (const id of [...this.rejoins.keys()])
            if (userOf(id) === c.user) this.rejoins.delete(id);
        }
        if (c.change === 'added') this.absent.delete(c.device!);
        if (c.change === 'removed') this.rejoins.delete(c.device!);
        return;
      }
      case 'trellis.rejoin':
        this.collectRejoin(event);
        return;
      case 'm.room.encrypted':
        if (!this.group) {
          // Kept for the group to come (bounded: a real client would page back instead).
          this.preGroup.push(event);
          if (this.preGroup.length > PRE_GROUP_LIMIT) this.preGroup.shift();
          return;
        }
        this.receive(event);
        return;
    }
  }

  private receive(event: SimEvent): void {
    const group = this.group!;
    const roomEvent: RoomEvent = {
      eventId: event.eventId,
      sender: event.sender,
      content: event.content,
    };
    const results = this.guard('receive', () => group.receive(roomEvent, this.world.now));
    this.dirty = true;
    if (results) this.handle(results, 0);
  }

  /** What the group said about delivered events. */
  private handle(results: readonly Received[], depth: number): void {
    const keysWanted = new Set<string>();
    for (const r of results) {
      switch (r.kind) {
        case 'message':
          this.world.oracle.read(this, r);
          break;
        case 'commit':
          this.world.oracle.outcome(this, r.eventId, 'accepted');
          this.dropFulfilledRejoins(this.group!.epoch(r.eventId));
          this.dropOverruledRejoins(r.eventId, r.removed, r.added);
          if (r.mine && this.inflight?.eventId === r.eventId) this.sendWelcomes(r.eventId);
          break;
        case 'removed':
          this.outOfGroup = true;
          this.world.oracle.outcome(this, r.eventId, 'removed');
          this.overruleByEpoch(r.eventId);
          break;
        case 'queued':
          for (const d of r.devices) keysWanted.add(d);
          break;
        case 'failed':
          this.world.oracle.failed(this, r);
          this.overruleByEpoch(r.eventId);
          if (this.inflight?.eventId === r.eventId) {
            this.group!.discardCommit(this.inflight.content);
            this.inflight = undefined;
          }
          break;
        case 'duplicate':
          break;
      }
    }
    if (keysWanted.size > 0 && depth < 4) {
      this.fetchKeys([...keysWanted]);
      const more = this.guard('retry', () => this.group!.retry(this.world.now));
      if (more && more.length > 0) this.handle(more, depth + 1);
    }
  }

  private sendWelcomes(commitEventId: string): void {
    const inflight = this.inflight!;
    this.inflight = undefined;
    const welcome = inflight.welcomeFor(commitEventId);
    if (!welcome) return;
    for (const id of inflight.added) {
      const target = this.world.devices.find((d) => d.identity === id);
      if (!target) continue;
      this.world.sendToDevice(this.hs, target, welcome);
      this.stats.welcomesSent++;
    }
  }

  private openWelcomes(now: number): void {
    if (this.toDevice.length === 0 && this.waitingWelcomes.length === 0) return;
    const due = this.toDevice.filter((w) => w.at <= now);
    if (due.length === 0 && this.waitingWelcomes.length === 0) return;
    this.toDevice = this.toDevice.filter((w) => w.at > now);
    const todo = [...this.waitingWelcomes, ...due.map((w) => w.content)];
    this.waitingWelcomes = [];
    for (const content of todo) this.openWelcome(content);
  }

  private openWelcome(content: WelcomeContent): void {
    const oracle = this.world.oracle;
    let welcome;
    try {
      welcome = parseWelcome(content);
    } catch (e) {
      oracle.welcomeFailed(this, errorCode(e));
      return;
    }
    if (welcome.message.wireFormat !== 3) return;
    const refs = welcome.message.welcome.secrets.map((s) => toHex(s.newMember));
    const bundle = refs.map((r) => this.bundles.get(r)).find((b) => b !== undefined);
    if (!bundle) {
      oracle.welcomeFailed(this, 'NO_KEY_PACKAGE');
      return;
    }
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        if (this.group) {
          const results = this.group.addWelcome(welcome, bundle, this.world.now);
          this.dirty = true;
          this.handle(results, 0);
        } else {
          this.group = DmlsGroup.fromWelcome({ ...this.groupOptions(), welcome, bundle });
          this.dirty = true;
          this.drainPreGroup();
        }
        this.outOfGroup = false;
        this.stats.welcomesOpened++;
        // The Welcome's epoch is a commit like any other: its removals overrule older requests.
        const node = this.group.epoch(welcome.commitEvent);
        if (node) this.dropOverruledRejoins(node.key, node.removed, node.added);
        return;
      } catch (e) {
        const devices = (e as { devices?: string[] }).devices;
        if (e instanceof DmlsError && e.code === 'NOT_READY' && devices) {
          this.fetchKeys(devices);
          if (devices.some((d) => this.deviceKeys(d) === undefined)) {
            this.waitingWelcomes.push(content); // keys unreachable for now: later
            return;
          }
          continue;
        }
        if (!(e instanceof DmlsError) && !isMlsError(e)) oracle.error(this, 'welcome', e);
        oracle.welcomeFailed(this, errorCode(e));
        return;
      }
    }
  }

  /** Events that came before the group are given to it once it exists. */
  private drainPreGroup(): void {
    const events = this.preGroup;
    this.preGroup = [];
    for (const e of events) this.receive(e);
  }

  /** Fetches by id the commits the group waits for (backfill). */
  private backfill(): void {
    const group = this.group;
    if (!group) return;
    const now = this.world.now;
    for (let round = 0; round < 50; round++) {
      const missing = group.missing();
      let progress = false;
      for (const id of missing) {
        const last = this.fetches.get(id);
        if (last && (now - last.at < 30_000 || last.count >= 3)) continue;
        const event = this.world.fetch(this, id);
        if (!event) continue;
        this.fetches.set(id, { at: now, count: (last?.count ?? 0) + 1 });
        this.stats.backfilled++;
        this.world.oracle.counts.backfilled++;
        this.handleEvent(event);
        progress = true;
      }
      if (!progress) return;
    }
  }

  private paginate(): void {
    const gap = this.gaps.at(-1)!;
    const from = Math.max(gap.lo, gap.hi - PARAMS.pageSize + 1);
    const page = this.world.page(this, from, gap.hi).reverse();
    for (const e of page) if (!e.isState) this.handleEvent(e);
    this.stats.paginated += page.length;
    this.world.oracle.counts.paginated += page.length;
    if (from <= gap.lo) this.gaps.pop();
    else gap.hi = from - 1;
  }

  // -------------------------------------------------------------------------------------------
  // Device keys and KeyPackages

  /** Fetches the published device lists of these devices' users (pinning what it sees). */
  fetchKeys(identities: readonly string[]): void {
    const users = new Set(identities.map(userOf));
    for (const user of users) {
      const keys = this.world.publishedKeys(this, user);
      if (!keys) continue; // the user's homeserver is out of reach
      for (const [id, key] of keys) {
        this.keyCache.set(id, key);
        this.absent.delete(id);
      }
      for (const id of identities) {
        if (userOf(id) === user && !this.keyCache.has(id)) this.absent.add(id);
      }
    }
  }

  private refreshKeys(): void {
    const group = this.group;
    if (!group) return;
    const wanted = group.missingDevices();
    if (wanted.length === 0) return;
    this.fetchKeys(wanted);
    if (wanted.every((d) => this.deviceKeys(d) === undefined)) return;
    const results = this.guard('retry', () => group.retry(this.world.now));
    this.dirty = true;
    if (results) this.handle(results, 0);
  }

  newKeyPackage(): KeyPackage {
    const bundle = createKeyPackage(this.world.suite, {
      credential: basicCredential(utf8.encode(this.identity)),
      signatureKeyPair: this.keys,
      now: BigInt(Math.floor(this.world.now / 1000)),
    });
    this.bundles.set(toHex(bundle.ref), bundle);
    return bundle.keyPackage;
  }

  private replenishKeyPackages(): void {
    if (this.loggedOut) return;
    while (this.world.stock(this.identity) < PARAMS.keyPackageStock) {
      this.world.uploadKeyPackage(this.identity, this.newKeyPackage());
    }
  }

  // -------------------------------------------------------------------------------------------
  // Rejoin requests

  /**
   * A rejoin request from the room: kept (newest per device) if it names a device of its
   * sender's user that is in this device's room view, with a KeyPackage of that device signed
   * by the key its user published. Anything else is refused here, and counted.
   */
  private collectRejoin(event: SimEvent): void {
    const oracle = this.world.oracle;
    const c = event.content as { device?: unknown; key_package?: unknown };
    const refuse = (code: string) => oracle.outcome(this, event.eventId, 'refused', code);
    if (typeof c.device !== 'string' || typeof c.key_package !== 'string')
      return refuse('MALFORMED_EVENT');
    const device = c.device;
    if (userOf(device) !== event.sender) return refuse('REJOIN_SENDER');
    const checked = this.world.checkedKeyPackage(event.eventId, () => {
      const kp = decode(keyPackageCodec, fromBase64(c.key_package as string, 'key_package'));
      validateKeyPackage(this.world.suite, kp);
      return kp;
    });
    if (typeof checked === 'string') return refuse(checked);
    const keyPackage = checked;
    const credential = keyPackage.leafNode.credential;
    if (
      credential.credentialType !== 1 ||
      new TextDecoder().decode(credential.identity) !== device
    ) {
      return refuse('REJOIN_IDENTITY');
    }
    let published = this.deviceKeys(device);
    if (published === undefined) {
      this.fetchKeys([device]);
      published = this.deviceKeys(device);
    }
    if (published === undefined) {
      this.uncheckedRejoins.push(event); // its user's homeserver is out of reach: later
      return;
    }
    if (published === null) return refuse('UNKNOWN_DEVICE');
    if (!bytesEqual(published, keyPackage.leafNode.signatureKey)) return refuse('KEY_MISMATCH');
    if (!this.view.devices().has(device)) return refuse('NOT_IN_ROOM_VIEW');
    // Delivered late (again, or paged back) after a removal this device learned that came after
    // it: as overruled as if it had come first (seed 3: a duplicate brought a device back).
    if ((this.lastRemoval.get(device) ?? -1) > event.index) return refuse('REJOIN_OVERRULED');
    const had = this.rejoins.get(device);
    if (!had || had.index < event.index)
      this.rejoins.set(device, { keyPackage, index: event.index });
    oracle.outcome(this, event.eventId, 'accepted');
  }

  /** A rejoin request is done once its KeyPackage's leaf is in an epoch this device follows. */
  private dropFulfilledRejoins(node: EpochNode | undefined): void {
    if (!node || node.held.kind !== 'full' || this.rejoins.size === 0) return;
    const state = node.held.state;
    for (const [id, r] of this.rejoins) {
      const leaf = node.members.get(id);
      const held = leaf === undefined ? undefined : state.tree.leaf(leaf);
      if (held && bytesEqual(held.encryptionKey, r.keyPackage.leafNode.encryptionKey)) {
        this.rejoins.delete(id);
      }
    }
  }

  /**
   * A commit that removed a device (and did not add it back) after its rejoin request was sent
   * overrules the request: someone saw the device leave, and a stale request must not undo that.
   */
  private dropOverruledRejoins(
    eventId: string,
    removed: readonly string[],
    added: readonly string[],
  ): void {
    const index = this.world.indexOf(eventId);
    if (index === undefined) return;
    for (const id of removed) {
      if (added.includes(id)) continue;
      this.lastRemoval.set(id, Math.max(index, this.lastRemoval.get(id) ?? -1));
      const r = this.rejoins.get(id);
      if (r && r.index < index) this.rejoins.delete(id);
    }
  }

  /**
   * An epoch recorded without being held (history from before this device joined, a branch
   * that removed it) carries signed removals as well: they overrule older requests too (seed
   * 260: a device that joined later re-added a logged-out device on its old request).
   */
  private overruleByEpoch(eventId: string): void {
    const node = this.group?.epoch(eventId);
    if (node && node.key === eventId) this.dropOverruledRejoins(node.key, node.removed, node.added);
  }

  private cleanRejoins(): void {
    const group = this.group;
    if (!group || this.rejoins.size === 0) return;
    const devices = this.view.devices();
    for (const id of [...this.rejoins.keys()]) if (!devices.has(id)) this.rejoins.delete(id);
    this.dropFulfilledRejoins(this.current());
  }

  /**
   * Asks to be added again when the group says it cannot follow (`needsRejoin`), when a commit
   * removed it while its room view still has it, when it holds no tip in full, or when it has
   * waited long for a first Welcome.
   */
  private maybeRejoin(): void {
    if (this.loggedOut || !this.view.devices().has(this.identity)) {
      this.waitingSince = undefined;
      return;
    }
    const now = this.world.now;
    if (!this.group && this.waitingSince === undefined) this.waitingSince = now;
    if (this.group) this.waitingSince = undefined;
    // No tip held in full: no epoch to send in (e.g. re-added on a branch a merge dropped).
    const need = this.group
      ? this.group.needsRejoin || this.outOfGroup || this.current() === undefined
      : now - this.waitingSince! > 2 * PARAMS.rejoinRetryMs;
    if (!need || now - this.lastRejoinAt < PARAMS.rejoinRetryMs) return;
    const keyPackage = this.newKeyPackage();
    const event = this.world.post(this, 'trellis.rejoin', {
      device: this.identity,
      key_package: toBase64(encode(keyPackageCodec, keyPackage)),
    });
    this.lastRejoinAt = now;
    if (event) {
      this.stats.rejoinsPosted++;
      this.world.oracle.rejoinPosted(this);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Resolving and sending

  current(): EpochNode | undefined {
    try {
      return this.group?.current();
    } catch {
      return undefined; // no tip held in full (removed from every branch)
    }
  }

  private canSend(): boolean {
    return !this.loggedOut && this.group !== undefined && this.view.devices().has(this.identity);
  }

  plan(): ResolutionPlan | 'wait' | undefined {
    const rejoins = new Map([...this.rejoins].map(([id, r]) => [id, r.keyPackage]));
    return this.guard('planResolution', () =>
      this.group!.planResolution({ devices: this.view.devices(), rejoins }),
    );
  }

  /** Resolves when the plan says so, after waiting `rank` back-off slots. */
  private maybeResolve(): void {
    if (!this.canSend() || this.group!.commitInFlight) {
      this.resolveTimer = undefined;
      return;
    }
    const plan = this.plan();
    if (!plan || plan === 'wait') {
      this.resolveTimer = undefined;
      return;
    }
    const now = this.world.now;
    const sig = `${plan.baseKey}|${plan.resolveKeys.join(',')}|${plan.remove.join(',')}|${plan.add.join(',')}|${plan.selfUpdate}`;
    if (!this.resolveTimer || this.resolveTimer.sig !== sig) {
      this.resolveTimer = { sig, at: now + backoffMs(plan.rank, PARAMS.slotMs, plan.crossed) };
    }
    if (now < this.resolveTimer.at) return;
    if (this.commitPlan(plan, false)) this.stats.resolutions++;
    else this.resolveTimer = { sig, at: now + 30_000 }; // nothing could be done yet: later
  }

  /** A commit of the plan: KeyPackages from rejoin requests, else claimed from the directory. */
  commitPlan(
    plan: Pick<ResolutionPlan, 'baseKey' | 'resolveKeys' | 'remove' | 'add' | 'selfUpdate'>,
    forced: boolean,
  ): boolean {
    const group = this.group!;
    const keyPackages = new Map<string, KeyPackage>();
    for (const id of plan.add) {
      const kp = this.rejoins.get(id)?.keyPackage ?? this.world.claim(this, id);
      if (kp) keyPackages.set(id, kp);
    }
    const nothing =
      plan.resolveKeys.length === 0 &&
      plan.remove.length === 0 &&
      !plan.selfUpdate &&
      keyPackages.size === 0;
    if (nothing && !forced) return false;
    const base = group.epoch(plan.baseKey);
    const byLeaf = new Map([...(base?.members ?? [])].map(([id, leaf]) => [leaf, id]));
    const made = this.guard('commit', () => group.commit(plan, keyPackages));
    if (!made) return false;
    const event = this.world.post(this, 'm.room.encrypted', made.content);
    if (!event) {
      group.discardCommit(made.content);
      return false;
    }
    this.resolveTimer = undefined;
    this.inflight = {
      eventId: event.eventId,
      content: made.content,
      added: made.added,
      welcomeFor: made.welcomeFor,
    };
    this.stats.commits++;
    this.world.oracle.commitPosted(event, {
      committer: this.identity,
      removed: plan.remove.map((leaf) => byLeaf.get(leaf) ?? `leaf ${leaf}`),
      added: made.added,
    });
    this.dirty = true;
    return true;
  }

  /** The story makes this device commit now (an update, or its plan if it has one). */
  forceCommit(): boolean {
    if (!this.canSend() || this.group!.commitInFlight) return false;
    const plan = this.plan();
    if (plan === 'wait') return false;
    if (plan) return this.commitPlan(plan, true);
    const tip = this.current();
    if (!tip || tip.held.kind !== 'full') return false;
    return this.commitPlan(
      { baseKey: tip.key, resolveKeys: [], remove: [], add: [], selfUpdate: false },
      true,
    );
  }

  sendMessage(n: number): boolean {
    if (!this.canSend()) return false;
    const tip = this.current();
    if (!tip || tip.held.kind !== 'full') return false;
    const body = `m${n} from ${this.identity}`;
    const content = this.guard('encrypt', () =>
      this.group!.encrypt('m.room.message', { msgtype: 'm.text', body }),
    );
    if (!content) return false;
    this.dirty = true;
    const event = this.world.post(this, 'm.room.encrypted', content);
    if (!event) return false;
    this.world.oracle.messageSent(event, this, tip.key);
    return true;
  }

  /** Runs a call into the group; anything thrown that is not a coded refusal is a bug found. */
  guard<T>(where: string, f: () => T): T | undefined {
    try {
      return f();
    } catch (e) {
      this.world.oracle.error(this, where, e);
      return undefined;
    }
  }
}

function isMlsError(e: unknown): boolean {
  return e instanceof Error && e.name === 'MlsError';
}

export function errorCode(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' ? code : e instanceof Error ? e.name : 'UNKNOWN';
}
