/**
 * How a room gets its dMLS group: created with the room (epoch 0, this device alone), or joined
 * from a Welcome. Either way the new epoch is stored, and backed up when a backup is enabled.
 */
import { DmlsGroup, type EpochNode, type parseWelcome, type Received } from '@trellis/dmls';
import type { CipherSuiteId, KeyPackageBundle } from '@trellis/mls';
import { ClientError } from './errors.js';
import { metadataExtension, TRELLIS_CAPABILITIES, type GroupMetadata } from './metadata.js';
import type { RoomState } from './roomState.js';

/** Creates the group of a room this device just created, and records what the room is. */
export function createGroup(
  state: RoomState,
  suite: CipherSuiteId,
  createEventId: string,
  metadata: GroupMetadata,
): DmlsGroup {
  const { ctx, record } = state;
  const group = DmlsGroup.create({
    ...state.groupOptions(),
    suite,
    createEventId,
    signatureKeyPair: ctx.device.signatureKeyPair,
    now: Date.now(),
    extensions: [metadataExtension(metadata)],
    capabilities: TRELLIS_CAPABILITIES,
  });
  state.group = group;
  record.suite = suite;
  record.createEventId = createEventId;
  record.metadata = metadata;
  ctx.store.transaction(() => {
    state.save();
    state.persistGroup();
  });
  state.seal(group.current());
  return group;
}

/**
 * Joins the group from a Welcome, or adds the Welcome's epoch to the group this device follows.
 * Returns the Welcome's epoch, and the outcomes of events that waited for it (to be told).
 */
export function joinGroup(
  state: RoomState,
  welcome: ReturnType<typeof parseWelcome>,
  bundle: KeyPackageBundle,
): { node: EpochNode; waited: Received[] } {
  const { ctx, record } = state;
  if (record.suite !== undefined && welcome.suite !== record.suite) {
    throw new ClientError('NOT_ENCRYPTED', 'the Welcome is for another cipher suite than the room');
  }
  let waited: Received[] = [];
  if (state.group) {
    waited = state.group.addWelcome(welcome, bundle, ctx.clock());
  } else {
    state.group = DmlsGroup.fromWelcome({ ...state.groupOptions(), welcome, bundle });
  }
  const node = state.group.epoch(welcome.commitEvent) ?? state.group.current();
  state.persistGroup();
  state.seal(node);
  state.rejoins.overrule(node);
  state.rejoins.settle(node);
  ctx.events.emit('welcome', { roomId: state.roomId, sender: welcome.sender, epoch: node.id });
  return { node, waited };
}
