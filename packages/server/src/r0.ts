/**
 * The client API's older path prefix `/_matrix/client/r0`, served as an alias of `v3` (v3
 * replaced r0 in Matrix v1.1 without changing the endpoints; Synapse still serves both, and
 * clients such as matrix-nio only speak r0).
 *
 * Only endpoints that existed in r0 (client-server r0.6.1) get an r0 path. Of those this server
 * serves, the key backup (`/room_keys/…`) was added in v1.1 (`x-addedInMatrixVersion: "1.1"` in
 * the spec's key_backup.yaml) and so has none; every other endpoint here is an r0 endpoint. An
 * endpoint added after r0 must be listed in ADDED_AFTER_R0.
 */

export const CLIENT_R0 = '/_matrix/client/r0';
const CLIENT_V3 = '/_matrix/client/v3';

/** Route templates (below the version prefix) of endpoints the spec added after r0. */
const ADDED_AFTER_R0 = ['/room_keys/'];

/** The URL a request names, with an r0 prefix read as v3. */
export function r0AsV3(url: string): string {
  if (url.startsWith(`${CLIENT_R0}/`) || url === CLIENT_R0) {
    return CLIENT_V3 + url.slice(CLIENT_R0.length);
  }
  return url;
}

/**
 * Whether a request reached a route under a path the spec never gave it: an r0 URL for an
 * endpoint added after r0. Judged on the matched route template, so percent-encoding the path
 * does not get around it.
 */
export function r0PathUnknown(originalUrl: string, routeTemplate: string | undefined): boolean {
  if (!originalUrl.startsWith(`${CLIENT_R0}/`) || routeTemplate === undefined) return false;
  const rest = routeTemplate.startsWith(CLIENT_V3) ? routeTemplate.slice(CLIENT_V3.length) : '';
  return ADDED_AFTER_R0.some((prefix) => rest.startsWith(prefix));
}
