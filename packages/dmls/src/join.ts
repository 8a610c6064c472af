import {
  basicCredential,
  cipherSuite,
  createGroup,
  joinWithGroupInfo,
  toHex,
  WireFormat,
  type CipherSuiteId,
  type CryptoProvider,
  type Extension,
  type GroupState,
  type KeyPackageBundle,
  type KeyPair,
} from '@trellis/mls';
import { commitDataOfGroupInfo, type CommitData } from './commitData.js';
import { GROUP_CONFIG, type GroupCore } from './core.js';
import { DmlsError } from './errors.js';
import type { EpochNode, NewNode } from './graph.js';
import { checkLeaves, identityAt, membersOf } from './membership.js';
import { checkResolvable, excludedBy } from './mergeRules.js';
import { retry, type Received } from './receive.js';
import type { ParsedWelcome } from './wire.js';

export interface FoundingOptions {
  readonly roomId: string;
  readonly identity: string;
  readonly provider: CryptoProvider;
  readonly suite: CipherSuiteId;
  /** The room's create event: it stands in for the commit that created epoch 0. */
  readonly createEventId: string;
  readonly signatureKeyPair: KeyPair;
  readonly now: number;
  readonly extensions?: Extension[];
  readonly capabilities?: { extensions?: number[] };
}

/** Epoch 0 of a new group, with the founding device its only member. */
export function foundingNode(options: FoundingOptions): NewNode {
  const state = createGroup(cipherSuite(options.suite, options.provider), {
    groupId: new TextEncoder().encode(options.roomId),
    credential: basicCredential(new TextEncoder().encode(options.identity)),
    signatureKeyPair: options.signatureKeyPair,
    now: BigInt(Math.floor(options.now / 1000)),
    config: GROUP_CONFIG,
    ...(options.extensions && { extensions: options.extensions }),
    ...(options.capabilities && { capabilities: options.capabilities }),
  });
  return {
    id: { epoch: 0n, creator: options.identity },
    key: options.createEventId,
    tag: toHex(state.confirmationTag),
    resolves: [],
    members: membersOf(state),
    added: [],
    removed: [],
    held: { kind: 'full', state },
    mine: true,
  };
}

/** Joins from a Welcome and checks it: its sender, every leaf of its tree, its signed data. */
export function openWelcome(
  core: GroupCore,
  welcome: ParsedWelcome,
  bundle: KeyPackageBundle,
): { state: GroupState; data: CommitData } {
  if (welcome.roomId !== core.roomId || welcome.message.wireFormat !== WireFormat.mls_welcome) {
    throw new DmlsError('MALFORMED_EVENT', 'the Welcome is not for this room');
  }
  if (welcome.suite !== core.suite) {
    throw new DmlsError('UNSUPPORTED_ALGORITHM', 'the Welcome is for another cipher suite');
  }
  const { state, groupInfo } = joinWithGroupInfo(core.provider, welcome.message.welcome, bundle, {
    config: GROUP_CONFIG,
  });
  const members = membersOf(state);
  if (identityAt(state, groupInfo.signer) !== welcome.sender || !members.has(welcome.sender)) {
    throw new DmlsError('SENDER_MISMATCH', 'the Welcome was not made by the member it names');
  }
  const { unknown } = checkLeaves(
    [...state.tree.members()].map(([, leaf]) => leaf),
    core.keys,
  );
  if (unknown.length > 0) throw needDevices(unknown);
  const data = commitDataOfGroupInfo(groupInfo);
  if (data.baseEvent === welcome.commitEvent) {
    throw new DmlsError('INVALID_METADATA', 'the Welcome names its own epoch as its base');
  }
  return { state, data };
}

/**
 * The node of a Welcome's epoch, linked to its parents where this device knows them. The
 * parents come from the signed GroupInfo and are checked as a commit's would be: resolved
 * epochs carry their tags and lie on other branches, and the new epoch keeps no device that a
 * resolved branch removed.
 */
export function welcomeNode(
  core: GroupCore,
  welcome: ParsedWelcome,
  joined: { state: GroupState; data: CommitData },
): NewNode {
  const members = membersOf(joined.state);
  const base = core.graph.get(joined.data.baseEvent);
  const resolved: EpochNode[] = [];
  for (const ref of joined.data.resolves) {
    const node = core.graph.get(ref.event);
    if (!node || node.key === welcome.commitEvent) continue;
    if (base) checkResolvable(core.graph, base, node, toHex(ref.tag));
    resolved.push(node);
  }
  if (base) {
    const kept = [...excludedBy(core, base, resolved)].filter((d) => members.has(d));
    if (kept.length > 0) {
      throw new DmlsError('REMOVAL_UNDONE', `the Welcome's epoch keeps ${kept.join(', ')}`);
    }
  }
  // Epoch 0 is the room's create event, not a commit: nothing to link or fetch.
  const named = [
    ...(joined.state.context.epoch > 1n ? [joined.data.baseEvent] : []),
    ...joined.data.resolves.map((r) => r.event),
  ];
  const unlinked = named.filter((e) => e !== welcome.commitEvent && !core.graph.get(e));
  return {
    id: { epoch: joined.state.context.epoch, creator: welcome.sender },
    key: welcome.commitEvent,
    ...(unlinked.length > 0 && { signedParents: unlinked }),
    tag: toHex(joined.state.confirmationTag),
    ...(base && base.key !== welcome.commitEvent && { base: base.key }),
    resolves: resolved.map((n) => n.key),
    members,
    added: joined.data.added,
    removed: joined.data.removed,
    held: { kind: 'full', state: joined.state },
    mine: false,
  };
}

/**
 * A Welcome for a group this device already follows (added on another branch, or removed and
 * added again): its epoch joins the graph, or fills in an epoch known only by its commit, and
 * the events that waited for it are processed.
 */
export function addWelcome(
  core: GroupCore,
  welcome: ParsedWelcome,
  bundle: KeyPackageBundle,
  now: number,
): Received[] {
  const joined = openWelcome(core, welcome, bundle);
  const tag = toHex(joined.state.confirmationTag);
  const known = core.graph.get(welcome.commitEvent) ?? core.graph.withTag(tag);
  if (known && known.held.kind !== 'none') return [];
  const node = welcomeNode(core, welcome, joined);
  if (known) {
    if (known.tag !== '' && known.tag !== tag) {
      throw new DmlsError('INVALID_METADATA', 'the Welcome names another epoch');
    }
    const signedParents = [node.base, ...node.resolves, ...(node.signedParents ?? [])].filter(
      (k): k is string => k !== undefined && k !== known.base && !known.resolves.includes(k),
    );
    core.graph.update({
      ...known,
      tag,
      held: node.held,
      members: node.members,
      ...(signedParents.length > 0 && { signedParents }),
    });
  } else {
    core.graph.add(node, now);
  }
  core.unfollowable.clear();
  return retry(core, now, true);
}

function needDevices(identities: string[]): DmlsError {
  return Object.assign(
    new DmlsError('NOT_READY', `the keys of ${identities.join(', ')} must be fetched first`),
    { devices: identities },
  );
}
