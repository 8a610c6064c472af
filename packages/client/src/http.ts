/**
 * A typed wrapper of the Matrix client-server API subset Trellis uses: accounts and devices,
 * rooms and their events, keys and cross-signing, account data, and the key backup. How requests are sent, and retried, is
 * httpTransport.ts.
 */
import { parseClientEvent, type ClientEvent } from './clientEvent.js';
import { ClientError } from './errors.js';
import { HttpTransport } from './httpTransport.js';
import { asObject, asString, isObject, type Json } from './json.js';

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

/** The members of a `/keys/query` answer (api/keys.yaml), each `{}` when absent. */
export interface KeysQueryAnswer {
  /** user -> device -> DeviceKeys */
  readonly device_keys: Json;
  /** user -> CrossSigningKey; the user-signing key is only given for the querying user. */
  readonly master_keys: Json;
  readonly self_signing_keys: Json;
  readonly user_signing_keys: Json;
}

/** Who answers the `m.login.password` stage of user-interactive auth. */
export interface PasswordAuth {
  readonly userId: string;
  readonly password: string;
}

export class MatrixHttp extends HttpTransport {
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

  /** `/keys/query` with its cross-signing members. */
  async queryAllKeys(users: readonly string[]): Promise<KeysQueryAnswer> {
    const answer = await this.request('POST', '/keys/query', {
      body: { device_keys: Object.fromEntries(users.map((u) => [u, []])) },
      idempotent: true,
    });
    const member = (name: string): Json => {
      const value = answer[name];
      return isObject(value) ? value : {};
    };
    return {
      device_keys: member('device_keys'),
      master_keys: member('master_keys'),
      self_signing_keys: member('self_signing_keys'),
      user_signing_keys: member('user_signing_keys'),
    };
  }

  /** Claims one key of `algorithm` per device; answers `{user: {device: {keyName: value}}}`. */
  async claimKeys(wanted: Record<string, Record<string, string>>): Promise<Json> {
    const answer = await this.request('POST', '/keys/claim', { body: { one_time_keys: wanted } });
    return isObject(answer.one_time_keys) ? answer.one_time_keys : {};
  }

  // -------------------------------------------------------------------------------------------
  // Cross-signing (api/cross_signing.yaml)

  /**
   * Uploads cross-signing keys (`master_key`, `self_signing_key`, `user_signing_key`). The
   * first upload needs no user-interactive auth; replacing keys does: the server answers 401
   * with a `session` and its `flows`, and the request is sent again with the `m.login.password`
   * stage for that session. Without `password` such a 401 is thrown as it came.
   */
  async uploadCrossSigningKeys(keys: Json, password?: PasswordAuth): Promise<void> {
    // The server treats the same keys sent again as a no-op.
    const path = '/keys/device_signing/upload';
    try {
      await this.request('POST', path, { body: keys, idempotent: true });
    } catch (e) {
      const session = passwordSession(e);
      if (session === undefined || !password) throw e;
      await this.request('POST', path, {
        idempotent: true,
        body: {
          ...keys,
          auth: {
            type: 'm.login.password',
            identifier: { type: 'm.id.user', user: password.userId },
            password: password.password,
            session,
          },
        },
      });
    }
  }

  /**
   * Uploads signatures: user -> device id or cross-signing key id -> the signed object.
   * Answers the `failures` (same shape, each a Matrix error object); `{}` when all were taken.
   */
  async uploadSignatures(signed: Record<string, Record<string, object>>): Promise<Json> {
    const answer = await this.request('POST', '/keys/signatures/upload', {
      body: signed,
      idempotent: true,
    });
    return isObject(answer.failures) ? answer.failures : {};
  }

  // -------------------------------------------------------------------------------------------
  // Account data (api/account-data.yaml)

  /** The user's global account data of `type`, or undefined when there is none. */
  async accountData(userId: string, type: string): Promise<Json | undefined> {
    try {
      return await this.request('GET', `/user/${enc(userId)}/account_data/${enc(type)}`);
    } catch (e) {
      if (e instanceof ClientError && e.errcode === 'M_NOT_FOUND') return undefined;
      throw e;
    }
  }

  async setAccountData(userId: string, type: string, content: object): Promise<void> {
    await this.request('PUT', `/user/${enc(userId)}/account_data/${enc(type)}`, {
      body: content,
    });
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

/**
 * The `session` of a user-interactive auth challenge (401 with `session` and `flows`) that one
 * `m.login.password` stage completes, else undefined.
 */
function passwordSession(error: unknown): string | undefined {
  if (!(error instanceof ClientError) || error.status !== 401) return undefined;
  const answer = error.details.answer;
  if (!answer || typeof answer.session !== 'string' || !Array.isArray(answer.flows)) return;
  const byPassword = answer.flows.some(
    (flow) =>
      isObject(flow) &&
      Array.isArray(flow.stages) &&
      flow.stages.length === 1 &&
      flow.stages[0] === 'm.login.password',
  );
  return byPassword ? answer.session : undefined;
}

const enc = encodeURIComponent;
