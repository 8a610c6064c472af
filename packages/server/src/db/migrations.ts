import {
  Migrator,
  sql,
  type Kysely,
  type Migration,
  type MigrationProvider,
  type CreateTableBuilder,
} from 'kysely';
import { initKeyHash } from './initKeyHash.js';

export type Dialect = 'sqlite' | 'postgres';

/**
 * The schema, as migrations both dialects run. The only dialect difference is how an
 * auto-incrementing key is spelt.
 */
function migrations(dialect: Dialect): Record<string, Migration> {
  const withSerial = <T extends string>(t: CreateTableBuilder<T, never>, name: string) =>
    dialect === 'postgres'
      ? t.addColumn(name, 'bigserial', (c) => c.primaryKey())
      : t.addColumn(name, 'integer', (c) => c.primaryKey().autoIncrement());

  return {
    '0001_initial': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('users')
          .addColumn('user_id', 'text', (c) => c.primaryKey())
          .addColumn('localpart', 'text', (c) => c.notNull().unique())
          .addColumn('password_hash', 'text')
          .addColumn('created_ts', 'bigint', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('devices')
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('display_name', 'text')
          .addColumn('created_ts', 'bigint', (c) => c.notNull())
          .addColumn('last_seen_ts', 'bigint')
          .addColumn('last_seen_ip', 'text')
          .addPrimaryKeyConstraint('devices_pk', ['user_id', 'device_id'])
          .execute();

        await db.schema
          .createTable('access_tokens')
          .addColumn('token_hash', 'text', (c) => c.primaryKey())
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('created_ts', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('access_tokens_device')
          .on('access_tokens')
          .columns(['user_id', 'device_id'])
          .execute();

        await db.schema
          .createTable('stream_position')
          .addColumn('id', 'integer', (c) => c.primaryKey())
          .addColumn('position', 'bigint', (c) => c.notNull())
          .execute();
        await sql`insert into stream_position (id, position) values (1, 0)`.execute(db);

        await db.schema
          .createTable('rooms')
          .addColumn('room_id', 'text', (c) => c.primaryKey())
          .addColumn('creator', 'text', (c) => c.notNull())
          .addColumn('room_version', 'text', (c) => c.notNull())
          .addColumn('created_ts', 'bigint', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('room_aliases')
          .addColumn('alias', 'text', (c) => c.primaryKey())
          .addColumn('room_id', 'text', (c) => c.notNull())
          .execute();

        await db.schema
          .createTable('events')
          .addColumn('stream', 'bigint', (c) => c.primaryKey())
          .addColumn('event_id', 'text', (c) => c.notNull().unique())
          .addColumn('room_id', 'text', (c) => c.notNull())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('state_key', 'text')
          .addColumn('sender', 'text', (c) => c.notNull())
          .addColumn('sender_device', 'text')
          .addColumn('txn_id', 'text')
          .addColumn('content', 'text', (c) => c.notNull())
          .addColumn('origin_server_ts', 'bigint', (c) => c.notNull())
          .addColumn('depth', 'bigint', (c) => c.notNull())
          .addColumn('prev_events', 'text', (c) => c.notNull())
          .addColumn('replaces_state', 'text')
          .execute();
        await db.schema
          .createIndex('events_room_stream')
          .on('events')
          .columns(['room_id', 'stream'])
          .execute();
        await db.schema
          .createIndex('events_state_key')
          .on('events')
          .columns(['state_key', 'type', 'stream'])
          .execute();
        await db.schema
          .createIndex('events_room_state')
          .on('events')
          .columns(['room_id', 'type', 'state_key', 'stream'])
          .execute();

        await db.schema
          .createTable('room_extremities')
          .addColumn('room_id', 'text', (c) => c.notNull())
          .addColumn('event_id', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('room_extremities_pk', ['room_id', 'event_id'])
          .execute();

        await db.schema
          .createTable('current_state')
          .addColumn('room_id', 'text', (c) => c.notNull())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('state_key', 'text', (c) => c.notNull())
          .addColumn('event_id', 'text', (c) => c.notNull())
          .addColumn('stream', 'bigint', (c) => c.notNull())
          .addColumn('membership', 'text')
          .addPrimaryKeyConstraint('current_state_pk', ['room_id', 'type', 'state_key'])
          .execute();
        await db.schema
          .createIndex('current_state_member')
          .on('current_state')
          .columns(['type', 'state_key', 'membership'])
          .execute();

        await db.schema
          .createTable('txns')
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('txn_id', 'text', (c) => c.notNull())
          .addColumn('result', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('txns_pk', ['user_id', 'device_id', 'kind', 'txn_id'])
          .execute();

        await db.schema
          .createTable('to_device')
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('stream', 'bigint', (c) => c.notNull())
          .addColumn('sender', 'text', (c) => c.notNull())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('content', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('to_device_pk', ['user_id', 'device_id', 'stream'])
          .execute();

        await db.schema
          .createTable('device_keys')
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('key_json', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('device_keys_pk', ['user_id', 'device_id'])
          .execute();

        await db.schema
          .createTable('device_list_changes')
          .addColumn('stream', 'bigint', (c) => c.notNull())
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('device_list_changes_pk', ['stream', 'user_id'])
          .execute();
        await db.schema
          .createIndex('device_list_changes_user')
          .on('device_list_changes')
          .columns(['user_id', 'stream'])
          .execute();

        await withSerial(db.schema.createTable('one_time_keys'), 'id')
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('algorithm', 'text', (c) => c.notNull())
          .addColumn('key_id', 'text', (c) => c.notNull())
          .addColumn('key_json', 'text', (c) => c.notNull())
          .addColumn('init_key', 'text')
          .addColumn('expires_ts', 'bigint')
          .addUniqueConstraint('one_time_keys_key', ['user_id', 'device_id', 'algorithm', 'key_id'])
          .execute();
        await db.schema
          .createIndex('one_time_keys_claim')
          .on('one_time_keys')
          .columns(['user_id', 'device_id', 'algorithm', 'id'])
          .execute();
        await db.schema
          .createIndex('one_time_keys_expiry')
          .on('one_time_keys')
          .column('expires_ts')
          .execute();

        await db.schema
          .createTable('fallback_keys')
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('algorithm', 'text', (c) => c.notNull())
          .addColumn('key_id', 'text', (c) => c.notNull())
          .addColumn('key_json', 'text', (c) => c.notNull())
          .addColumn('init_key', 'text')
          .addColumn('expires_ts', 'bigint')
          .addColumn('used', 'integer', (c) => c.notNull())
          .addPrimaryKeyConstraint('fallback_keys_pk', ['user_id', 'device_id', 'algorithm'])
          .execute();

        await db.schema
          .createTable('init_keys')
          .addColumn('init_key', 'text', (c) => c.primaryKey())
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('device_id', 'text', (c) => c.notNull())
          .addColumn('algorithm', 'text', (c) => c.notNull())
          .addColumn('key_id', 'text', (c) => c.notNull())
          .addColumn('expires_ts', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('init_keys_expiry')
          .on('init_keys')
          .column('expires_ts')
          .execute();

        await withSerial(db.schema.createTable('filters'), 'filter_id')
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('filter_json', 'text', (c) => c.notNull())
          .execute();

        await withSerial(db.schema.createTable('backup_versions'), 'version')
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('algorithm', 'text', (c) => c.notNull())
          .addColumn('auth_data', 'text', (c) => c.notNull())
          .addColumn('etag', 'bigint', (c) => c.notNull())
          .addColumn('key_count', 'bigint', (c) => c.notNull())
          .addColumn('deleted', 'integer', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('backup_versions_user')
          .on('backup_versions')
          .columns(['user_id', 'version'])
          .execute();

        await db.schema
          .createTable('backup_keys')
          .addColumn('version', 'bigint', (c) => c.notNull())
          .addColumn('room_id', 'text', (c) => c.notNull())
          .addColumn('session_id', 'text', (c) => c.notNull())
          .addColumn('first_message_index', 'bigint', (c) => c.notNull())
          .addColumn('forwarded_count', 'bigint', (c) => c.notNull())
          .addColumn('is_verified', 'integer', (c) => c.notNull())
          .addColumn('session_data', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('backup_keys_pk', ['version', 'room_id', 'session_id'])
          .execute();
      },
    },
    '0002_profiles_forgotten_rooms': {
      async up(db: Kysely<unknown>) {
        // A user without a row has the default profile (display name = localpart).
        await db.schema
          .createTable('profiles')
          .addColumn('user_id', 'text', (c) => c.primaryKey())
          .addColumn('displayname', 'text')
          .addColumn('avatar_url', 'text')
          .execute();

        await db.schema
          .createTable('forgotten_rooms')
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('room_id', 'text', (c) => c.notNull())
          .addColumn('stream', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('forgotten_rooms_pk', ['user_id', 'room_id'])
          .execute();
      },
    },

    '0003_security': {
      async up(db: Kysely<unknown>) {
        // Every init_key ever accepted, as a SHA-256 hash, kept for good: an init_key is used
        // once, whether its KeyPackage was claimed, replaced or expired (replaces init_keys,
        // whose entries were dropped when their KeyPackage expired).
        await db.schema
          .createTable('init_key_hashes')
          .addColumn('hash', 'text', (c) => c.primaryKey())
          .execute();
        const held = await sql<{ init_key: string }>`select init_key from init_keys`.execute(db);
        for (let i = 0; i < held.rows.length; i += 500) {
          const hashes = held.rows
            .slice(i, i + 500)
            .map((r) => ({ hash: initKeyHash(r.init_key) }));
          await (db as Kysely<{ init_key_hashes: { hash: string } }>)
            .insertInto('init_key_hashes')
            .values(hashes)
            .onConflict((oc) => oc.doNothing())
            .execute();
        }
        await db.schema.dropTable('init_keys').execute();

        // Rate-limit buckets shared by every process on the database (login, registration).
        await db.schema
          .createTable('rate_limits')
          .addColumn('bucket', 'text', (c) => c.primaryKey())
          .addColumn('tokens', 'double precision', (c) => c.notNull())
          .addColumn('updated_ts', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('rate_limits_updated')
          .on('rate_limits')
          .column('updated_ts')
          .execute();
      },
    },

    '0004_cross_signing_account_data': {
      async up(db: Kysely<unknown>) {
        // Cross-signing public keys, one row per user and usage, as uploaded (JSON text).
        await db.schema
          .createTable('cross_signing_keys')
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('usage', 'text', (c) => c.notNull())
          .addColumn('key_id', 'text', (c) => c.notNull())
          .addColumn('key_json', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('cross_signing_keys_pk', ['user_id', 'usage'])
          .execute();

        // Signatures from POST /keys/signatures/upload, merged into /keys/query answers: of a
        // device's keys (target_key_id is the device id) or of a master key (its public key).
        await db.schema
          .createTable('cross_signing_signatures')
          .addColumn('target_user_id', 'text', (c) => c.notNull())
          .addColumn('target_key_id', 'text', (c) => c.notNull())
          .addColumn('signer_user_id', 'text', (c) => c.notNull())
          .addColumn('signer_key_id', 'text', (c) => c.notNull())
          .addColumn('signature', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('cross_signing_signatures_pk', [
            'target_user_id',
            'target_key_id',
            'signer_user_id',
            'signer_key_id',
          ])
          .execute();
        await db.schema
          .createIndex('cross_signing_signatures_signer')
          .on('cross_signing_signatures')
          .columns(['signer_user_id', 'signer_key_id'])
          .execute();

        // A device-list change only one user is told about (their own signature of another
        // user's master key); null: everyone who shares a room with user_id.
        await db.schema.alterTable('device_list_changes').addColumn('audience', 'text').execute();

        // Account data: global (room_id '') and per room, with the stream position it last
        // changed at, so that /sync sends what changed since its token.
        await db.schema
          .createTable('account_data')
          .addColumn('user_id', 'text', (c) => c.notNull())
          .addColumn('room_id', 'text', (c) => c.notNull())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('content', 'text', (c) => c.notNull())
          .addColumn('stream', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('account_data_pk', ['user_id', 'room_id', 'type'])
          .execute();
        await db.schema
          .createIndex('account_data_stream')
          .on('account_data')
          .columns(['user_id', 'stream'])
          .execute();
      },
    },
  };
}

class InlineProvider implements MigrationProvider {
  constructor(private readonly dialect: Dialect) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations(this.dialect);
  }
}

/** Brings the schema up to date; safe to run from several processes at once (Kysely locks). */
export async function migrate(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  // Kysely looks for its migration tables in every schema unless told which: a fresh schema
  // beside one already migrated (tests, or two deployments in one database) would skip
  // creating them. So name the schema the connection works in.
  const schema =
    dialect === 'postgres'
      ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]
          ?.schema
      : undefined;
  const migrator = new Migrator({
    db,
    provider: new InlineProvider(dialect),
    ...(schema !== undefined ? { migrationTableSchema: schema } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed`, { cause: error });
  }
}
