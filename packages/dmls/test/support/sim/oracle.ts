/**
 * What really happened, kept beside the devices so that the properties can be judged after the
 * run: every commit as its signer signed it (base, resolves) with the server's room devices at
 * the time it was sent, every honest message and who read it, when each device left the room,
 * the secrets of every epoch any device held, and when each device first saw an epoch
 * superseded.
 */
import { ContentType, exportSecret, toHex, WireFormat } from '@trellis/mls';
import { commitDataOf, parseRoomEvent, type Received } from '../../../src/index.js';
import type { Device } from './device.js';
import { PARAMS, userOf, type SimEvent, type World } from './world.js';

export interface CommitRecord {
  readonly eventId: string;
  readonly base: string;
  readonly resolves: readonly string[];
  readonly postedAt: number;
  /** Server truth when it was sent. */
  readonly roomDevices: ReadonlySet<string>;
  committer: string;
  removed: readonly string[];
  added: readonly string[];
}

export interface MessageRecord {
  readonly eventId: string;
  readonly sender: string;
  readonly epochKey: string;
  readonly postedAt: number;
}

export interface Attempt {
  readonly kind: string;
  /** The attempt must be refused by every honest device that decides it. */
  readonly mustRefuse: boolean;
}

export interface AttemptSummary {
  attempts: number;
  /** (device, event) refusals, by reason code. */
  refused: Record<string, number>;
  /** (device, event) acceptances. */
  accepted: number;
}

export interface PropertyCounts {
  /** Honest room devices without one tip, or whose tip or exporter secret is not the others'. */
  disagree: number;
  /** Devices in the common tip but not in the room, and in the room but not in the tip. */
  membership: number;
  /** Reads by a removed device of an epoch descending from its removal. */
  removedReads: number;
  /** Honest messages not read by an honest device that held their epoch. */
  lost: number;
  /** Secrets of epochs past the message window found in a device's group or snapshot. */
  retention: number;
  /** Exceptions out of the dMLS API that are not coded refusals. */
  errors: number;
}

export class Oracle {
  world!: World;
  readonly commits = new Map<string, CommitRecord>();
  readonly messages = new Map<string, MessageRecord>();
  readonly attempts = new Map<string, Attempt>();
  readonly summaries = new Map<string, AttemptSummary>();
  /** Commit events accepted by at least one honest device. */
  readonly accepted = new Set<string>();
  /** Refusals of honest devices' commits by honest devices, by code. */
  readonly honestCommitRefusals: Record<string, number> = {};
  readonly welcomeFailures: Record<string, number> = {};
  readonly counts = { backfilled: 0, paginated: 0, rejoinsPosted: 0 };
  /**
   * Why devices asked to rejoin: the group could not follow commits of the malicious member,
   * or of honest devices (`needsRejoin`), a commit removed it while it is in the room, or it
   * waited long for a first Welcome.
   */
  readonly rejoinReasons: Record<string, number> = {};
  readonly details: Record<keyof PropertyCounts, string[]> = {
    disagree: [],
    membership: [],
    removedReads: [],
    lost: [],
    retention: [],
    errors: [],
  };
  /** Reasons of the first refusals of honest commits, for diagnosis. */
  readonly samples: string[] = [];
  private readonly reads = new Map<string, Set<string>>();
  private readonly heldAtDelivery = new Map<string, Map<string, string>>();
  private readonly decided = new Set<string>();
  private removedReads = 0;
  private errors = 0;
  /** Times at which each device stopped being a room device (server truth). */
  private readonly leftAt = new Map<string, number[]>();
  private inRoom = new Set<string>();
  private readonly secrets = new Map<string, Uint8Array[]>();
  /** Per device: epoch key → when the device first knew a successor of it. */
  private readonly superseded = new Map<string, Map<string, number>>();
  private readonly descentMemo = new Map<string, boolean>();

  // -------------------------------------------------------------------------------------------
  // Recording

  membershipChanged(world: World): void {
    const now = world.roomDevices();
    for (const id of this.inRoom) {
      if (!now.has(id)) {
        if (!this.leftAt.has(id)) this.leftAt.set(id, []);
        this.leftAt.get(id)!.push(world.now);
      }
    }
    this.inRoom = now;
  }

