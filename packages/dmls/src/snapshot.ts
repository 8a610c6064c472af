import {
  decode,
  deserializeEpochReader,
  deserializeGroupState,
  encode,
  mlsMessageCodec,
  serializeEpochReader,
  serializeGroupState,
  type CipherSuiteId,
  type CryptoProvider,
  type GroupState,
  type MlsMessage,
} from '@trellis/mls';
import { DmlsError } from './errors.js';
import type { EpochNode, HeldSecrets } from './graph.js';
import type { RoomEvent, Waiting, WaitingEvent } from './waiting.js';
import { fromBase64, toBase64 } from './wire.js';

/** A commit this device sent, waiting to be seen accepted. */
export interface PendingCommit {
  readonly state: GroupState;
  readonly welcome?: MlsMessage;
  readonly base: string;
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

/** The storable form of a group (JSON-safe): one record per epoch, and the rest. */
export interface DmlsSnapshot {
  meta: {
    version: 2;
    roomId: string;
    identity: string;
    suite: CipherSuiteId;
    joinedAt: string;
    aliases: [string, string][];
    queue: StoredWait[];
    parked: StoredWait[];
    pending: {
      ciphertext: string;
      state: string;
      welcome?: string;
      base: string;
      added: string[];
      removed: string[];
    }[];
    seen: string[];
    refused: string[];
    unfollowable: string[];
    /** Events the room will not give this device (absent from snapshots made before). */
    unavailable?: string[];
  };
  epochs: EpochRecord[];
}

interface StoredWait {
  event: RoomEvent;
  awaiting?: string;
  devices?: string[];
  since: number;
}

/** One epoch as stored: its place in the graph and, base64, whatever secrets it still holds. */
export interface EpochRecord {
  key: string;
  epoch: string;
  creator: string;
  tag: string;
  base?: string;
  resolves: string[];
  signedParents?: string[];
  members: [string, number][];
  added: string[];
  removed: string[];
  held: 'full' | 'messages' | 'none';
  secrets?: string;
  supersededAt?: number;
  mine: boolean;
  generation: number;
}

export interface GroupParts {
  roomId: string;
  identity: string;
  suite: CipherSuiteId;
  joinedAt: bigint;
  nodes: readonly EpochNode[];
  aliases: [string, string][];
  waiting: Pick<Waiting, 'queue' | 'parked'>;
  pending: ReadonlyMap<string, PendingCommit>;
  seen: Iterable<string>;
  refused: Iterable<string>;
  unfollowable: Iterable<string>;
  unavailable: Iterable<string>;
}

const storeWait = (w: WaitingEvent): StoredWait => ({
  event: w.event,
  ...(w.awaiting !== undefined && { awaiting: w.awaiting }),
  ...(w.devices && { devices: [...w.devices] }),
  since: w.since,
});

export function encodeSnapshot(parts: GroupParts): DmlsSnapshot {
  return {
    meta: {
      version: 2,
      roomId: parts.roomId,
      identity: parts.identity,
      suite: parts.suite,
      joinedAt: parts.joinedAt.toString(),
      aliases: parts.aliases,
      queue: parts.waiting.queue.map(storeWait),
      parked: parts.waiting.parked.map(storeWait),
      pending: [...parts.pending].map(([ciphertext, p]) => ({
        ciphertext,
        state: toBase64(serializeGroupState(p.state)),
        ...(p.welcome && { welcome: toBase64(encode(mlsMessageCodec, p.welcome)) }),
        base: p.base,
        added: [...p.added],
        removed: [...p.removed],
      })),
      seen: [...parts.seen],
      refused: [...parts.refused],
      unfollowable: [...parts.unfollowable],
      unavailable: [...parts.unavailable],
    },
    epochs: parts.nodes.map(encodeNode),
  };
}

export function decodeSnapshot(
  provider: CryptoProvider,
  snapshot: DmlsSnapshot,
): Omit<GroupParts, 'waiting' | 'pending'> & {
  queue: WaitingEvent[];
  parked: WaitingEvent[];
  pending: [string, PendingCommit][];
} {
  const { meta } = snapshot;
  if (meta.version !== 2) {
    throw new DmlsError('MALFORMED_EVENT', `snapshot version ${String(meta.version)} is not 2`);
  }
  return {
    roomId: meta.roomId,
    identity: meta.identity,
    suite: meta.suite,
    joinedAt: BigInt(meta.joinedAt),
    nodes: snapshot.epochs.map((r) => decodeNode(provider, r)),
    aliases: meta.aliases,
    queue: meta.queue.map((q) => ({ ...q })),
    parked: meta.parked.map((q) => ({ ...q })),
    pending: meta.pending.map((p) => [
      p.ciphertext,
      {
        state: deserializeGroupState(provider, fromBase64(p.state, 'state')),
        ...(p.welcome && { welcome: decode(mlsMessageCodec, fromBase64(p.welcome, 'welcome')) }),
        base: p.base,
        added: p.added,
        removed: p.removed,
      },
    ]),
    seen: meta.seen,
    refused: meta.refused,
    unfollowable: meta.unfollowable,
    unavailable: meta.unavailable ?? [],
  };
}

function encodeNode(node: EpochNode): EpochRecord {
  const held = node.held;
  return {
    key: node.key,
    epoch: node.id.epoch.toString(),
    creator: node.id.creator,
    tag: node.tag,
    ...(node.base !== undefined && { base: node.base }),
    resolves: [...node.resolves],
    ...(node.signedParents && { signedParents: [...node.signedParents] }),
    members: [...node.members],
    added: [...node.added],
    removed: [...node.removed],
    held: held.kind,
    ...(held.kind === 'full' && { secrets: toBase64(serializeGroupState(held.state)) }),
    ...(held.kind === 'messages' && { secrets: toBase64(serializeEpochReader(held.reader)) }),
    ...(node.supersededAt !== undefined && { supersededAt: node.supersededAt }),
    mine: node.mine,
    generation: node.generation,
  };
}

function decodeNode(provider: CryptoProvider, record: EpochRecord): EpochNode {
  let held: HeldSecrets = { kind: 'none' };
  if (record.held !== 'none') {
    const bytes = fromBase64(record.secrets ?? '', 'secrets');
    held =
      record.held === 'full'
        ? { kind: 'full', state: deserializeGroupState(provider, bytes) }
        : { kind: 'messages', reader: deserializeEpochReader(provider, bytes) };
  }
  return {
    id: { epoch: BigInt(record.epoch), creator: record.creator },
    key: record.key,
    commitEvent: record.key,
    tag: record.tag,
    ...(record.base !== undefined && { base: record.base }),
    resolves: record.resolves,
    ...(record.signedParents && { signedParents: record.signedParents }),
    members: new Map(record.members),
    added: record.added,
    removed: record.removed,
    held,
    ...(record.supersededAt !== undefined && { supersededAt: record.supersededAt }),
    mine: record.mine,
    generation: record.generation,
  };
}
