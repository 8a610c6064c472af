import { createCommit, encryptApplication, type Extension, type KeyPackage } from '@trellis/mls';
import { commitDataExtension, encodeCommitData, type CommitData } from './commitData.js';
import { current, type GroupCore } from './core.js';
import { DmlsError } from './errors.js';
import { identityAt } from './membership.js';
import { checkResolvable } from './mergeRules.js';
import {
  roomEventContent,
  welcomeContent,
  type Plaintext,
  type RoomEventContent,
  type WelcomeContent,
} from './wire.js';

/** Own messages remembered until their echo comes back from the server. */
const MAX_SENT_REMEMBERED = 1000;

/** Encrypts an application message in the current epoch (resolve first if that is needed). */
export function encrypt(
  core: GroupCore,
  type: string,
  content: Record<string, unknown>,
): RoomEventContent {
  const node = current(core);
  if (node.held.kind !== 'full') {
    throw new DmlsError('NOT_READY', `this device cannot send in epoch ${node.key}`);
  }
  const plaintext: Plaintext = { type, content, room_id: core.roomId };
  const sent = encryptApplication(
    node.held.state,
    new TextEncoder().encode(JSON.stringify(plaintext)),
  );
  core.graph.update({ ...node, held: { kind: 'full', state: sent.state } });
  const out = roomEventContent(core.suite, sent.message, node.id, core.identity, node.key);
  core.sentByMe.set(out.ciphertext, { epoch: node.id, plaintext });
  if (core.sentByMe.size > MAX_SENT_REMEMBERED) {
    core.sentByMe.delete(core.sentByMe.keys().next().value!);
  }
  return out;
}

/**
 * Creates a commit on the plan's base with a fresh update path: adds the devices whose
 * KeyPackages are given, removes the plan's leaves, and names the other tips in its signed
 * commit data. Nothing changes until the commit comes back from the server (`receive` adopts
 * it then); the Welcome is made only once its commit event is stored (`welcomeFor`).
 */
export function commit(
  core: GroupCore,
  plan: {
    baseKey: string;
    resolveKeys: readonly string[];
    remove: readonly number[];
    add?: readonly string[];
  },
  keyPackages: ReadonlyMap<string, KeyPackage>,
  extra: { groupContextExtensions?: Extension[] } = {},
): {
  content: RoomEventContent;
  added: string[];
  welcomeFor(commitEventId: string): WelcomeContent | undefined;
} {
  const base = core.graph.get(plan.baseKey);
  if (!base || base.held.kind !== 'full') {
    throw new DmlsError('NOT_READY', 'the base epoch is not held in full');
  }
  if (core.pending.size > 0) {
    // One commit in flight at a time: this device's epochs stay a chain it can follow.
    throw new DmlsError('NOT_READY', 'a commit of this device is still in flight');
  }
  const resolved = plan.resolveKeys.map((k) => {
    const node = core.graph.get(k);
    if (!node) throw new DmlsError('NOT_READY', `epoch ${k} is not known`);
    checkResolvable(core.graph, base, node, node.tag);
    return node;
  });
  const state = base.held.state;
  const added = (plan.add ?? []).filter((id) => keyPackages.has(id));
  const removed = plan.remove.map((leaf) => identityAt(state, leaf));
  const data: CommitData = {
    baseEvent: base.key,
    resolves: resolved.map((n) => ({ event: n.key, tag: hexBytes(n.tag) })),
    removed: [...removed].sort(),
    added: [...added].sort(),
  };
  const created = createCommit(base.held.state, {
    add: added.map((id) => keyPackages.get(id)!),
    remove: [...plan.remove],
    forcePath: true,
    pending: 'none',
    authenticatedData: encodeCommitData(data),
    welcomeGroupInfo: { ratchetTree: true, extensions: [commitDataExtension(data)] },
    ...(extra.groupContextExtensions && { groupContextExtensions: extra.groupContextExtensions }),
  });
  const content = roomEventContent(
    core.suite,
    created.commit,
    base.id,
    core.identity,
    base.key,
    resolved.map((n) => n.id),
  );
  core.pending.set(content.ciphertext, {
    state: created.pending,
    ...(created.welcome && { welcome: created.welcome }),
    base: base.key,
    added,
    removed,
  });
  core.graph.update({ ...base, held: { kind: 'full', state: created.state } });
  return {
    content,
    added,
    welcomeFor: (commitEventId) =>
      created.welcome &&
      welcomeContent(core.suite, created.welcome, core.roomId, core.identity, commitEventId, [
        base.id,
        ...resolved.map((n) => n.id),
      ]),
  };
}

function hexBytes(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}
