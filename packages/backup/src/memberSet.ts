/**
 * Member sets: the members' leaf nodes of an epoch, cut into runs of consecutive leaf indices so
 * that consecutive epochs can share them.
 *
 * Between two epochs usually only a few leaves change: the committer's (every commit with a
 * path gives it a new leaf node) and those added or removed. Cutting the leaves at fixed,
 * aligned leaf indices (0-15, 16-31, …) means such a change touches one or two runs, and every
 * other run encodes to the same bytes as before. Each run is stored once as its own backup entry
 * named by its id; epoch exports list the ids.
 *
 * The id is a keyed hash: HMAC-SHA-256 of the encoded set under a key derived from the backup
 * key. A plain hash would let the server, which sees session ids, test whether a backup holds
 * a leaf node it knows (from a commit, say) and so learn who shares rooms with whom. Under the
 * key, equal sets still get equal ids for the same backup, which is all deduplication needs.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import {
  leafNodeCodec,
  Reader,
  Writer,
  type CipherSuiteId,
  type Codec,
  type LeafNode,
} from '@trellis/mls';
import { utf8 } from './encoding.js';
import { BackupError } from './errors.js';
import { checkKeySize } from './recoveryKey.js';
import { MEMBER_SET_ID_SIZE } from './sessionId.js';

/** Version of the MemberSet encoding (see docs/backup-format.md). */
export const MEMBER_SET_VERSION = 1;

/** Leaves per member set: the best trade-off measured by `npm run bench:backup`. */
export const DEFAULT_MEMBERS_PER_SET = 16;

/** Leaves `firstLeaf`, `firstLeaf + 1`, …: a leaf node, or undefined for a blank leaf. */
export interface MemberSet {
  readonly cipherSuite: CipherSuiteId;
  readonly firstLeaf: number;
  readonly leaves: readonly (LeafNode | undefined)[];
}

/**
 * ```
 * struct {
 *     uint16 member_set_version = 1;
 *     CipherSuite cipher_suite;
 *     uint32 first_leaf;
 *     optional<LeafNode> leaves<V>;
 * } MemberSet;
 * ```
 */
export const memberSetCodec: Codec<MemberSet> = {
  encode(w, set) {
    w.u16(MEMBER_SET_VERSION);
    w.u16(set.cipherSuite);
    w.u32(set.firstLeaf);
    w.vector(set.leaves, (w, leaf) => w.optional(leaf, leafNodeCodec.encode));
  },
  decode(r) {
    const version = r.u16();
    if (version !== MEMBER_SET_VERSION) {
      throw new BackupError(
        'UNSUPPORTED_VERSION',
        `member set version ${version} is not ${MEMBER_SET_VERSION}`,
      );
    }
    const cipherSuite = r.u16() as CipherSuiteId;
    const firstLeaf = r.u32();
    const leaves = r.vector((r) => r.optional(leafNodeCodec.decode));
    return { cipherSuite, firstLeaf, leaves };
  },
};

export function encodeMemberSet(set: MemberSet): Uint8Array {
  const w = new Writer(256 * (set.leaves.length + 1));
  memberSetCodec.encode(w, set);
  return w.finish();
}

/** Decodes a whole member set: truncated input and trailing bytes are `MlsError`s. */
export function decodeMemberSet(bytes: Uint8Array): MemberSet {
  const r = new Reader(bytes);
  const set = memberSetCodec.decode(r);
  r.done();
  return set;
}

/**
 * Cuts the members of a tree of `leafCount` leaves into sets of `perSet` aligned leaf indices.
 * Runs with no member are left out; trailing blank leaves of a run are trimmed, so that a set's
 * bytes depend only on its members.
 */
