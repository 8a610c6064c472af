import type { Generated } from 'kysely';

/**
 * Table types shared by both dialects. Booleans are stored as 0/1 integers and JSON as text so
 * that one query layer serves SQLite and PostgreSQL alike; timestamps are milliseconds.
 */

export interface UsersTable {
  user_id: string;
  localpart: string;
  password_hash: string | null;
  created_ts: number;
}

export interface DevicesTable {
  user_id: string;
  device_id: string;
  display_name: string | null;
  created_ts: number;
  last_seen_ts: number | null;
  last_seen_ip: string | null;
}

export interface AccessTokensTable {
  /** SHA-256 of the token: a stolen database does not yield usable tokens. */
  token_hash: string;
  user_id: string;
  device_id: string;
  created_ts: number;
}

/** One row: the position of the single stream that orders events, to-device and key changes. */
export interface StreamPositionTable {
  id: number;
  position: number;
}

export interface RoomsTable {
  room_id: string;
  creator: string;
  room_version: string;
  created_ts: number;
}

export interface RoomAliasesTable {
  alias: string;
  room_id: string;
}

export interface EventsTable {
  /** Position in the stream: the server's chronological order. */
  stream: number;
  event_id: string;
  room_id: string;
  type: string;
  state_key: string | null;
  sender: string;
  /** Device that sent it and its transaction id, for idempotent sends and `unsigned.transaction_id`. */
  sender_device: string | null;
  txn_id: string | null;
  content: string;
  origin_server_ts: number;
  depth: number;
  /** JSON array of the event ids that were the room's forward extremities. */
  prev_events: string;
  /** The state event this one replaced, if any. */
  replaces_state: string | null;
}

export interface RoomExtremitiesTable {
  room_id: string;
  event_id: string;
}

export interface CurrentStateTable {
  room_id: string;
  type: string;
  state_key: string;
  event_id: string;
  stream: number;
  /** `content.membership` of m.room.member events, null otherwise. */
  membership: string | null;
}

export interface TxnsTable {
  user_id: string;
  device_id: string;
  kind: string;
  txn_id: string;
  result: string;
}

export interface ToDeviceTable {
  user_id: string;
  device_id: string;
  stream: number;
  sender: string;
  type: string;
  content: string;
}

export interface DeviceKeysTable {
  user_id: string;
  device_id: string;
  key_json: string;
}

export interface DeviceListChangesTable {
  stream: number;
  user_id: string;
  /** Only this user is told (a signature they made of user_id's master key); null: all who share a room. */
  audience: string | null;
}

/** A user's cross-signing public key (`CrossSigningKey`), one per usage. */
export interface CrossSigningKeysTable {
  user_id: string;
  /** `master`, `self_signing` or `user_signing`. */
  usage: string;
  /** The unpadded base64 public key (the key identifier after "ed25519:"). */
  key_id: string;
  /** The object as uploaded to /keys/device_signing/upload. */
  key_json: string;
}

/** A signature uploaded to /keys/signatures/upload, checked before it was stored. */
export interface CrossSigningSignaturesTable {
  target_user_id: string;
  /** A device id (device keys) or a master key's public key. */
  target_key_id: string;
  signer_user_id: string;
  /** The signing key identifier, "ed25519:<key id>". */
  signer_key_id: string;
  signature: string;
}

/** Account data; `room_id` is '' for global account data. */
export interface AccountDataTable {
  user_id: string;
  room_id: string;
  type: string;
  /** JSON object text. */
  content: string;
  /** Stream position of the last change. */
  stream: number;
}

export interface OneTimeKeysTable {
  /** Upload order: keys are handed out oldest first. */
  id: Generated<number>;
  user_id: string;
  device_id: string;
  algorithm: string;
  key_id: string;
  /** The key's JSON value (a string for KeyPackages, an object for signed keys). */
  key_json: string;
  /** KeyPackages only: base64 of the HPKE init_key. */
  init_key: string | null;
  /** KeyPackages only: not_after, ms. */
  expires_ts: number | null;
}

export interface FallbackKeysTable {
  user_id: string;
  device_id: string;
  algorithm: string;
  key_id: string;
  key_json: string;
  init_key: string | null;
  expires_ts: number | null;
  used: number;
}

/**
 * A SHA-256 hash of every init_key the server ever accepted, kept for good: an init_key is
 * accepted once (polyproto-mls §1.1), whether its KeyPackage was since claimed or not.
 */
export interface InitKeyHashesTable {
  hash: string;
}

/** Token buckets shared by every process on the database (login and registration limits). */
export interface RateLimitsTable {
  /** `<limit>:<key>`, e.g. `login_address:127.0.0.1`. */
  bucket: string;
  tokens: number;
  updated_ts: number;
}

export interface FiltersTable {
  filter_id: Generated<number>;
  user_id: string;
  filter_json: string;
}

export interface BackupVersionsTable {
  version: Generated<number>;
  user_id: string;
  algorithm: string;
  auth_data: string;
  etag: number;
  key_count: number;
  deleted: number;
}

export interface BackupKeysTable {
  version: number;
  room_id: string;
  session_id: string;
  first_message_index: number;
  forwarded_count: number;
  is_verified: number;
  session_data: string;
}

/** A profile the user changed; users without a row have the default one (see profiles.ts). */
export interface ProfilesTable {
  user_id: string;
  displayname: string | null;
  avatar_url: string | null;
}

/**
 * Rooms a user forgot (POST /forget), with the stream position of the membership event they
 * forgot at: a later membership (a new join or invite) makes the room remembered again.
 */
export interface ForgottenRoomsTable {
  user_id: string;
  room_id: string;
  stream: number;
}

export interface Database {
  users: UsersTable;
  devices: DevicesTable;
  access_tokens: AccessTokensTable;
  stream_position: StreamPositionTable;
  rooms: RoomsTable;
  room_aliases: RoomAliasesTable;
  events: EventsTable;
  room_extremities: RoomExtremitiesTable;
  current_state: CurrentStateTable;
  txns: TxnsTable;
  to_device: ToDeviceTable;
  device_keys: DeviceKeysTable;
  device_list_changes: DeviceListChangesTable;
  one_time_keys: OneTimeKeysTable;
  fallback_keys: FallbackKeysTable;
  init_key_hashes: InitKeyHashesTable;
  rate_limits: RateLimitsTable;
  filters: FiltersTable;
  backup_versions: BackupVersionsTable;
  backup_keys: BackupKeysTable;
  profiles: ProfilesTable;
  forgotten_rooms: ForgottenRoomsTable;
  cross_signing_keys: CrossSigningKeysTable;
  cross_signing_signatures: CrossSigningSignaturesTable;
  account_data: AccountDataTable;
}
