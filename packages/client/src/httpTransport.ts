/**
 * Requests to the homeserver's client-server API: every answer that is not a success becomes a
 * `ClientError`; transient failures are retried with exponential back-off and jitter, honouring
 * the server's `retry_after_ms`.
 *
 * What is retried: answers 429 always (the server did not act on the request), 5xx and network
 * failures for requests that are safe to repeat (reads, and writes the server de-duplicates by
 * transaction id), and a refused connection for any request (nothing reached the server).
 * MatrixHttp (http.ts) adds the API calls.
 */
import { ClientError } from './errors.js';
import { isObject, type Json } from './json.js';
import { backoffDelay, DEFAULT_RETRY, sleep, stopped, type RetryPolicy } from './retry.js';

type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  readonly query?: Query;
  readonly body?: unknown;
  /** Safe to send twice. Default: true for GET and PUT (Trellis PUTs carry a txnId), else false. */
  readonly idempotent?: boolean;
  readonly timeoutMs?: number;
  /** Aborting rejects with `STOPPED`, also during a back-off wait. */
  readonly signal?: AbortSignal;
  /** Overrides the client's policy; `false` sends once. */
  readonly retry?: Partial<RetryPolicy> | false;
  /** Send the access token (default true). */
  readonly auth?: boolean;
}

export interface RetryInfo {
  readonly method: string;
  readonly path: string;
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: ClientError;
}

export interface HttpOptions {
  readonly baseUrl: string;
  readonly accessToken?: string;
  readonly retry?: Partial<RetryPolicy>;
  /** Default per-request timeout. */
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
  /** Called before each retry (for logs and tests). */
  readonly onRetry?: (info: RetryInfo) => void;
}

export class HttpTransport {
  readonly baseUrl: string;
  accessToken: string | undefined;
  /** Aborts every request made without a signal of its own (the client's lifetime). */
  defaultSignal: AbortSignal | undefined;
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly fetchFn: typeof fetch;
  private readonly onRetry: ((info: RetryInfo) => void) | undefined;

  constructor(options: HttpOptions) {
    this.baseUrl = options.baseUrl;
    this.accessToken = options.accessToken;
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.fetchFn = options.fetch ?? fetch;
    this.onRetry = options.onRetry;
  }

  /** One API call with the retry policy; resolves with the JSON object of a 2xx answer. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Json> {
    const body = await this.send(method, path, options);
    if (!isObject(body)) {
      throw new ClientError('BAD_RESPONSE', `${method} ${path}: the answer is not a JSON object`);
    }
    return body;
  }

  /** One API call with the retry policy; resolves with the JSON value of a 2xx answer. */
  async send(method: string, path: string, given: RequestOptions = {}): Promise<unknown> {
    const options =
      given.signal || !this.defaultSignal ? given : { ...given, signal: this.defaultSignal };
    const policy =
      options.retry === false
        ? { ...this.retry, attempts: 1 }
        : { ...this.retry, ...options.retry };
    const idempotent = options.idempotent ?? (method === 'GET' || method === 'PUT');
    for (let attempt = 1; ; attempt++) {
      let error: ClientError;
      let retryable: boolean;
      let minimumDelay = 0;
      try {
        return await this.once(method, path, options);
      } catch (e) {
        if (!(e instanceof Attempt)) throw e;
        error = e.error;
        retryable =
          e.kind === 'refused' || e.kind === 'limited' || (idempotent && e.kind === 'transient');
        minimumDelay = e.error.details.retryAfterMs ?? 0;
      }
      if (!retryable || attempt >= policy.attempts) throw error;
      const delayMs = Math.max(minimumDelay, backoffDelay(policy, attempt));
      this.onRetry?.({ method, path, attempt, delayMs, error });
      await sleep(delayMs, options.signal);
    }
  }

  private async once(method: string, path: string, options: RequestOptions): Promise<unknown> {
    const url = new URL(`/_matrix/client/v3${path}`, this.baseUrl);
    for (const [k, v] of Object.entries(options.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    const headers: Record<string, string> = {};
    if (options.auth !== false) {
      if (!this.accessToken) throw new ClientError('NOT_LOGGED_IN', 'no access token');
      headers.authorization = `Bearer ${this.accessToken}`;
    }
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    const timeout = AbortSignal.timeout(options.timeoutMs ?? this.timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    let response: Response;
    let text: string;
    try {
      response = await this.fetchFn(url, {
        method,
        headers,
        signal,
        ...(body !== undefined && { body }),
      });
      text = await response.text();
    } catch (cause) {
      if (options.signal?.aborted) throw stopped();
      const refused = errorCode(cause) === 'ECONNREFUSED';
      const what = timeout.aborted ? 'timed out' : refused ? 'connection refused' : 'network error';
      throw new Attempt(
        refused ? 'refused' : 'transient',
        new ClientError('NETWORK', `${method} ${path}: ${what}`, { cause }),
      );
    }
    let json: unknown;
    try {
      json = text === '' ? {} : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (response.ok) {
      if (json === undefined) {
        throw new ClientError('BAD_RESPONSE', `${method} ${path}: the answer is not JSON`);
      }
      return json;
    }
    const errcode = isObject(json) && typeof json.errcode === 'string' ? json.errcode : undefined;
    const serverError = isObject(json) && typeof json.error === 'string' ? json.error : undefined;
    const message = serverError ?? response.statusText;
    const retryAfter =
      isObject(json) && typeof json.retry_after_ms === 'number' ? json.retry_after_ms : undefined;
    const error = new ClientError(
      'HTTP',
      `${method} ${path}: ${response.status} ${errcode ?? ''} ${message}`.trim(),
      {
        status: response.status,
        ...(errcode && { errcode }),
        ...(serverError !== undefined && { serverError }),
        ...(retryAfter !== undefined && { retryAfterMs: retryAfter }),
        ...(isObject(json) && { answer: json }),
      },
    );
    if (response.status === 429) throw new Attempt('limited', error);
    if (response.status >= 500) throw new Attempt('transient', error);
    throw error;
  }
}

class Attempt extends Error {
  constructor(
    readonly kind: 'refused' | 'transient' | 'limited',
    readonly error: ClientError,
  ) {
    super(error.message);
  }
}

function errorCode(error: unknown): string | undefined {
  for (
    let e: unknown = error, depth = 0;
    e && depth < 5;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}
