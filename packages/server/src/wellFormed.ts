/**
 * Text the server takes in must be text it can store and hand back unchanged: valid UTF-8, no
 * lone UTF-16 surrogates (which JSON's `\uD800` escapes can produce and UTF-8 cannot hold), and
 * no U+0000 in identifiers (PostgreSQL text cannot hold it).
 */

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The body's text, or undefined when it is not valid UTF-8 (instead of U+FFFD in its place). */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function holdsLoneSurrogate(value: unknown): boolean {
  if (typeof value === 'string') return LONE_SURROGATE.test(value);
  if (Array.isArray(value)) return value.some(holdsLoneSurrogate);
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).some(
      ([key, v]) => LONE_SURROGATE.test(key) || holdsLoneSurrogate(v),
    );
  }
  return false;
}

/**
 * Whether parsed JSON holds a lone surrogate. Valid UTF-8 text cannot carry one, so only an
 * escape can have made it: bodies without a `\uD8..`–`\uDF..` escape are not walked.
 */
export function jsonHoldsLoneSurrogate(text: string, parsed: unknown): boolean {
  return /\\u[dD][89a-fA-F]/.test(text) && holdsLoneSurrogate(parsed);
}

/** The first name among `values` (path parameters, query parameters) holding U+0000. */
export function nameHoldingNul(values: unknown): string | undefined {
  if (values === null || typeof values !== 'object') return undefined;
  for (const [name, value] of Object.entries(values)) {
    const texts = Array.isArray(value) ? value : [value];
    if (texts.some((t) => typeof t === 'string' && t.includes('\0'))) return name;
  }
  return undefined;
}
