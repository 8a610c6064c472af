import type { Db } from './db/index.js';

/**
 * Transaction ids: a request retried with the same `txnId` by the same device gets the result of
 * the first, and changes nothing (client-server API, "Transaction identifiers").
 */
export interface TxnKey {
  readonly user_id: string;
  readonly device_id: string;
  readonly kind: 'send' | 'to_device';
  readonly txn_id: string;
}

/** The result recorded for `key`, or undefined if no request used it yet. */
export async function earlierResult(db: Db, key: TxnKey): Promise<string | undefined> {
  const row = await db
    .selectFrom('txns')
    .select('result')
    .where('user_id', '=', key.user_id)
    .where('device_id', '=', key.device_id)
    .where('kind', '=', key.kind)
    .where('txn_id', '=', key.txn_id)
    .executeTakeFirst();
  return row?.result;
}

export async function recordResult(db: Db, key: TxnKey, result: string): Promise<void> {
  await db
    .insertInto('txns')
    .values({ ...key, result })
    .execute();
}
