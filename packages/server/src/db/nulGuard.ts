import type { KyselyPlugin, RootOperationNode } from 'kysely';
import { invalidParam } from '../errors.js';

/** Whether any string anywhere in a query tree (values, parameters) holds U+0000. */
function holdsNul(node: unknown): boolean {
  if (typeof node === 'string') return node.includes('\0');
  if (Array.isArray(node)) return node.some(holdsNul);
  if (node !== null && typeof node === 'object') return Object.values(node).some(holdsNul);
  return false;
}

/**
 * Refuses, before it runs, any statement with U+0000 in a value. PostgreSQL cannot store it in
 * text (a 500) while SQLite can: refusing it on both keeps the backends alike. JSON columns are
 * unaffected, as JSON.stringify writes U+0000 as an escape; what reaches here is an identifier
 * (state_key, txnId, device_id, room id, …) stored as it came. The routes refuse the common
 * cases earlier with a clearer message; this is the net under all of them.
 */
export const nulGuard: KyselyPlugin = {
  transformQuery({ node }): RootOperationNode {
    if (holdsNul(node)) throw invalidParam('Identifiers may not contain U+0000');
    return node;
  },
  async transformResult({ result }) {
    return result;
  },
};
