/** A small Matrix HTTP client for the tests: real requests, raw answers. */

export interface Reply<T = any> {
  status: number;
  body: T;
}

export interface Session {
  userId: string;
  deviceId: string;
  token: string;
}

export class Http {
  constructor(readonly base: string) {}

  async request<T = any>(
    method: string,
    path: string,
    options: {
      body?: unknown;
      raw?: string;
      token?: string;
      query?: Record<string, string | number | boolean>;
      headers?: Record<string, string>;
    } = {},
  ): Promise<Reply<T>> {
    const url = new URL(
      path.startsWith('/_matrix') ? path : `/_matrix/client/v3${path}`,
      this.base,
    );
    for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: string | undefined;
    if (options.raw !== undefined) body = options.raw;
    else if (options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined && !headers['content-type'])
      headers['content-type'] = 'application/json';
    const response = await fetch(url, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, body: parsed as T };
  }

  get = <T = any>(
    path: string,
    token?: string,
    query?: Record<string, string | number | boolean>,
  ) => this.request<T>('GET', path, { ...(token ? { token } : {}), ...(query ? { query } : {}) });
  post = <T = any>(
    path: string,
    body: unknown,
    token?: string,
    query?: Record<string, string | number | boolean>,
  ) =>
    this.request<T>('POST', path, {
      body,
      ...(token ? { token } : {}),
      ...(query ? { query } : {}),
    });
  put = <T = any>(
    path: string,
    body: unknown,
    token?: string,
    query?: Record<string, string | number | boolean>,
  ) =>
    this.request<T>('PUT', path, {
      body,
      ...(token ? { token } : {}),
      ...(query ? { query } : {}),
    });
  delete = <T = any>(
    path: string,
    body: unknown,
    token?: string,
    query?: Record<string, string | number | boolean>,
  ) =>
    this.request<T>('DELETE', path, {
      ...(body !== undefined ? { body } : {}),
      ...(token ? { token } : {}),
      ...(query ? { query } : {}),
    });

  /** Registers through the m.login.dummy flow. */
  async register(
    username: string,
    password = 'correct horse',
    deviceId?: string,
  ): Promise<Session> {
    const r = await this.post('/register', {
      username,
      password,
      auth: { type: 'm.login.dummy' },
      ...(deviceId ? { device_id: deviceId } : {}),
    });
    if (r.status !== 200)
      throw new Error(`register ${username}: ${r.status} ${JSON.stringify(r.body)}`);
    return { userId: r.body.user_id, deviceId: r.body.device_id, token: r.body.access_token };
  }

  async login(user: string, password = 'correct horse', deviceId?: string): Promise<Session> {
    const r = await this.post('/login', {
      type: 'm.login.password',
      identifier: { type: 'm.id.user', user },
      password,
      ...(deviceId ? { device_id: deviceId } : {}),
    });
    if (r.status !== 200) throw new Error(`login ${user}: ${r.status} ${JSON.stringify(r.body)}`);
    return { userId: r.body.user_id, deviceId: r.body.device_id, token: r.body.access_token };
  }

  async createRoom(token: string, body: Record<string, unknown> = {}): Promise<string> {
    const r = await this.post('/createRoom', body, token);
    if (r.status !== 200) throw new Error(`createRoom: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.room_id;
  }

  async send(
    token: string,
    roomId: string,
    body: Record<string, unknown>,
    txnId = Math.random().toString(36).slice(2),
  ) {
    const r = await this.put(
      `/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${txnId}`,
      body,
      token,
    );
    if (r.status !== 200) throw new Error(`send: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.event_id as string;
  }

  sync(token: string, query: Record<string, string | number | boolean> = {}) {
    return this.get('/sync', token, query);
  }
}

export const enc = encodeURIComponent;
