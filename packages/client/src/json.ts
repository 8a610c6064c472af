/**
 * Guards for JSON from the server. The server is trusted with delivery only: every field read
 * from an answer is checked before use, and a malformed one is refused as `BAD_RESPONSE`
 * instead of surfacing later as a `TypeError` deep in the client.
 */
import { ClientError } from './errors.js';

export type Json = Record<string, unknown>;

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function asObject(value: unknown, what: string): Json {
  if (!isObject(value)) throw new ClientError('BAD_RESPONSE', `${what} is not an object`);
  return value;
}

export function asString(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new ClientError('BAD_RESPONSE', `${what} is not a string`);
  return value;
}

/** An optional object field: `{}` when absent, refused when present with another type. */
export function objectField(parent: Json, key: string, what: string): Json {
  const value = parent[key];
  if (value === undefined) return {};
  return asObject(value, `${what}.${key}`);
}

/** An optional list field: `[]` when absent. */
export function arrayField(parent: Json, key: string, what: string): unknown[] {
  const value = parent[key];
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new ClientError('BAD_RESPONSE', `${what}.${key} is not a list`);
  return value;
}

export function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}
