/**
 * Which devices each user has, as the server's device directory (`/keys/query`) says, for
 * deciding a room's devices: the members of a room's group are every Trellis device of every
 * joined user.
 *
 * A Trellis device publishes device keys naming the room algorithm it speaks and its MLS
 * signature key, self-signed:
 *
 *   {"user_id", "device_id", "algorithms": ["m.dmls.v1.<suite>"],
 *    "keys": {"m.dmls.v1.signature:<device_id>": <unpadded base64 public key>},
 *    "signatures": {<user_id>: {"m.dmls.v1.signature:<device_id>": <base64 signature>}}}
 *
 * The signature is over the canonical JSON (@trellis/matrix) of the object without `signatures`
 * and `unsigned`; an object canonical JSON cannot hold (a float, say) is refused with it.
 * The first key seen for a device is pinned (trust on first use): a later answer naming another
 * key for the same device is refused, and a KeyPackage is only used if its leaf carries the
 * pinned key. Beyond that, each device is judged by its user's cross-signing signature under
 * the client's trust policy (deviceTrust.ts).
 */
import { roomAlgorithm, type CipherSuite } from '@trellis/mls';
import { fromBase64, toBase64 } from '@trellis/dmls';
import { canonicalJsonBytes } from '@trellis/matrix';
import { checkDeviceSignature, publishedMasterKey } from './crossSigning.js';
import type { DeviceTrust, DeviceTrustState } from './deviceTrust.js';
import type { ClientEvents, Emitter } from './events.js';
import type { MatrixHttp } from './http.js';
import { isObject, type Json } from './json.js';
import type { DeviceIdentity } from './keyPackages.js';
import type { Store } from './store.js';

export const SIGNATURE_KEY_ALGORITHM = 'm.dmls.v1.signature';

const PINS = 'device_pins';

export interface KnownDevice {
  readonly userId: string;
  readonly deviceId: string;
  /** `userId|deviceId` */
  readonly identity: string;
  readonly signatureKey: Uint8Array;
}

/** A listed device, judged under the trust policy. */
export interface ListedDevice extends KnownDevice {
  readonly trust: DeviceTrustState;
}

/** This device's keys for `/keys/upload`. */
export function deviceKeys(device: DeviceIdentity): Json {
  const keyId = `${SIGNATURE_KEY_ALGORITHM}:${device.deviceId}`;
  const body = {
    user_id: device.userId,
    device_id: device.deviceId,
    algorithms: [roomAlgorithm(device.suite.id)],
    keys: { [keyId]: toBase64(device.signatureKeyPair.publicKey) },
  };
  const signature = device.suite.signature.sign(
    device.signatureKeyPair.privateKey,
    canonicalJsonBytes(body),
  );
  return { ...body, signatures: { [device.userId]: { [keyId]: toBase64(signature) } } };
}

/** A device from a `/keys/query` answer, if it is a well-formed, self-signed Trellis device. */
function parseDevice(
  suite: CipherSuite,
  userId: string,
  deviceId: string,
  value: unknown,
): KnownDevice | undefined {
  if (!isObject(value) || value.user_id !== userId || value.device_id !== deviceId) return;
  const algorithms = value.algorithms;
  if (!Array.isArray(algorithms) || !algorithms.includes(roomAlgorithm(suite.id))) return;
  const keyId = `${SIGNATURE_KEY_ALGORITHM}:${deviceId}`;
  const key = isObject(value.keys) ? value.keys[keyId] : undefined;
  const signatures = isObject(value.signatures) ? value.signatures[userId] : undefined;
  const signature = isObject(signatures) ? signatures[keyId] : undefined;
  if (typeof key !== 'string' || typeof signature !== 'string') return;
  try {
    const publicKey = fromBase64(key, 'key');
    const { signatures: _s, unsigned: _u, ...signed } = value;
    const ok = suite.signature.verify(
      publicKey,
      canonicalJsonBytes(signed),
      fromBase64(signature, 'signature'),
    );
    if (!ok) return;
    return { userId, deviceId, identity: `${userId}|${deviceId}`, signatureKey: publicKey };
  } catch {
    return;
  }
}

