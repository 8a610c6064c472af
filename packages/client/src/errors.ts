/**
 * Errors of the client, with stable codes. Anything that comes back from the server as a Matrix
 * error keeps its `errcode` and HTTP status, so callers can tell "forbidden" from "rate limited"
 * without parsing messages.
 */
export const CLIENT_ERROR_CODES = [
  /** The server answered with a Matrix error (see `errcode` and `status`). */
  'HTTP',
  /** The server could not be reached, or did not answer in time, after every retry. */
  'NETWORK',
  /** The server answered, but not with what the API says it returns. */
  'BAD_RESPONSE',
  /** The store holds no account, or the account was logged out. */
  'NOT_LOGGED_IN',
  /** The room is not known to this client, or not joined. */
  'UNKNOWN_ROOM',
  /** The room is not encrypted with an algorithm this client speaks. */
  'NOT_ENCRYPTED',
  /** This device cannot send in the room yet (no group, or not a member of the current epoch). */
  'NOT_READY',
  /** No key backup, or the recovery key or passphrase does not unlock it. */
  'BACKUP',
  /** The client was stopped while the operation waited. */
  'STOPPED',
  /**
   * Cross-signing cannot be done: no keys (set up or recovered) on this device, keys on the
   * server that do not check, or a signature the server refused.
   */
  'CROSS_SIGNING',
  /**
   * Secret storage cannot be used: none set up, the recovery key or passphrase is not its key,
   * or what it holds does not decrypt or does not match the published keys.
   */
  'SECRET_STORAGE',
] as const;

export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];

export class ClientError extends Error {
  override readonly name = 'ClientError';
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    readonly details: {
      /** HTTP status of a server answer. */
      readonly status?: number;
      /** Matrix `errcode` of a server answer. */
      readonly errcode?: string;
      /** The server's own explanation (the `error` of its answer), for people. */
      readonly serverError?: string;
      /** The server's `retry_after_ms`, for `M_LIMIT_EXCEEDED`. */
      readonly retryAfterMs?: number;
      /** The JSON object of the answer (a user-interactive auth challenge carries `session`). */
      readonly answer?: Record<string, unknown>;
      readonly cause?: unknown;
    } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
  }

  get status(): number | undefined {
    return this.details.status;
  }

  get errcode(): string | undefined {
    return this.details.errcode;
  }

  get serverError(): string | undefined {
    return this.details.serverError;
  }
}

/** Whether `error` is a Matrix error answer with this `errcode`. */
export function isMatrixError(error: unknown, errcode: string): boolean {
  return error instanceof ClientError && error.code === 'HTTP' && error.errcode === errcode;
}
