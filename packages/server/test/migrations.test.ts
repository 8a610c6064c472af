import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Store } from '../src/db/index.js';
import { freshDatabase } from './helpers/server.js';

it('migrates a PostgreSQL schema while another schema of the same database holds migration tables', async () => {
  const first = freshDatabase('postgres');
  const second = freshDatabase('postgres');
  const stores: Store[] = [];
  try {
    stores.push(await Store.open(first.database));
    // Kysely, not told the schema, took the first schema's migration tables for the second's.
    stores.push(await Store.open(second.database));
    const tables = await stores[1]!.db.introspection.getTables();
    const schema = second.database.kind === 'postgres' ? second.database.schema : undefined;
    assert.ok(tables.some((t) => t.name === 'profiles' && t.schema === schema));
  } finally {
    for (const store of stores) await store.close();
    await first.drop();
    await second.drop();
  }
});
