/**
 * The tables of the SQLite store (sqliteStore.ts) and their version (`user_version`): a file of
 * a newer version is refused rather than misread. One row per epoch keeps an epoch's secrets
 * apart from its place in the graph, so retention deletes exactly those.
 */
export const SCHEMA_VERSION = 1;

export const SCHEMA = `
create table if not exists account (
  id integer primary key check (id = 1),
  homeserver text not null,
  user_id text not null,
  device_id text not null,
  access_token text not null,
  suite integer not null,
  signature_public_key blob not null,
  signature_private_key blob not null
);
create table if not exists kv (name text primary key, value text not null);
create table if not exists key_packages (
  ref text primary key,
  last_resort integer not null,
  expires_at integer not null,
  retired_at integer,
  bundle blob not null
);
create table if not exists rooms (room_id text primary key, data text not null);
create table if not exists groups (
  room_id text primary key references rooms (room_id) on delete cascade,
  meta text not null
);
create table if not exists epochs (
  room_id text not null references groups (room_id) on delete cascade,
  epoch_key text not null,
  record text not null,
  secrets blob,
  primary key (room_id, epoch_key)
);
create table if not exists backup (
  id integer primary key check (id = 1),
  version text not null,
  key blob not null
);
create table if not exists backup_sessions (
  version text not null,
  room_id text not null,
  session_id text not null,
  primary key (version, room_id, session_id)
);
create table if not exists cross_signing (
  id integer primary key check (id = 1),
  master_key text not null,
  self_signing_seed blob not null,
  user_signing_seed blob not null
);
`;