export class DeviceDirectory {
  private readonly devices = new Map<string, Map<string, ListedDevice>>();
  /** Users to fetch, each with the query count when it was marked. */
  private readonly dirty = new Map<string, number>();
  /** Per user, the number of the last query that answered for it. */
  private readonly answered = new Map<string, number>();
  /** Queries started so far: numbers them, so an answer can be told from an older one. */
  private started = 0;
  private readonly pins: Record<string, string>;
  /** The fetch in flight, if any: callers wait for it rather than start another. */
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly http: MatrixHttp,
    private readonly suite: CipherSuite,
    private readonly trust: DeviceTrust,
    private readonly events: Emitter<ClientEvents>,
    private readonly onKeyChanged: (identity: string) => void,
  ) {
    this.pins = JSON.parse(store.value(PINS) ?? '{}') as Record<string, string>;
  }

  /** These users' device lists must be fetched (again) before they are used. */
  markDirty(users: Iterable<string>): void {
    for (const u of users) this.dirty.set(u, this.started);
  }

  /** Users this client no longer shares a room with. */
  forget(users: Iterable<string>): void {
    for (const u of users) {
      this.devices.delete(u);
      this.dirty.delete(u);
    }
  }

  get needsRefresh(): boolean {
    return this.dirty.size > 0;
  }

  isKnown(userId: string): boolean {
    return this.devices.has(userId) && !this.dirty.has(userId);
  }

  /**
   * The number of queries started so far. A user's device list with `answeredSince(user, n)`
   * was fetched by a query that started after this count was `n`.
   */
  get queries(): number {
    return this.started;
  }

  /** Whether a query started after the count was `count` answered for this user. */
  answeredSince(userId: string, count: number): boolean {
    return (this.answered.get(userId) ?? 0) > count;
  }

  /** Fetches out-of-date device lists, one fetch at a time. */
  async refreshDue(): Promise<void> {
    while (this.refreshing) await this.refreshing.catch(() => undefined);
    if (!this.needsRefresh) return;
    const run = this.refresh().then(() => undefined);
    this.refreshing = run;
    try {
      await run;
    } finally {
      this.refreshing = undefined;
    }
  }

  /** Fetches the dirty users' devices; returns the users whose device set changed. */
  async refresh(): Promise<Set<string>> {
    const users = [...this.dirty.keys()];
    const changed = new Set<string>();
    if (users.length === 0) return changed;
    const query = ++this.started;
    const answer = await this.http.queryAllKeys(users);
    let pinsChanged = false;
    for (const userId of users) {
      // Marked again while the query was out: the answer may predate what made it dirty.
      if ((this.dirty.get(userId) ?? Infinity) < query) this.dirty.delete(userId);
      this.answered.set(userId, query);
      const listed = isObject(answer.device_keys[userId]) ? answer.device_keys[userId] : {};
      const check = (deviceId: string) => checkDeviceSignature(answer, userId, deviceId);
      this.trust.observeMaster(userId, publishedMasterKey(answer, userId));
      const before = this.devices.get(userId);
      const next = new Map<string, ListedDevice>();
      for (const [deviceId, value] of Object.entries(listed)) {
        const parsed = parseDevice(this.suite, userId, deviceId, value);
        if (!parsed) continue;
        const device = {
          ...parsed,
          trust: this.trust.judge(userId, parsed.identity, check(deviceId)),
        };
        const pinned = this.pins[device.identity];
        const key = toBase64(device.signatureKey);
        if (pinned === undefined) {
          this.pins[device.identity] = key;
          pinsChanged = true;
        } else if (pinned !== key) {
          this.onKeyChanged(device.identity);
          continue;
        }
        next.set(deviceId, device);
        const was = before?.get(deviceId)?.trust;
        if (!was || was.trusted !== device.trust.trusted || signed(was) !== signed(device.trust)) {
          const firstLook = before === undefined;
          this.events.emit('deviceTrust', { userId, deviceId, trust: device.trust, firstLook });
        }
      }
      if (!before || !sameKeys(before, next)) changed.add(userId);
      this.devices.set(userId, next);
    }
    if (pinsChanged) this.store.setValue(PINS, JSON.stringify(this.pins));
    return changed;
  }

  devicesOf(userId: string): ListedDevice[] {
    return [...(this.devices.get(userId)?.values() ?? [])];
  }

  /** How the device is judged, while its user's last answer lists it (under its pinned key). */
  trustOf(userId: string, deviceId: string): DeviceTrustState | undefined {
    return this.devices.get(userId)?.get(deviceId)?.trust;
  }

  /** The pinned signature key of a device, if it was ever seen. */
  pinnedKey(identity: string): Uint8Array | undefined {
    const key = this.pins[identity];
    return key === undefined ? undefined : fromBase64(key, 'pin');
  }
}

function signed(state: DeviceTrustState): boolean {
  return state.trusted && state.signed;
}

function sameKeys(a: Map<string, unknown>, b: Map<string, unknown>): boolean {
  return a.size === b.size && [...a.keys()].every((k) => b.has(k));
}
