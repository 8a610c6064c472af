/**
 * Which published devices this client trusts (issue 15): a device is trusted because its user
 * signed it, through the user's self-signing key and master key (cross-signing), not because
 * the server lists it.
 *
 * - `strict`: an unsigned device is not trusted. dMLS refuses its leaves (`UNTRUSTED_DEVICE`)
 *   and resolvers do not add it.
 * - `tofu`: an unsigned device is trusted, with a warning (`deviceTrust` event).
 *
 * Under both policies each user's master key is pinned on first sight. If it changes for a
 * user this client verified, devices signed only under the new key are not trusted until the
 * local user accepts the change (`acceptMasterKey`); for other users the new key is pinned
 * with a warning. A device once trusted under the pinned key stays trusted (its signature key
 * is pinned by the directory), so a master-key change stops sending to new devices only.
 */
import type { DeviceSignatureCheck } from './crossSigning.js';
import type { ClientEvents, Emitter } from './events.js';
import type { Store } from './store.js';
import type { DeviceTrustState, TrustPolicy } from './trustState.js';

export type { DeviceTrustState, TrustPolicy, UntrustedReason } from './trustState.js';

interface MasterPin {
  readonly key: string;
  readonly verified: boolean;
  /** A new published key, held back because the pinned one was verified. */
  readonly replacedBy?: string;
}

interface TrustRecord {
  masters: Record<string, MasterPin>;
  /** Devices trusted as signed, with the master key they were signed under. */
  signed: Record<string, string>;
}

const RECORD = 'device_trust';

export class DeviceTrust {
  private readonly record: TrustRecord;

  constructor(
    private readonly store: Store,
    readonly policy: TrustPolicy,
    private readonly events: Emitter<ClientEvents>,
    /** `userId|deviceId` of this device: trusted by definition. */
    private readonly identity: string,
  ) {
    this.record = JSON.parse(store.value(RECORD) ?? '{"masters":{},"signed":{}}') as TrustRecord;
  }

  /** A `/keys/query` answer gave `masterKey` for `userId` (undefined: none). */
  observeMaster(userId: string, masterKey: string | undefined): void {
    if (masterKey === undefined) return;
    const pin = this.record.masters[userId];
    if (!pin) {
      this.record.masters[userId] = { key: masterKey, verified: false };
    } else if (pin.key === masterKey) {
      if (pin.replacedBy === undefined) return;
      this.record.masters[userId] = { key: pin.key, verified: pin.verified };
    } else if (pin.verified) {
      if (pin.replacedBy === masterKey) return;
      this.record.masters[userId] = { ...pin, replacedBy: masterKey };
      this.events.emit('masterKeyChanged', { userId, masterKey, verified: true });
    } else {
      this.record.masters[userId] = { key: masterKey, verified: false };
      this.events.emit('masterKeyChanged', { userId, masterKey, verified: false });
    }
    this.save();
  }

  /** The local user accepts `userId`'s new master key: its devices are trusted again. */
  acceptMasterKey(userId: string): boolean {
    const pin = this.record.masters[userId];
    if (pin?.replacedBy === undefined) return false;
    this.record.masters[userId] = { key: pin.replacedBy, verified: false };
    this.save();
    return true;
  }

  /** The local user verified `userId` (e.g. by SAS) with this master key. */
  markVerified(userId: string, masterKey: string): void {
    this.record.masters[userId] = { key: masterKey, verified: true };
    this.save();
  }

  /** The master key this client verified for `userId`, while it is the pinned one. */
  verifiedMasterKey(userId: string): string | undefined {
    const pin = this.record.masters[userId];
    return pin?.verified ? pin.key : undefined;
  }

  /** Judges a listed device from its cross-signing check (crossSigning.ts). */
  judge(userId: string, identity: string, check: DeviceSignatureCheck): DeviceTrustState {
    if (identity === this.identity) return { trusted: true, signed: check.signed };
    const pin = this.record.masters[userId];
    if (check.signed) {
      const signedUnder = this.record.signed[identity];
      if (signedUnder !== undefined && signedUnder !== check.masterKey) {
        return { trusted: true, signed: true }; // trusted before the key changed: stays
      }
      if (pin?.replacedBy !== undefined && check.masterKey !== pin.key) {
        return {
          trusted: false,
          reason: 'MASTER_KEY_CHANGED',
          message: `${userId}'s master key changed since it was verified, and the change is not accepted`,
        };
      }
      if (signedUnder === undefined) {
        this.record.signed[identity] = check.masterKey;
        this.save();
      }
      return { trusted: true, signed: true };
    }
    if (this.record.signed[identity] !== undefined) return { trusted: true, signed: true };
    if (this.policy === 'tofu') return { trusted: true, signed: false };
    return { trusted: false, reason: 'UNSIGNED', message: check.message };
  }

  private save(): void {
    this.store.setValue(RECORD, JSON.stringify(this.record));
  }
}
