/**
 * What the chat says of cross-signing: whether each device of a user is signed by its user
 * (/devices), and the state of this user's cross-signing keys (/recovery). Pure, from the SDK's
 * `DeviceSignatureCheck`; the faults are put in words from their stable codes.
 */
import type { DeviceSignatureCheck, DeviceSignatureFault } from '@trellis/client';
import { deviceLine } from './lists.js';
import { printable } from './text.js';

export interface DeviceTrust {
  readonly deviceId: string;
  readonly thisDevice: boolean;
  readonly check: DeviceSignatureCheck;
}

export interface UserDevices {
  readonly userId: string;
  readonly name: string;
  /** The user is the one signed in here (the advice differs). */
  readonly own: boolean;
  readonly devices: readonly DeviceTrust[];
}

/**
 * A master key (unpadded base64) in groups of four, as it is read out to compare it with what
 * another device shows.
 */
export function fingerprint(masterKey: string): string {
  return printable(masterKey).replace(/(.{4})(?=.)/g, '$1 ');
}

/** The user, the master key their signed devices chain to, and each device's state. */
export function userDeviceLines(view: UserDevices): string[] {
  const masters = new Set(
    view.devices.flatMap(({ check }) => (check.signed ? [check.masterKey] : [])),
  );
  const key = masters.size === 1 ? `, master key ${fingerprint([...masters][0]!)}` : '';
  const lines = [`Devices of ${view.name} (${printable(view.userId)})${key}:`];
  if (view.devices.length === 0) lines.push('    (the server lists no devices)');
  for (const device of view.devices) {
    const state = device.check.signed
      ? 'signed by its user'
      : faultWords(device.check.fault, view.own, device.thisDevice);
    lines.push(deviceLine(device.deviceId, state, device.thisDevice));
  }
  return lines;
}

/** Why a device is not signed by its user, in words, with what to do where there is something. */
export function faultWords(fault: DeviceSignatureFault, own: boolean, thisDevice = false): string {
  switch (fault) {
    case 'NO_MASTER_KEY':
      return own
        ? 'not signed: you have no cross-signing keys yet (/recovery sets them up)'
        : 'not signed: this user has not set up cross-signing';
    case 'NO_SELF_SIGNING_KEY':
      return 'not signed: the server lists no self-signing key for this user';
    case 'MASTER_KEY_INVALID':
      return 'NOT TRUSTED: the master key the server lists is malformed';
    case 'SELF_SIGNING_KEY_INVALID':
      return 'NOT TRUSTED: the self-signing key the server lists is not signed by the master key';
    case 'NO_DEVICE':
      return 'the server no longer lists this device';
    case 'DEVICE_NOT_SIGNED':
      if (own && thisDevice) return 'not signed by you: /recovery signs it';
      return own
        ? 'not signed by you: /recovery with your recovery key on that device signs it'
        : 'not signed by its user';
  }
}

/** /recovery on a device that holds the cross-signing keys. */
export function recoveryStateLines(
  masterKey: string,
  thisDevice: DeviceSignatureCheck,
  started: 'set up' | 'recovered' | undefined,
): string[] {
  const lines = [
    started === 'set up'
      ? 'Cross-signing is set up: your new keys are kept in secret storage under the backup’s recovery key (or passphrase).'
      : started === 'recovered'
        ? 'Cross-signing keys recovered from secret storage.'
        : 'Cross-signing is set up, and this device holds your keys.',
    `  master key ${fingerprint(masterKey)}`,
  ];
  if (!thisDevice.signed) {
    lines.push(`  this device: ${faultWords(thisDevice.fault, true, true)}`);
  } else if (thisDevice.masterKey !== masterKey) {
    lines.push(
      `  NOT TRUSTED: the server lists another master key, ${fingerprint(thisDevice.masterKey)}: your keys were replaced elsewhere, or the server lies.`,
    );
  } else {
    lines.push('  this device: signed by its user');
    lines.push(
      'On another device of yours, /recovery with the recovery key (or passphrase) signs that device too; /devices shows which are signed.',
    );
  }
  return lines;
}
