/**
 * Key backup targets: what a device reads back from a server that may be hostile. The group
 * export and member set decoders; a session's decrypted `session_data` (sealed anew under the
 * backup key for each input, so that mutations reach past the MAC, as they would for whoever
 * holds the key or wrote a bad client); a whole room's `{"sessions": …}` as the server returns
 * it; and a backup version's `auth_data`. Only `BackupError` and `MlsError` may come out.
 */
import {
  BackupError,
  backupEpoch,
  createBackup,
  decodeGroupExport,
  decodeMemberSet,
  encodeGroupExport,
  exportGroupState,
  openSession,
  parseBackupVersion,
  parseSessionId,
  readerForExport,
  restoreEpoch,
  restoreRoom,
  unlockWithKey,
  type BackupKey,
  type KeyBackupData,
  type MemberSet,
} from '../../packages/backup/src/index.js';
import { encodeMemberSet, membersOf } from '../../packages/backup/src/memberSet.js';
import {
  decryptAesHmacSha2,
  encryptAesHmacSha2,
  parseAesHmacSha2Json,
  toAesHmacSha2Json,
} from '../../packages/backup/src/sessionCrypto.js';
import { MlsError, type MlsMessage } from '../../packages/mls/src/index.js';
import { mutateJson } from '../json.js';
import type { FuzzTarget, Outcome, TargetInstance } from '../engine.js';
import { fieldsBy } from './common.js';
import { world } from './fixtures.js';

export const BACKUP_ROOM = '!fuzz:localhost';
const CREATOR = { userId: '@alice:localhost', deviceId: 'ALICEDEVICE' };
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const NOT_JSON = Symbol('not JSON');

/** An input's JSON value, or NOT_JSON: bodies that do not parse are refused before the target. */
function parseJson(input: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(input));
  } catch {
    return NOT_JSON;
  }
}

/** Backup targets: `BackupError` and `MlsError` are refusals, by code. */
export function classifyBackup(error: unknown): string | undefined {
  if (error instanceof BackupError) return error.code;
  if (error instanceof MlsError) return `mls:${error.code}`;
  return undefined;
}

interface BackupFixture {
  key: BackupKey;
  version: object;
  /** The epoch's entries: an inline export, and one referring to member sets. */
  sessions: Record<string, KeyBackupData>;
  inlineSessionId: string;
  dedupedSessionId: string;
  memberSets: Map<string, MemberSet>;
  /** A message of the backed-up epoch, which a restored reader must read. */
  message: MlsMessage;
}

let cached: BackupFixture | undefined;

function fixture(): BackupFixture {
  if (cached) return cached;
  const w = world();
  const backup = createBackup({ key: new Uint8Array(32).fill(0x42) });
  const inline = backupEpoch(backup.key, w.receiver, {
    roomId: BACKUP_ROOM,
    creator: CREATOR,
    dedupe: false,
  });
  const deduped = backupEpoch(backup.key, w.members[0]!, {
    roomId: BACKUP_ROOM,
    creator: { ...CREATOR, deviceId: 'OTHERDEVICE' },
    membersPerSet: 2,
  });
  const memberSets = new Map<string, MemberSet>();
  for (const id of deduped.memberSets) {
    const opened = openSession(backup.key, BACKUP_ROOM, id, deduped.sessions[id]);
    if (opened.kind === 'member_set')
      memberSets.set(Buffer.from(opened.id).toString('hex'), opened.set);
  }
  return (cached = {
    key: backup.key,
    version: backup.version,
    sessions: { ...inline.sessions, ...deduped.sessions },
    inlineSessionId: inline.sessionId,
    dedupedSessionId: deduped.sessionId,
    memberSets,
    message: w.privateMessages[0]!,
  });
}

/** The epoch reader must read the epoch's message (a refusal there is an MlsError). */
function readProbe(f: BackupFixture, reader: { decrypt(m: MlsMessage): unknown }): void {
  reader.decrypt(f.message);
}

export const backupExport: FuzzTarget = {
  name: 'backup-export',
  kind: 'decoder',
  description: 'GroupExport: decode and check, build its epoch reader, read a message with it',
  async setup(): Promise<TargetInstance> {
    const f = fixture();
    const w = world();
    const lookup = (id: Uint8Array) => f.memberSets.get(Buffer.from(id).toString('hex'));
    const deduped = openSession(
      f.key,
      BACKUP_ROOM,
      f.dedupedSessionId,
      f.sessions[f.dedupedSessionId],
    );
    const seeds = [
      encodeGroupExport(exportGroupState(w.receiver)),
      encodeGroupExport(
        exportGroupState(w.members[3]!, { authenticatedData: encoder.encode('ad') }),
      ),
      ...(deduped.kind === 'epoch' ? [encodeGroupExport(deduped.groupExport)] : []),
    ];
    return {
      seeds,
      run(input) {
        const groupExport = decodeGroupExport(input);
        readProbe(f, readerForExport(groupExport, lookup));
        return undefined;
      },
      classify: classifyBackup,
      fields: fieldsBy(decodeGroupExport),
    };
  },
};