  /** Every accepted room event: commits are recorded by the base and resolves they signed. */
  posted(event: SimEvent): void {
    if (event.type !== 'm.room.encrypted') return;
    try {
      const parsed = parseRoomEvent(event.content);
      const m = parsed.message;
      const isCommit =
        (m.wireFormat === WireFormat.mls_public_message &&
          m.publicMessage.content.contentType === ContentType.commit) ||
        (m.wireFormat === WireFormat.mls_private_message &&
          m.privateMessage.contentType === ContentType.commit);
      if (!isCommit) return;
      const data = commitDataOf(m);
      this.commits.set(event.eventId, {
        eventId: event.eventId,
        base: data.baseEvent,
        resolves: data.resolves.map((r) => r.event),
        postedAt: event.postedAt,
        roomDevices: this.world.roomDevices(),
        committer: parsed.sender,
        removed: [],
        added: [],
      });
    } catch {
      // not a well-formed commit: no epoch can come of it
    }
  }

  commitPosted(
    event: SimEvent,
    info: { committer: string; removed: string[]; added: string[] },
  ): void {
    const record = this.commits.get(event.eventId);
    if (!record) return;
    record.committer = info.committer;
    record.removed = info.removed;
    record.added = info.added;
  }

  messageSent(event: SimEvent, sender: Device, epochKey: string): void {
    this.messages.set(event.eventId, {
      eventId: event.eventId,
      sender: sender.identity,
      epochKey,
      postedAt: event.postedAt,
    });
  }

  attempt(event: SimEvent, kind: string, mustRefuse: boolean): void {
    this.attempts.set(event.eventId, { kind, mustRefuse });
    this.summary(kind).attempts++;
  }

  private summary(kind: string): AttemptSummary {
    let s = this.summaries.get(kind);
    if (!s) {
      s = { attempts: 0, refused: {}, accepted: 0 };
      this.summaries.set(kind, s);
    }
    return s;
  }

  /** The first decision of an honest device on an event of the malicious member. */
  outcome(
    device: Device,
    eventId: string,
    kind: 'accepted' | 'removed' | 'refused',
    code?: string,
  ): void {
    if (!device.honest) return;
    if (kind !== 'refused') {
      const commit = this.commits.get(eventId);
      if (commit) this.accepted.add(eventId);
    }
    const attempt = this.attempts.get(eventId);
    if (!attempt) return;
    const key = `${device.identity} ${eventId}`;
    if (this.decided.has(key)) return;
    this.decided.add(key);
    const s = this.summary(attempt.kind);
    if (kind === 'refused') s.refused[code!] = (s.refused[code!] ?? 0) + 1;
    else s.accepted++;
  }

  failed(device: Device, r: Extract<Received, { kind: 'failed' }>): void {
    if (r.code !== 'NOT_A_MEMBER') this.outcome(device, r.eventId, 'refused', r.code);
    if (!device.honest) return;
    const commit = this.commits.get(r.eventId);
    if (commit && !this.attempts.has(r.eventId) && this.isHonest(commit.committer)) {
      this.honestCommitRefusals[r.code] = (this.honestCommitRefusals[r.code] ?? 0) + 1;
      if (this.samples.length < 400 && r.code !== 'NOT_A_MEMBER') {
        this.samples.push(
          `${this.world.now} ${device.identity} refused ${r.eventId} of ${commit.committer}: ${r.code} ${r.reason}`,
        );
      }
    }
    const message = this.messages.get(r.eventId);
    if (message) {
      const node = device.group?.epoch(this.commitEventOf(r.eventId));
      if (node && node.held.kind !== 'none') {
        if (!this.heldAtDelivery.has(device.identity))
          this.heldAtDelivery.set(device.identity, new Map());
        this.heldAtDelivery
          .get(device.identity)!
          .set(
            r.eventId,
            `failed in held epoch ${node.key} (${node.held.kind}): ${r.code} ${r.reason}`,
          );
      }
    }
  }

