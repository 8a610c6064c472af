import type { ExpressionBuilder, SelectQueryBuilder } from 'kysely';
import type { Database } from '../db/index.js';
import { invalidParam } from '../errors.js';
import type { EventRow } from './graph.js';

/** The part of a RoomEventFilter this server applies: event types and senders. */
export interface RoomEventFilter {
  types?: string[];
  not_types?: string[];
  senders?: string[];
  not_senders?: string[];
}

/** Reads the `filter` query parameter (JSON text); missing means no filter. */
export function parseFilter(text: string | undefined): RoomEventFilter {
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalidParam('filter is not valid JSON');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidParam('filter must be a JSON object');
  }
  const filter: RoomEventFilter = {};
  for (const key of ['types', 'not_types', 'senders', 'not_senders'] as const) {
    const list = (value as Record<string, unknown>)[key];
    if (list === undefined) continue;
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) {
      throw invalidParam(`filter.${key} must be a list of strings`);
    }
    filter[key] = list as string[];
  }
  return filter;
}

type EventQuery = SelectQueryBuilder<Database, 'events', Database['events']>;

/** Event type patterns allow a trailing `*`. */
export function applyFilter(query: EventQuery, filter: RoomEventFilter): EventQuery {
  const typeCondition = (patterns: string[]) => (eb: ExpressionBuilder<Database, 'events'>) =>
    eb.or(
      patterns.map((p) =>
        p.endsWith('*')
          ? eb('type', 'like', `${p.slice(0, -1).replace(/[%_]/g, '')}%`)
          : eb('type', '=', p),
      ),
    );
  // An empty `types` list matches nothing: no pattern equals the empty type.
  if (filter.types) query = query.where(typeCondition(filter.types.length ? filter.types : ['']));
  if (filter.not_types && filter.not_types.length > 0) {
    const condition = typeCondition(filter.not_types);
    query = query.where((eb) => eb.not(condition(eb)));
  }
  if (filter.senders)
    query = query.where('sender', 'in', filter.senders.length ? filter.senders : ['']);
  if (filter.not_senders && filter.not_senders.length > 0)
    query = query.where('sender', 'not in', filter.not_senders);
  return query;
}

/** The same filter on events already read (the state a response carries). */
export function matchesFilter(event: EventRow, filter: RoomEventFilter): boolean {
  const typeMatches = (p: string) =>
    p.endsWith('*') ? event.type.startsWith(p.slice(0, -1)) : event.type === p;
  if (filter.types && !filter.types.some(typeMatches)) return false;
  if (filter.not_types?.some(typeMatches)) return false;
  if (filter.senders && !filter.senders.includes(event.sender)) return false;
  if (filter.not_senders?.includes(event.sender)) return false;
  return true;
}