export const backupMemberSet: FuzzTarget = {
  name: 'backup-member-set',
  kind: 'decoder',
  description: 'MemberSet: decode, then check its members as an export of four leaves would',
  async setup(): Promise<TargetInstance> {
    const f = fixture();
    const sets = [...f.memberSets.values()];
    return {
      seeds: sets.map(encodeMemberSet),
      run(input) {
        const set = decodeMemberSet(input);
        membersOf([set], set.cipherSuite, 4);
        return undefined;
      },
      classify: classifyBackup,
      fields: fieldsBy(decodeMemberSet),
    };
  },
};

/** `<session id>\n<plaintext>`: what a `backup-session` input holds. */
function splitSessionInput(
  input: Uint8Array,
): { sessionId: string; plaintext: Uint8Array } | undefined {
  const newline = input.indexOf(0x0a);
  if (newline < 0) return undefined;
  return {
    sessionId: decoder.decode(input.subarray(0, newline)),
    plaintext: input.subarray(newline + 1),
  };
}

export const backupSession: FuzzTarget = {
  name: 'backup-session',
  kind: 'decoder',
  description:
    'session_data plaintext (epoch or member set JSON) sealed under its session id, then opened and restored',
  async setup(): Promise<TargetInstance> {
    const f = fixture();
    const plaintexts = Object.entries(f.sessions).map(([sessionId, data]) => {
      const opened = openPlaintext(f, sessionId, data);
      return encoder.encode(`${sessionId}\n${opened}`);
    });
    return {
      seeds: plaintexts,
      run(input): Outcome {
        const parts = splitSessionInput(input);
        if (!parts) return { refused: 'no-session-id' };
        const { sessionId, plaintext } = parts;
        const parsed = parseSessionId(sessionId);
        const data = sealRaw(f.key, sessionId, plaintext);
        if (parsed.kind === 'member_set') {
          openSession(f.key, BACKUP_ROOM, sessionId, data);
          return undefined;
        }
        const lookup = (id: string) => (id === sessionId ? data : f.sessions[id]);
        readProbe(f, restoreEpoch(f.key, BACKUP_ROOM, sessionId, lookup).reader);
        return undefined;
      },
      classify: classifyBackup,
      mutate(input, rng) {
        // The plaintext as a JSON document, the session id kept.
        const parts = splitSessionInput(input);
        if (!parts) return undefined;
        const mutated = mutateJson(parts.plaintext, rng);
        if (!mutated) return undefined;
        return Buffer.concat([encoder.encode(`${parts.sessionId}\n`), mutated]);
      },
    };
  },
};

/** The JSON text one of the fixture's own sessions decrypts to. */
function openPlaintext(f: BackupFixture, sessionId: string, data: KeyBackupData): string {
  const encrypted = parseAesHmacSha2Json(data.session_data, 'session_data', 'MALFORMED_SESSION');
  return decoder.decode(decryptAesHmacSha2(f.key, sessionId, encrypted));
}

/** Seals any plaintext bytes as a session (the library's sealSession takes an object). */
function sealRaw(key: BackupKey, sessionId: string, plaintext: Uint8Array): KeyBackupData {
  return {
    first_message_index: 0,
    forwarded_count: 0,
    is_verified: false,
    session_data: toAesHmacSha2Json(encryptAesHmacSha2(key, sessionId, plaintext)),
  };
}

export const backupRoom: FuzzTarget = {
  name: 'backup-room',
  kind: 'decoder',
  description:
    'a room\u2019s {"sessions": …} as the server returns it (JSON), restored with the key',
  async setup(): Promise<TargetInstance> {
    const f = fixture();
    const seeds = [
      { sessions: f.sessions },
      { sessions: { [f.inlineSessionId]: f.sessions[f.inlineSessionId] } },
    ].map((body) => encoder.encode(JSON.stringify(body)));
    return {
      seeds,
      run(input): Outcome {
        const body = parseJson(input);
        if (body === NOT_JSON) return { refused: 'not-json' };
        const restored = restoreRoom(f.key, BACKUP_ROOM, body);
        for (const epoch of restored.epochs.values()) readProbe(f, epoch.reader);
        const first = restored.failures.values().next();
        if (!first.done)
          return { refused: classifyBackup(first.value)!, detail: first.value.message };
        return undefined;
      },
      classify: classifyBackup,
      json: true,
    };
  },
};

export const backupVersion: FuzzTarget = {
  name: 'backup-version',
  kind: 'decoder',
  description: 'a backup version body (algorithm, auth_data): parse and check the key against it',
  async setup(): Promise<TargetInstance> {
    const f = fixture();
    const withPassphrase = createBackup({ key: f.key });
    const seeds = [
      f.version,
      {
        ...withPassphrase.version,
        auth_data: {
          ...withPassphrase.version.auth_data,
          passphrase: { algorithm: 'm.pbkdf2', salt: 'c2FsdA', iterations: 600000, bits: 256 },
        },
      },
    ].map((v) => encoder.encode(JSON.stringify(v)));
    return {
      seeds,
      run(input): Outcome {
        const body = parseJson(input);
        if (body === NOT_JSON) return { refused: 'not-json' };
        parseBackupVersion(body);
        unlockWithKey(body, f.key);
        return undefined;
      },
      classify: classifyBackup,
      json: true,
    };
  },
};

export const BACKUP_TARGETS: readonly FuzzTarget[] = [
  backupExport,
  backupMemberSet,
  backupSession,
  backupRoom,
  backupVersion,
];
