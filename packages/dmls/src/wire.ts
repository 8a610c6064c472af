import {
  decode,
  encode,
  mlsMessageCodec,
  parseAlgorithm,
  roomAlgorithm,
  welcomeAlgorithm,
  type CipherSuiteId,
  type MlsMessage,
} from '@trellis/mls';
import { DmlsError } from './errors.js';
import { deviceOf, identityOf, type EpochId } from './ids.js';

/**
 * The JSON Trellis puts on the Matrix wire (ARCHITECTURE.md, MSC2883). Every field received is
 * checked here, so the rest of the layer only sees well-formed values.
 */

/** `[userId, deviceId]` */
export type DeviceTuple = [string, string];
/** `[epoch number, [userId, deviceId]]` */
export type EpochTuple = [number, DeviceTuple];

/** Content of an `m.room.encrypted` room event: an MLS commit or application message. */
export interface RoomEventContent {
  algorithm: string;
  /** Unpadded base64 of the MLSMessage. */
  ciphertext: string;
  /** Creator of the epoch the message is in (for a commit: its base epoch). */
  epoch_creator: DeviceTuple;
  sender: DeviceTuple;
  /** Event id of the commit that created that epoch (the room's create event for the first). */
  commit_event: string;
  /** Commits only: the other tips this commit merges. */
  resolves?: EpochTuple[];
}

/** Content of a to-device `m.room.encrypted` carrying a Welcome. */
export interface WelcomeContent {
  algorithm: string;
  ciphertext: string;
  room_id: string;
  sender: DeviceTuple;
  /** Event id of the commit whose Welcome this is: the joiner's first epoch is its result. */
  commit_event: string;
  /** The commit's base epoch first, then the epochs it resolves (MSC2883). */
  resolves: EpochTuple[];
}

export const ROOM_EVENT_TYPE = 'm.room.encrypted';

const BASE64 = /^[A-Za-z0-9+/]*$/;

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    .toString('base64')
    .replace(/=+$/, '');
}

/** Strict unpadded base64: anything a canonical encoder would not produce is refused. */
export function fromBase64(text: string, field: string): Uint8Array {
  if (!BASE64.test(text) || text.length % 4 === 1) {
    throw new DmlsError('MALFORMED_EVENT', `${field} is not unpadded base64`);
  }
  const bytes = new Uint8Array(Buffer.from(text, 'base64'));
  if (toBase64(bytes) !== text) {
    throw new DmlsError('MALFORMED_EVENT', `${field} is not canonical base64`);
  }
  return bytes;
}

export function deviceTuple(identity: string): DeviceTuple {
  const d = deviceOf(identity);
  return [d.userId, d.deviceId];
}

export function epochTuple(id: EpochId): EpochTuple {
  return [Number(id.epoch), deviceTuple(id.creator)];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseString(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new DmlsError('MALFORMED_EVENT', `${field} is not a non-empty string`);
  }
  return value;
}

function parseDevice(value: unknown, field: string): string {
  if (
    !Array.isArray(value) ||
    value.length !== 2 ||
    typeof value[0] !== 'string' ||
    typeof value[1] !== 'string'
  ) {
    throw new DmlsError('MALFORMED_EVENT', `${field} is not [userId, deviceId]`);
  }
  const identity = identityOf({ userId: value[0], deviceId: value[1] });
  deviceOf(identity); // both parts non-empty and splittable
  return identity;
}

function parseEpochs(value: unknown, field: string): EpochId[] {
  if (!Array.isArray(value)) throw new DmlsError('MALFORMED_EVENT', `${field} is not a list`);
  return value.map((item, i) => {
    if (!Array.isArray(item) || item.length !== 2) {
      throw new DmlsError('MALFORMED_EVENT', `${field}[${i}] is not [epoch, [userId, deviceId]]`);
    }
    const [epoch, creator] = item as unknown[];
    if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch) || epoch < 0) {
      throw new DmlsError('MALFORMED_EVENT', `${field}[${i}] epoch is not a count`);
    }
    return { epoch: BigInt(epoch), creator: parseDevice(creator, `${field}[${i}][1]`) };
  });
}

/** A room event's content, parsed and checked. */
export interface ParsedRoomEvent {
  suite: CipherSuiteId;
  message: MlsMessage;
  /** The MLS epoch number the message carries. */
  epoch: EpochId;
  sender: string;
  commitEvent: string;
  resolves: EpochId[];
}

/** The epoch number inside a group message (public or private). */
export function messageEpoch(message: MlsMessage): bigint {
  if (message.wireFormat === 1) return message.publicMessage.content.epoch;
  if (message.wireFormat === 2) return message.privateMessage.epoch;
  throw new DmlsError('MALFORMED_EVENT', 'the ciphertext is not a group message');
}