  rejoinPosted(device: Device): void {
    this.counts.rejoinsPosted++;
    const group = device.group;
    let reason = 'no Welcome yet';
    if (group?.needsRejoin) {
      const ids = group.snapshot().meta.unfollowable;
      const evil = ids.some((id) => !this.isHonest(this.commits.get(id)?.committer ?? ''));
      const honest = ids.some((id) => this.isHonest(this.commits.get(id)?.committer ?? ''));
      reason = `cannot follow commits of ${[evil && 'the malicious member', honest && 'honest devices'].filter(Boolean).join(' and ')}`;
    } else if (group && device.outOfGroup) {
      reason = 'removed by a commit, still in the room';
    } else if (group) {
      reason = 'no tip held in full';
    }
    this.rejoinReasons[reason] = (this.rejoinReasons[reason] ?? 0) + 1;
  }

  welcomeFailed(device: Device, code: string): void {
    if (device.honest) this.welcomeFailures[code] = (this.welcomeFailures[code] ?? 0) + 1;
  }

  error(device: Device, where: string, e: unknown): void {
    this.errors++;
    if (this.details.errors.length < 20) {
      this.details.errors.push(
        `${device.identity} ${where} at ${this.world.now}: ${(e as Error).stack ?? String(e)}`,
      );
    }
  }

  private commitEventOf(eventId: string): string {
    const content = this.world.byId.get(eventId)?.content as { commit_event?: string } | undefined;
    return content?.commit_event ?? '';
  }

  private isHonest(identity: string): boolean {
    return this.world.devices.find((d) => d.identity === identity)?.honest ?? false;
  }

  /**
   * A decryption. It counts against property 3 when the reader was not a room device (server
   * truth) when the epoch's commit was sent, and the epoch descends from (or is) a commit that
   * removed the reader after it last left the room: its removal, or a merge of it.
   */
  read(device: Device, r: Extract<Received, { kind: 'message' }>): void {
    if (!this.reads.has(device.identity)) this.reads.set(device.identity, new Set());
    this.reads.get(device.identity)!.add(r.eventId);
    this.outcome(device, r.eventId, 'accepted');
    const commitEvent = this.commitEventOf(r.eventId);
    const key = device.group?.epoch(commitEvent)?.key ?? commitEvent;
    const commit = this.commits.get(key);
    if (!commit || commit.roomDevices.has(device.identity)) return;
    const left = (this.leftAt.get(device.identity) ?? []).filter((t) => t <= commit.postedAt);
    const since = left.length > 0 ? left[left.length - 1]! : -Infinity;
    if (this.descendsFromRemoval(key, device.identity, since)) {
      this.removedReads++;
      this.details.removedReads.push(
        `${device.identity} read ${r.eventId} in epoch ${key} (${r.epoch.epoch} by ${r.epoch.creator}), ` +
          `sent after it left the room at ${since} and descending from its removal`,
      );
    }
  }

  private descendsFromRemoval(key: string, device: string, since: number): boolean {
    const memo = `${key} ${device} ${since}`;
    const known = this.descentMemo.get(memo);
    if (known !== undefined) return known;
    const seen = new Set<string>();
    const stack = [key];
    let found = false;
    while (stack.length > 0 && !found) {
      const k = stack.pop()!;
      if (seen.has(k)) continue;
      seen.add(k);
      const c = this.commits.get(k);
      if (!c) continue;
      // A removal: removed and not added back by the same commit (a rejoin replaces a leaf).
      if (c.postedAt >= since && c.removed.includes(device) && !c.added.includes(device)) {
        found = true;
      }
      stack.push(c.base, ...c.resolves);
    }
    this.descentMemo.set(memo, found);
    return found;
  }

