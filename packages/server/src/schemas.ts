/**
 * Small builders for the JSON Schemas every route declares. Unknown properties are allowed, as
 * the client-server API expects servers to ignore fields they do not know.
 */

export type Schema = Record<string, unknown>;

export const str = (extra: Schema = {}): Schema => ({ type: 'string', ...extra });
export const int = (extra: Schema = {}): Schema => ({ type: 'integer', ...extra });
export const bool = (): Schema => ({ type: 'boolean' });
export const anyObject = (): Schema => ({ type: 'object' });
export const arrayOf = (items: Schema, extra: Schema = {}): Schema => ({
  type: 'array',
  items,
  ...extra,
});
export const mapOf = (values: Schema): Schema => ({ type: 'object', additionalProperties: values });

export function object(properties: Record<string, Schema>, required: string[] = []): Schema {
  return { type: 'object', properties, required };
}

export const userIdSchema = () => str({ pattern: '^@', maxLength: 255 });
export const roomIdParam = () => str({ pattern: '^!', maxLength: 255 });

/** Path parameters: all strings, some with a pattern. */
export const params = (properties: Record<string, Schema>): Schema =>
  object(properties, Object.keys(properties));
