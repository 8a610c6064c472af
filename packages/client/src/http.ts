/**
 * A typed wrapper of the Matrix client-server API subset Trellis uses. Every answer that is not
 * a success becomes a `ClientError`; transient failures are retried with exponential back-off
 * and jitter, honouring the server's `retry_after_ms`.
 *
 * What is retried: answers 429 always (the server did not act on the request), 5xx and network
 * failures for requests that are safe to repeat (reads, and writes the server de-duplicates by
 * transaction id), and a refused connection for any request (nothing reached the server).
 */
import { ClientError } from './errors.js';
import { asObject, asString, isObject, type Json } from './json.js';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 250, maxDelayMs: 15_000 };

/** Delay before retry `attempt` (1 = first retry): exponential, capped, "equal jitter". */
export function backoffDelay(policy: RetryPolicy, attempt: number, random = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Waits `ms`, or less if `signal` aborts (then rejects with STOPPED). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(stopped());
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(stopped());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

const stopped = () => new ClientError('STOPPED', 'stopped');

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

/** A room event as the client-server API returns it. */
export interface ClientEvent {
  readonly event_id: string;
  readonly type: string;
  readonly sender: string;
  readonly content: Json;
  readonly state_key?: string;
  readonly origin_server_ts?: number;
}

/** A well-formed client event, or undefined (the caller skips it). */
export function parseClientEvent(value: unknown): ClientEvent | undefined {
  if (!isObject(value)) return undefined;
  const { event_id, type, sender, content, state_key, origin_server_ts } = value;
  if (typeof event_id !== 'string' || typeof type !== 'string' || typeof sender !== 'string') {
    return undefined;
  }
  if (!isObject(content)) return undefined;
  return {
    event_id,
    type,
    sender,
    content,
    ...(typeof state_key === 'string' && { state_key }),
    ...(typeof origin_server_ts === 'number' && { origin_server_ts }),
  };
}

export interface Session {
  readonly userId: string;
  readonly deviceId: string;
  readonly accessToken: string;
}

export interface MessagesPage {
  readonly chunk: ClientEvent[];
  readonly start: string;
  readonly end?: string;
}

export class MatrixHttp {
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
    const message =
      isObject(json) && typeof json.error === 'string' ? json.error : response.statusText;
    const retryAfter =
      isObject(json) && typeof json.retry_after_ms === 'number' ? json.retry_after_ms : undefined;
    const error = new ClientError(
      'HTTP',
      `${method} ${path}: ${response.status} ${errcode ?? ''} ${message}`.trim(),
      {
        status: response.status,
        ...(errcode && { errcode }),
        ...(retryAfter !== undefined && { retryAfterMs: retryAfter }),
      },
    );
    if (response.status === 429) throw new Attempt('limited', error);
    if (response.status >= 500) throw new Attempt('transient', error);
    throw error;
  }

  // -------------------------------------------------------------------------------------------
  // Accounts and devices

  async register(
    username: string,
    password: string,
    deviceId?: string,
    displayName?: string,
  ): Promise<Session> {
    const body = await this.request('POST', '/register', {
      auth: false,
      body: {
        username,
        password,
        auth: { type: 'm.login.dummy' },
        ...(deviceId !== undefined && { device_id: deviceId }),
        ...(displayName !== undefined && { initial_device_display_name: displayName }),
      },
    });
    return session(body);
  }

  async login(
    username: string,
    password: string,
    deviceId?: string,
    displayName?: string,
  ): Promise<Session> {
    const body = await this.request('POST', '/login', {
      auth: false,
      // Logging in twice makes two devices only if no device id is given; with one it is safe.
      idempotent: deviceId !== undefined,
      body: {
        type: 'm.login.password',
        identifier: { type: 'm.id.user', user: username },
        password,
        ...(deviceId !== undefined && { device_id: deviceId }),
        ...(displayName !== undefined && { initial_device_display_name: displayName }),
      },
    });
    return session(body);
  }

  async logout(): Promise<void> {
    await this.request('POST', '/logout', { body: {}, idempotent: true });
  }

  async whoami(): Promise<{ userId: string; deviceId: string }> {
    const body = await this.request('GET', '/account/whoami');
    return {
      userId: asString(body.user_id, 'user_id'),
      deviceId: asString(body.device_id, 'device_id'),
    };
  }

  /** Deletes one of the user's devices (user-interactive auth with the password). */
  async deleteDevice(deviceId: string, userId: string, password: string): Promise<void> {
    await this.request('DELETE', `/devices/${enc(deviceId)}`, {
      idempotent: true,
      body: {
        auth: {
          type: 'm.login.password',
          identifier: { type: 'm.id.user', user: userId },
          password,
        },
      },
    });
  }

  // -------------------------------------------------------------------------------------------
  // Rooms

  async createRoom(body: Json): Promise<string> {
    return asString((await this.request('POST', '/createRoom', { body })).room_id, 'room_id');
  }

  async invite(roomId: string, userId: string): Promise<void> {
    await this.request('POST', `/rooms/${enc(roomId)}/invite`, {
      body: { user_id: userId },
      idempotent: true,
    });
  }

  async join(roomId: string): Promise<void> {
    await this.request('POST', `/rooms/${enc(roomId)}/join`, { body: {}, idempotent: true });
  }

  async leave(roomId: string): Promise<void> {
    await this.request('POST', `/rooms/${enc(roomId)}/leave`, { body: {}, idempotent: true });
  }

  async kick(roomId: string, userId: string, reason?: string): Promise<void> {
    await this.request('POST', `/rooms/${enc(roomId)}/kick`, {
      body: { user_id: userId, ...(reason !== undefined && { reason }) },
      idempotent: true,
    });
  }

  async roomState(roomId: string): Promise<ClientEvent[]> {
    const body = await this.send('GET', `/rooms/${enc(roomId)}/state`);
    if (!Array.isArray(body)) throw new ClientError('BAD_RESPONSE', 'room state is not a list');
    return body.map(parseClientEvent).filter((e): e is ClientEvent => e !== undefined);
  }

  async joinedMembers(roomId: string): Promise<string[]> {
    const body = await this.request('GET', `/rooms/${enc(roomId)}/joined_members`);
    return Object.keys(asObject(body.joined ?? {}, 'joined'));
  }

  async sendEvent(roomId: string, type: string, txnId: string, content: object): Promise<string> {
    const body = await this.request(
      'PUT',
      `/rooms/${enc(roomId)}/send/${enc(type)}/${enc(txnId)}`,
      { body: content },
    );
    return asString(body.event_id, 'event_id');
  }

  async getEvent(roomId: string, eventId: string): Promise<ClientEvent> {
    const event = parseClientEvent(
      await this.request('GET', `/rooms/${enc(roomId)}/event/${enc(eventId)}`),
    );
    if (!event || event.event_id !== eventId) {
      throw new ClientError('BAD_RESPONSE', `event ${eventId}: not the event asked for`);
    }
    return event;
  }

  async messages(
    roomId: string,
    query: { dir: 'b' | 'f'; from?: string; to?: string; limit?: number },
  ): Promise<MessagesPage> {
    const body = await this.request('GET', `/rooms/${enc(roomId)}/messages`, { query });
    const chunk = Array.isArray(body.chunk) ? body.chunk : [];
    return {
      chunk: chunk.map(parseClientEvent).filter((e): e is ClientEvent => e !== undefined),
      start: typeof body.start === 'string' ? body.start : '',
      ...(typeof body.end === 'string' && { end: body.end }),
    };
  }

  async sync(
    query: { since?: string; timeout?: number; filter?: string },
    signal?: AbortSignal,
  ): Promise<Json> {
    return this.request('GET', '/sync', {
      query,
      ...(signal && { signal }),
      // The long-poll itself may take `timeout`; the sync loop does its own back-off.
      timeoutMs: (query.timeout ?? 0) + 15_000,
      retry: false,
    });
  }

  async sendToDevice(
    type: string,
    txnId: string,
    messages: Record<string, Record<string, object>>,
  ): Promise<void> {
    await this.request('PUT', `/sendToDevice/${enc(type)}/${enc(txnId)}`, { body: { messages } });
  }

  // -------------------------------------------------------------------------------------------
  // Keys

  /** Uploads device keys and KeyPackages; answers with the one-time key counts. */
  async uploadKeys(body: Json): Promise<Record<string, number>> {
    // Re-uploading the same keys is a no-op on the server, so this is safe to repeat.
    const answer = await this.request('POST', '/keys/upload', { body, idempotent: true });
    return counts(answer.one_time_key_counts);
  }

  async queryKeys(users: readonly string[]): Promise<Json> {
    const answer = await this.request('POST', '/keys/query', {
      body: { device_keys: Object.fromEntries(users.map((u) => [u, []])) },
      idempotent: true,
    });
    return isObject(answer.device_keys) ? answer.device_keys : {};
  }

  /** Claims one key of `algorithm` per device; answers `{user: {device: {keyName: value}}}`. */
  async claimKeys(wanted: Record<string, Record<string, string>>): Promise<Json> {
    const answer = await this.request('POST', '/keys/claim', { body: { one_time_keys: wanted } });
    return isObject(answer.one_time_keys) ? answer.one_time_keys : {};
  }

  // -------------------------------------------------------------------------------------------
  // Key backup

  async createBackupVersion(body: object): Promise<string> {
    return asString(
      (await this.request('POST', '/room_keys/version', { body })).version,
      'version',
    );
  }

  /** The current backup version, or undefined when there is none. */
  async backupVersion(): Promise<Json | undefined> {
    try {
      return await this.request('GET', '/room_keys/version');
    } catch (e) {
      if (e instanceof ClientError && e.errcode === 'M_NOT_FOUND') return undefined;
      throw e;
    }
  }

  async putRoomKeys(version: string, body: object): Promise<void> {
    await this.request('PUT', '/room_keys/keys', { query: { version }, body });
  }

  async roomKeys(version: string): Promise<Json> {
    return this.request('GET', '/room_keys/keys', { query: { version } });
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

function session(body: Json): Session {
  return {
    userId: asString(body.user_id, 'user_id'),
    deviceId: asString(body.device_id, 'device_id'),
    accessToken: asString(body.access_token, 'access_token'),
  };
}

function counts(value: unknown): Record<string, number> {
  if (!isObject(value)) return {};
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(value)) if (typeof v === 'number') out[k] = v;
  return out;
}

const enc = encodeURIComponent;