export function splitMembers(
  cipherSuite: CipherSuiteId,
  leafCount: number,
  members: Iterable<readonly [number, LeafNode]>,
  perSet: number = DEFAULT_MEMBERS_PER_SET,
): MemberSet[] {
  if (!Number.isSafeInteger(perSet) || perSet < 1) {
    throw new BackupError(
      'INVALID_ARGUMENT',
      `members per set must be a positive integer, not ${perSet}`,
    );
  }
  const runs = new Map<number, (LeafNode | undefined)[]>();
  for (const [leafIndex, leaf] of members) {
    if (!Number.isInteger(leafIndex) || leafIndex < 0 || leafIndex >= leafCount) {
      throw new BackupError(
        'INVALID_ARGUMENT',
        `leaf ${leafIndex} is outside a tree of ${leafCount} leaves`,
      );
    }
    const first = leafIndex - (leafIndex % perSet);
    let run = runs.get(first);
    if (!run) runs.set(first, (run = []));
    run[leafIndex - first] = leaf;
  }
  return [...runs.keys()]
    .sort((a, b) => a - b)
    .map((firstLeaf) => ({
      cipherSuite,
      firstLeaf,
      // Array.from turns the holes of a sparse run into explicit blanks.
      leaves: Array.from(runs.get(firstLeaf)!),
    }));
}

const ID_KEY_SALT = new Uint8Array(32);
const ID_KEY_INFO = utf8('trellis backup member set id');

/** The key member set ids are computed with, derived from the backup key. */
export function memberSetIdKey(backupKey: Uint8Array): Uint8Array {
  checkKeySize(backupKey);
  return new Uint8Array(hkdfSync('sha256', backupKey, ID_KEY_SALT, ID_KEY_INFO, 32));
}

/** HMAC-SHA-256(id key, encoded member set). */
export function memberSetId(idKey: Uint8Array, encodedSet: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha256', idKey).update(encodedSet).digest());
}

/** Throws `MEMBER_SET_MISMATCH` unless `encodedSet` is the set `id` names. */
export function checkMemberSetId(idKey: Uint8Array, encodedSet: Uint8Array, id: Uint8Array): void {
  const actual = memberSetId(idKey, encodedSet);
  if (id.length !== MEMBER_SET_ID_SIZE || !timingSafeEqual(actual, id)) {
    throw new BackupError('MEMBER_SET_MISMATCH', 'the member set is not the one its id names');
  }
}

/**
 * The members of the given sets as leaf index and leaf node, checked: same cipher suite as the
 * export, inside the tree, no leaf given twice, at least one member.
 */
export function membersOf(
  sets: readonly MemberSet[],
  cipherSuite: CipherSuiteId,
  leafCount: number,
): [number, LeafNode][] {
  const seen = new Set<number>();
  const members: [number, LeafNode][] = [];
  for (const set of sets) {
    if (set.cipherSuite !== cipherSuite) {
      throw new BackupError(
        'MALFORMED_EXPORT',
        `a member set of cipher suite ${set.cipherSuite} in an export of suite ${cipherSuite}`,
      );
    }
    if (set.firstLeaf + set.leaves.length > leafCount) {
      throw new BackupError(
        'MALFORMED_EXPORT',
        `a member set reaches beyond the tree of ${leafCount} leaves`,
      );
    }
    set.leaves.forEach((leaf, offset) => {
      const leafIndex = set.firstLeaf + offset;
      if (seen.has(leafIndex)) {
        throw new BackupError('MALFORMED_EXPORT', `leaf ${leafIndex} is in two member sets`);
      }
      seen.add(leafIndex);
      if (leaf) members.push([leafIndex, leaf]);
    });
  }
  if (members.length === 0) throw new BackupError('MALFORMED_EXPORT', 'the export has no members');
  members.sort((a, b) => a[0] - b[0]);
  // RFC 9420 §12.1.3: a tree is truncated after removals, so it has 2^d leaves for the smallest
  // d with 2^d > the highest member's index. Holding exports to that keeps a reader's secret
  // tree the size of its members, whatever leaf count the bytes claim.
  const highest = members[members.length - 1]![0];
  let expected = 1;
  while (expected <= highest) expected *= 2;
  if (leafCount !== expected) {
    throw new BackupError(
      'MALFORMED_EXPORT',
      `a tree whose highest member is leaf ${highest} has ${expected} leaves, not ${leafCount}`,
    );
  }
  return members;
}
