import {
  decode,
  encode,
  findExtension,
  MlsError,
  WireFormat,
  type Codec,
  type Extension,
  type GroupInfo,
  type MlsMessage,
} from '@trellis/mls';
import { DmlsError } from './errors.js';

/**
 * What a commit says about its place in the epoch graph, carried in the MLS message's
 * `authenticated_data` (RFC 9420 §6): the committer signs it, and it enters the confirmed
 * transcript hash and so the next epoch's key schedule. The JSON fields next to the ciphertext
 * (`commit_event`, `resolves`) are hints for the server and for display; a receiver places the
 * commit by these values only.
 *
 *   struct {
 *     opaque commit_event<V>;       // event id of the commit that created the epoch
 *     opaque confirmation_tag<V>;   // that commit's confirmation tag (RFC 9420 §8.1)
 *   } EpochRef;
 *
 *   struct {
 *     uint8 version = 2;
 *     opaque base_event<V>;         // the commit event of the epoch this commit is made on
 *     EpochRef resolves<V>;         // the other tips it merges
 *     opaque removed<V><V>;         // devices ("userId|deviceId") whose leaves it removes
 *     opaque added<V><V>;           // devices it adds
 *   } TrellisCommitData;
 *
 * An epoch is named by the event of its commit, and pinned by that commit's confirmation tag:
 * the tag is derived from the epoch's key schedule, so no one can name an epoch that does not
 * exist yet (its own included), and a server cannot give another commit the same name.
 *
 * The membership changes are signed too so that every device decides a merge the same way:
 * whether a merge undoes a removal must not depend on which epochs of the resolved branch a
 * device could decrypt. A receiver that processes the commit checks them against its proposals.
 */
export interface EpochRef {
  readonly event: string;
  readonly tag: Uint8Array;
}

export interface CommitData {
  readonly baseEvent: string;
  readonly resolves: readonly EpochRef[];
  /** Devices whose leaves the commit removes, and devices it adds, sorted. */
  readonly removed: readonly string[];
  readonly added: readonly string[];
}

/** Commit data as a committer writes it: no device lists means no device changes. */
export type CommitDataInput = Omit<CommitData, 'removed' | 'added'> &
  Partial<Pick<CommitData, 'removed' | 'added'>>;

const VERSION = 2;
/** Room event ids are short; a bound keeps a hostile field from costing memory. */
const MAX_EVENT_ID = 255;
const MAX_TAG = 64;
const MAX_RESOLVES = 64;
/** A device identity is a user id (at most 255 bytes) and a device id. */
const MAX_IDENTITY = 512;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

function readText(bytes: Uint8Array, what: string): string {
  try {
    const text = fromUtf8.decode(bytes);
    if (text.length > 0) return text;
  } catch {
    // refused below
  }
  throw new MlsError('INVALID_VALUE', `${what} in the commit data is not UTF-8 text`);
}

function readEventId(bytes: Uint8Array): string {
  return readText(bytes, 'an event id');
}

const commitDataCodec: Codec<CommitData> = {
  encode(w, data) {
    w.u8(VERSION);
    w.opaque(utf8.encode(data.baseEvent));
    w.vector(data.resolves, (w2, ref) => {
      w2.opaque(utf8.encode(ref.event));
      w2.opaque(ref.tag);
    });
    for (const list of [data.removed, data.added]) {
      w.vector([...list].sort(), (w2, id) => w2.opaque(utf8.encode(id)));
    }
  },
  decode(r) {
    const version = r.u8();
    if (version !== VERSION) throw new MlsError('INVALID_VALUE', `commit data version ${version}`);
    const baseEvent = readEventId(r.opaque(MAX_EVENT_ID));
    const resolves = r.vector((r2) => ({
      event: readEventId(r2.opaque(MAX_EVENT_ID)),
      tag: r2.opaque(MAX_TAG),
    }));
    const device = (r2: typeof r) => readText(r2.opaque(MAX_IDENTITY), 'a device');
    const removed = r.vector(device);
    const added = r.vector(device);
    return { baseEvent, resolves, removed, added };
  },
};

/**
 * The same data in the Welcome's GroupInfo, as an extension of the private-use range (RFC 9420
 * §17.3): the GroupInfo is signed by the committer, so a joiner learns the new epoch's parents
 * from a signed source, and it cannot see the commit's own authenticated data without the base.
 */
export const COMMIT_DATA_EXTENSION = 0xf0d5;

export function encodeCommitData(data: CommitDataInput): Uint8Array {
  return encode(commitDataCodec, { ...data, removed: data.removed ?? [], added: data.added ?? [] });
}

export function commitDataExtension(data: CommitDataInput): Extension {
  return { extensionType: COMMIT_DATA_EXTENSION, extensionData: encodeCommitData(data) };
}

/** The commit data of a received commit: `INVALID_METADATA` when absent or malformed. */
export function commitDataOf(message: MlsMessage): CommitData {
  return parseCommitData(
    message.wireFormat === WireFormat.mls_public_message
      ? message.publicMessage.content.authenticatedData
      : message.wireFormat === WireFormat.mls_private_message
        ? message.privateMessage.authenticatedData
        : new Uint8Array(0),
  );
}

/** The commit data a Welcome's (verified) GroupInfo carries. */
export function commitDataOfGroupInfo(info: GroupInfo): CommitData {
  const ext = findExtension(info.extensions, COMMIT_DATA_EXTENSION);
  return parseCommitData(ext?.extensionData ?? new Uint8Array(0));
}

function parseCommitData(bytes: Uint8Array): CommitData {
  let data: CommitData;
  try {
    data = decode(commitDataCodec, bytes);
  } catch (e) {
    throw new DmlsError(
      'INVALID_METADATA',
      `the commit's authenticated data is not Trellis commit data (${(e as Error).message})`,
    );
  }
  if (data.resolves.length > MAX_RESOLVES) {
    throw new DmlsError('INVALID_METADATA', `the commit resolves ${data.resolves.length} epochs`);
  }
  const names = new Set([data.baseEvent]);
  for (const ref of data.resolves) {
    if (names.has(ref.event)) {
      throw new DmlsError('INVALID_METADATA', `the commit names epoch ${ref.event} twice`);
    }
    names.add(ref.event);
  }
  for (const list of [data.removed, data.added]) {
    if (list.some((id, i) => i > 0 && list[i - 1]! >= id)) {
      throw new DmlsError('INVALID_METADATA', 'a device list of the commit data is not sorted');
    }
  }
  return data;
}

/** The confirmation tag a commit carries in the clear (PublicMessage), if any. */
export function visibleConfirmationTag(message: MlsMessage): Uint8Array | undefined {
  return message.wireFormat === WireFormat.mls_public_message
    ? message.publicMessage.auth.confirmationTag
    : undefined;
}