  /** Looks at a device's group after it changed: supersessions and secrets of held epochs. */
  observe(device: Device): void {
    const group = device.group;
    if (!group) return;
    let seen = this.superseded.get(device.identity);
    if (!seen) {
      seen = new Map();
      this.superseded.set(device.identity, seen);
    }
    const now = this.world.now;
    for (const node of group.epochs()) {
      for (const parent of node.base !== undefined
        ? [node.base, ...node.resolves]
        : node.resolves) {
        if (!seen.has(parent)) seen.set(parent, now);
      }
      if (node.held.kind === 'full' && !this.secrets.has(node.key)) {
        const s = node.held.state.secrets;
        this.secrets.set(node.key, [
          s.senderDataSecret,
          s.encryptionSecret,
          s.exporterSecret,
          s.externalSecret,
          s.confirmationKey,
          s.membershipKey,
          s.resumptionPsk,
          s.epochAuthenticator,
          s.initSecret,
        ]);
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Properties

  /**
   * Properties 1 and 2: the honest room devices' tips and exporter secrets, and the common tip's
   * members against the room's devices. A tip this device never held, made by the malicious
   * member (a dead branch of a removed device, recorded only so its events can be placed), is
   * not counted as a second tip.
   */
  agreement(): { disagree: number; membership: number; tip: string } {
    const world = this.world;
    const room = world.roomDevices();
    const inRoom = world.devices.filter((d) => room.has(d.identity));
    const honest = inRoom.filter((d) => d.honest);
    const views = honest.map((d) => {
      const group = d.group;
      if (!group) return { d, key: 'no group', why: 'no group' };
      const tips = group.tips();
      const full = tips.filter((t) => t.held.kind === 'full');
      if (full.length !== 1) {
        return { d, key: 'tips', why: `${full.length} tips held in full`, tips };
      }
      const tip = full[0]!;
      const state = tip.held.kind === 'full' ? tip.held.state : undefined;
      const exporter = toHex(exportSecret(state!, 'trellis sim', new Uint8Array(0), 32));
      return { d, key: `${tip.key} ${exporter}`, why: `tip ${tip.key}`, tip, tips };
    });
    const tally = new Map<string, number>();
    for (const v of views) if (v.tip) tally.set(v.key, (tally.get(v.key) ?? 0) + 1);
    const best = [...tally].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]?.[0];
    const holder = views.find((v) => v.key === best);
    const merged = holder?.tip ? this.truthAncestors(holder.tip.key) : new Set<string>();
    let disagree = 0;
    for (const v of views) {
      // Tips never held (`none`) are history this device could not read: they count as a second
      // tip unless the common tip merged them (server truth), the malicious member made them, or
      // no device of the room holds them (a branch whose devices all left: nobody sends there,
      // and nobody could merge it).
      const stray = (v.tips ?? []).filter(
        (t) =>
          t.held.kind === 'none' &&
          !merged.has(t.key) &&
          this.isHonest(t.id.creator) &&
          inRoom.some((d) => (d.group?.epoch(t.key)?.held.kind ?? 'none') !== 'none'),
      );
      if (v.key === best && stray.length === 0) continue;
      disagree++;
      const list = (v.tips ?? [])
        .map((t) => `${t.key}(${t.id.epoch} ${t.id.creator}, ${t.held.kind})`)
        .join(' ');
      this.details.disagree.push(
        `${v.d.identity}: ${v.why}${v.tip && v.key !== best ? ' (not the common tip or exporter)' : ''}` +
          `${stray.length > 0 ? `, unmerged tips it never held` : ''}; tips: ${list}`,
      );
    }
    const members = new Set(holder?.tip?.members.keys() ?? []);
    let membership = 0;
    for (const id of members) {
      if (!room.has(id)) {
        membership++;
        this.details.membership.push(`${id} is in the tip ${holder!.tip!.key} but not in the room`);
      }
    }
    for (const id of room) {
      if (!members.has(id)) {
        membership++;
        this.details.membership.push(
          `${id} is in the room but not in the tip ${holder?.tip?.key ?? '(none)'}`,
        );
      }
    }
    return { disagree, membership, tip: holder?.tip?.key ?? '' };
  }

  /** The epochs a commit descends from, by the bases and resolves its signers signed. */
  private truthAncestors(key: string): Set<string> {
    const out = new Set<string>();
    const stack = [key];
    while (stack.length > 0) {
      const k = stack.pop()!;
      if (out.has(k)) continue;
      out.add(k);
      const c = this.commits.get(k);
      if (c) stack.push(c.base, ...c.resolves);
    }
    return out;
  }

  /**
   * Property 4: each honest message must be read by each honest device that holds its epoch
   * at the end (unless it logged out), or held it when the message was delivered (a failure
   * then was recorded).
   */
  lost(): number {
    const honest = this.world.devices.filter((d) => d.honest);
    let lost = 0;
    for (const m of this.messages.values()) {
      for (const d of honest) {
        if (this.reads.get(d.identity)?.has(m.eventId)) continue;
        const node = d.group?.epoch(m.epochKey);
        const holds = node !== undefined && node.held.kind !== 'none';
        const failure = this.heldAtDelivery.get(d.identity)?.get(m.eventId);
        // A device that logged out reads nothing more: only what reached it and failed counts.
        if ((holds && !d.loggedOut) || failure) {
          lost++;
          this.details.lost.push(
            `${d.identity} never read ${m.eventId} from ${m.sender} (epoch ${m.epochKey}): ` +
              (failure ?? `holds it (${node!.held.kind}) at the end`),
          );
        }
      }
    }
    return lost;
  }

  /**
   * Property 5, retention. For each honest device, an epoch is expired when the device knew a
   * successor of it (the oracle notes the moment a device's graph first links to it) more than
   * fork window + message window before the device's last `prune`: by then nothing of it may
   * remain. Findings: (a) the live group still holds its secrets (`held` is not `none`), and
   * (b) any of its nine epoch secrets (sender-data, encryption, exporter, external,
   * confirmation, membership, resumption, authenticator, init; collected from whichever device
   * held the epoch in full) appears as bytes inside the device's snapshot: every base64 and hex
   * string of the snapshot JSON is decoded and searched. Each (device, epoch) counts once.
   */
  retention(): number {
    const window = PARAMS.forkWindowMs + PARAMS.messageWindowMs;
    let findings = 0;
    for (const d of this.world.devices) {
      if (!d.honest || !d.group) continue;
      const seen = this.superseded.get(d.identity) ?? new Map<string, number>();
      const expired = [...seen].filter(([, t]) => t + window < d.lastPruneAt).map(([k]) => k);
      if (expired.length === 0) continue;
      const found = new Set<string>();
      for (const key of expired) {
        const node = d.group.epoch(key);
        if (node && node.held.kind !== 'none') {
          found.add(key);
          this.details.retention.push(
            `${d.identity} still holds epoch ${key} (${node.held.kind}), superseded at ${seen.get(key)}, last prune ${d.lastPruneAt}`,
          );
        }
      }
      const index = new Map<number, { key: string; secret: Uint8Array }[]>();
      for (const key of expired) {
        for (const secret of this.secrets.get(key) ?? []) {
          if (secret.length < 8) continue;
          const head = Buffer.from(secret).readUInt32LE(0);
          if (!index.has(head)) index.set(head, []);
          index.get(head)!.push({ key, secret });
        }
      }
      if (index.size > 0) {
        for (const blob of blobsOf(d.group.snapshot())) {
          for (let i = 0; i + 8 <= blob.length; i++) {
            const hits = index.get(blob.readUInt32LE(i));
            if (!hits) continue;
            for (const h of hits) {
              if (found.has(h.key) || i + h.secret.length > blob.length) continue;
              if (blob.subarray(i, i + h.secret.length).equals(h.secret)) {
                found.add(h.key);
                this.details.retention.push(
                  `${d.identity}'s snapshot holds a secret of expired epoch ${h.key}`,
                );
              }
            }
          }
        }
      }
      findings += found.size;
    }
    return findings;
  }

  counted(): Pick<PropertyCounts, 'removedReads' | 'errors'> {
    return { removedReads: this.removedReads, errors: this.errors };
  }

  /** Epochs that two or more accepted commits took as their base. */
  forks(): number {
    const children = new Map<string, number>();
    for (const id of this.accepted) {
      const c = this.commits.get(id)!;
      children.set(c.base, (children.get(c.base) ?? 0) + 1);
    }
    return [...children.values()].filter((n) => n > 1).length;
  }
}

/** Every base64 or hex string in a JSON value, decoded. */
function blobsOf(value: unknown): Buffer[] {
  const out: Buffer[] = [];
  const walk = (v: unknown) => {
    if (typeof v === 'string') {
      if (v.length >= 40 && /^[A-Za-z0-9+/]+$/.test(v)) out.push(Buffer.from(v, 'base64'));
      if (v.length >= 64 && v.length % 2 === 0 && /^[0-9a-f]+$/.test(v))
        out.push(Buffer.from(v, 'hex'));
    } else if (Array.isArray(v)) {
      for (const x of v) walk(x);
    } else if (v && typeof v === 'object') {
      for (const x of Object.values(v)) walk(x);
    }
  };
  walk(JSON.parse(JSON.stringify(value)));
  return out;
}

export { userOf };
