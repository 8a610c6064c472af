/**
 * Matrix standard error responses (client-server API, "Standard error response"): a JSON object
 * with `errcode` and `error`, sent with the HTTP status the endpoint's definition names.
 */

export type Errcode =
  | 'M_FORBIDDEN'
  | 'M_UNKNOWN_TOKEN'
  | 'M_MISSING_TOKEN'
  | 'M_BAD_JSON'
  | 'M_NOT_JSON'
  | 'M_NOT_FOUND'
  | 'M_LIMIT_EXCEEDED'
  | 'M_UNRECOGNIZED'
  | 'M_UNKNOWN'
  | 'M_USER_IN_USE'
  | 'M_INVALID_USERNAME'
  | 'M_INVALID_PARAM'
  | 'M_MISSING_PARAM'
  | 'M_TOO_LARGE'
  | 'M_ROOM_IN_USE'
  | 'M_UNSUPPORTED_ROOM_VERSION'
  | 'M_INVALID_ROOM_STATE'
  | 'M_WRONG_ROOM_KEYS_VERSION'
  | 'M_INVALID_SIGNATURE';

export class MatrixError extends Error {
  override readonly name = 'MatrixError';
  constructor(
    readonly status: number,
    readonly errcode: Errcode,
    message: string,
    /** Extra top-level fields of the error body (e.g. `retry_after_ms`, `current_version`). */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }

  toJSON(): Record<string, unknown> {
    return { errcode: this.errcode, error: this.message, ...this.extra };
  }
}

export const forbidden = (message: string) => new MatrixError(403, 'M_FORBIDDEN', message);
export const notFound = (message: string) => new MatrixError(404, 'M_NOT_FOUND', message);
export const badJson = (message: string) => new MatrixError(400, 'M_BAD_JSON', message);
export const invalidParam = (message: string, extra?: Record<string, unknown>) =>
  new MatrixError(400, 'M_INVALID_PARAM', message, extra);
export const missingParam = (message: string) => new MatrixError(400, 'M_MISSING_PARAM', message);