export function parseRoomEvent(content: unknown): ParsedRoomEvent {
  if (!isObject(content)) throw new DmlsError('MALFORMED_EVENT', 'content is not an object');
  const algorithm = parseAlgorithm(parseString(content.algorithm, 'algorithm'));
  if (!algorithm || algorithm.kind !== '') {
    throw new DmlsError('UNSUPPORTED_ALGORITHM', `algorithm ${String(content.algorithm)}`);
  }
  const message = decode(
    mlsMessageCodec,
    fromBase64(parseString(content.ciphertext, 'ciphertext'), 'ciphertext'),
  );
  const creator = parseDevice(content.epoch_creator, 'epoch_creator');
  return {
    suite: algorithm.suite,
    message,
    epoch: { epoch: messageEpoch(message), creator },
    sender: parseDevice(content.sender, 'sender'),
    commitEvent: parseString(content.commit_event, 'commit_event'),
    resolves: content.resolves === undefined ? [] : parseEpochs(content.resolves, 'resolves'),
  };
}

export function roomEventContent(
  suite: CipherSuiteId,
  message: MlsMessage,
  epoch: EpochId,
  sender: string,
  commitEvent: string,
  resolves?: readonly EpochId[],
): RoomEventContent {
  return {
    algorithm: roomAlgorithm(suite),
    ciphertext: toBase64(encode(mlsMessageCodec, message)),
    epoch_creator: deviceTuple(epoch.creator),
    sender: deviceTuple(sender),
    commit_event: commitEvent,
    ...(resolves && { resolves: resolves.map(epochTuple) }),
  };
}

export interface ParsedWelcome {
  suite: CipherSuiteId;
  message: MlsMessage;
  roomId: string;
  sender: string;
  commitEvent: string;
  /** The commit's base epoch, then the epochs it resolves. */
  resolves: EpochId[];
}

export function parseWelcome(content: unknown): ParsedWelcome {
  if (!isObject(content)) throw new DmlsError('MALFORMED_EVENT', 'content is not an object');
  const algorithm = parseAlgorithm(parseString(content.algorithm, 'algorithm'));
  if (!algorithm || algorithm.kind !== 'welcome') {
    throw new DmlsError('UNSUPPORTED_ALGORITHM', `algorithm ${String(content.algorithm)}`);
  }
  const message = decode(
    mlsMessageCodec,
    fromBase64(parseString(content.ciphertext, 'ciphertext'), 'ciphertext'),
  );
  if (message.wireFormat !== 3)
    throw new DmlsError('MALFORMED_EVENT', 'the ciphertext is not a Welcome');
  return {
    suite: algorithm.suite,
    message,
    roomId: parseString(content.room_id, 'room_id'),
    sender: parseDevice(content.sender, 'sender'),
    commitEvent: parseString(content.commit_event, 'commit_event'),
    resolves: parseEpochs(content.resolves, 'resolves'),
  };
}

export function welcomeContent(
  suite: CipherSuiteId,
  welcome: MlsMessage,
  roomId: string,
  sender: string,
  commitEvent: string,
  resolves: readonly EpochId[],
): WelcomeContent {
  return {
    algorithm: welcomeAlgorithm(suite),
    ciphertext: toBase64(encode(mlsMessageCodec, welcome)),
    room_id: roomId,
    sender: deviceTuple(sender),
    commit_event: commitEvent,
    resolves: resolves.map(epochTuple),
  };
}

/** Plaintext of an application message (ARCHITECTURE.md). */
export interface Plaintext {
  type: string;
  content: Record<string, unknown>;
  room_id: string;
}

export function parsePlaintext(bytes: Uint8Array, roomId: string): Plaintext {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new DmlsError('MALFORMED_EVENT', 'the plaintext is not UTF-8 JSON');
  }
  if (!isObject(value) || typeof value.type !== 'string' || !isObject(value.content)) {
    throw new DmlsError('MALFORMED_EVENT', 'the plaintext is not {type, content, room_id}');
  }
  if (value.room_id !== roomId) {
    // A message replayed from another room would otherwise be shown here.
    throw new DmlsError('MALFORMED_EVENT', 'the plaintext names another room');
  }
  return { type: value.type, content: value.content, room_id: roomId };
}

/**
 * Parsed once per delivered content object: events that wait are tried again on every new
 * epoch, and decoding their ciphertext each time showed in profiles. Parsing is pure, and the
 * parsed form is never changed.
 */
const parsedContents = new WeakMap<object, ParsedRoomEvent>();

export function parseRoomEventOnce(content: unknown): ParsedRoomEvent {
  if (typeof content !== 'object' || content === null) return parseRoomEvent(content);
  let parsed = parsedContents.get(content);
  if (!parsed) {
    parsed = parseRoomEvent(content);
    parsedContents.set(content, parsed);
  }
  return parsed;
}
