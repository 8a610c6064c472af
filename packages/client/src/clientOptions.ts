/**
 * What a client is made with: its options (homeserver, store, suite, the timing of its work),
 * the credentials it signs in with, and the shapes of what some of its calls take and return.
 */
import type { RetentionPolicy } from '@trellis/dmls';
import type { CipherSuiteId, CryptoProvider } from '@trellis/mls';
import type { TrustPolicy } from './deviceTrust.js';
import type { RetryInfo } from './httpTransport.js';
import type { RetryPolicy } from './retry.js';
import type { StockPolicy } from './keyPackages.js';
import type { GroupMetadata } from './metadata.js';
import type { RoomContext } from './roomContext.js';
import type { Store } from './store.js';

export const DEFAULT_SUITE: CipherSuiteId = 1;

export interface ClientOptions {
  /** The homeserver, e.g. `http://127.0.0.1:8008`. */
  readonly baseUrl: string;
  readonly store: Store;
  /** Cipher suite of new rooms and of this device's KeyPackages (default 1). */
  readonly suite?: CipherSuiteId;
  readonly provider?: CryptoProvider;
  /** Time for the retention policy (default `Date.now`); tests move it forward. */
  readonly clock?: () => number;
  readonly retention?: RetentionPolicy;
  /** Back-off slot of resolving commits (default 500 ms). */
  readonly resolutionSlotMs?: number;
  readonly keyPackages?: Partial<StockPolicy>;
  /** Long-poll timeout of sync (default 30 s). */
  readonly syncTimeoutMs?: number;
  /** Timeline events per room and sync (default 100). */
  readonly timelineLimit?: number;
  /** Events fetched to fill a gap in a limited timeline (default 1000; 0: rely on backfill). */
  readonly maxGapFill?: number;
  /** Commit events fetched by id per backfill (default 1000). */
  readonly maxBackfill?: number;
  /** Devices added per commit (default 50: commits stay well under the 64 KiB event limit). */
  readonly maxAddsPerCommit?: number;
  /** Least time between two rejoin requests of this device in one room (default 10 min). */
  readonly rejoinIntervalMs?: number;
  /**
   * How long a device joined to a room, and never in its group, waits for a Welcome before it
   * asks to be added with a rejoin request (default 60 s).
   */
  readonly welcomeWaitMs?: number;
  /**
   * Which devices are trusted (deviceTrust.ts): `strict` only devices their users signed
   * (cross-signing); `tofu` (the default) unsigned ones too, with a `deviceTrust` warning.
   */
  readonly trustPolicy?: TrustPolicy;
  readonly retry?: Partial<RetryPolicy>;
  readonly fetch?: typeof fetch;
  readonly onRetry?: (info: RetryInfo) => void;
}

export interface Credentials {
  readonly username: string;
  readonly password: string;
  /** Log in as this device (created if new); a fresh one by default. */
  readonly deviceId?: string;
  readonly displayName?: string;
}

export interface CreateRoomOptions extends GroupMetadata {
  /** Users to invite. */
  readonly invite?: readonly string[];
}

/**
 * How far a restore is: deriving and checking the key, then rebuilding the backed-up epochs
 * room by room, then reading each joined room's history with them.
 */
export interface RestoreProgress {
  readonly step: 'unlock' | 'restore' | 'history';
  readonly done: number;
  readonly total: number;
}

export interface RestoreReport {
  /** Epochs restored from the backup. */
  readonly epochs: number;
  /** History messages decrypted with them. */
  readonly messages: number;
  /** Encrypted messages neither this device nor the backup can read. */
  readonly unreadable: number;
}

/** The settings of a client's rooms: the options given, with the defaults of those left out. */
export function roomSettings(
  options: ClientOptions,
): Pick<
  RoomContext,
  | 'retention'
  | 'clock'
  | 'slotMs'
  | 'maxBackfill'
  | 'maxAddsPerCommit'
  | 'rejoinIntervalMs'
  | 'welcomeWaitMs'
> {
  return {
    retention: options.retention,
    clock: options.clock ?? Date.now,
    slotMs: options.resolutionSlotMs ?? 500,
    maxBackfill: options.maxBackfill ?? 1000,
    maxAddsPerCommit: options.maxAddsPerCommit ?? 50,
    rejoinIntervalMs: options.rejoinIntervalMs ?? 10 * 60_000,
    welcomeWaitMs: options.welcomeWaitMs ?? 60_000,
  };
}
