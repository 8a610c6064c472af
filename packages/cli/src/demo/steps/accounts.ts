/**
 * Step 2: the users sign up on their devices, which publish KeyPackages; each turns on key
 * backup and sets up cross-signing under its recovery key, and signs their other devices.
 */
import type { DemoDevice } from '../cast.js';
import type { Scene } from '../scene.js';
import { expect } from '../waiting.js';

export interface People {
  readonly aliceLaptop: DemoDevice;
  readonly alicePhone: DemoDevice;
  readonly bobLaptop: DemoDevice;
  readonly carolLaptop: DemoDevice;
  /** Unlocks bob's key backup and cross-signing keys; a new device of his needs it. */
  readonly bobRecoveryKey: string;
}

export async function signUp(scene: Scene): Promise<People> {
  const { narrator, cast } = scene;
  await narrator.step(
    'Alice, Bob and Carol sign in; their devices publish KeyPackages',
    'Every device is its own MLS member with its own signature key, named user|device. ' +
      'On signing in, a device uploads its device keys and a stock of KeyPackages, which other ' +
      'devices claim to add it to a group. Each user also turns on key backup (every epoch ' +
      'their devices hold is kept on the server, encrypted under a key only their recovery ' +
      'key opens) and sets up cross-signing: a master key and a self-signing key, kept in ' +
      'secret storage under the same recovery key, and the self-signing key signs each of ' +
      'their devices. Every device runs the strict trust policy: it lets into the room only ' +
      'devices their user signed, whatever the server lists.',
  );
  const aliceLaptop = await cast.register('alice', 'laptop');
  const alicePhone = await cast.login('alice', 'phone');
  const bobLaptop = await cast.register('bob', 'laptop');
  const carolLaptop = await cast.register('carol', 'laptop');
  for (const device of [aliceLaptop, alicePhone, bobLaptop, carolLaptop]) {
    // An empty upload answers with what the server holds for the device.
    const counts = await device.client.http.uploadKeys({});
    const stock = Object.entries(counts)
      .map(([algorithm, count]) => `${count} KeyPackages (${algorithm})`)
      .join(', ');
    expect(stock !== '', `the server holds no KeyPackages for ${device.label}`);
    narrator.fact(`${device.label} is ${device.client.identity}; the server holds ${stock}`);
  }

  let bobRecoveryKey = '';
  for (const first of [aliceLaptop, bobLaptop, carolLaptop]) {
    const backup = await first.client.enableBackup();
    const { masterKey } = await first.client.crossSigning.setUp();
    narrator.fact(
      `${first.label} created key backup version ${backup.version} and cross-signing keys ` +
        `(master key ${masterKey.slice(0, 8)}…), and signed itself`,
    );
    if (first === bobLaptop) bobRecoveryKey = backup.recoveryKey;
  }
  narrator.detail(`bob's recovery key: ${bobRecoveryKey}`);
  await aliceLaptop.client.crossSigning.signDevice(alicePhone.client.deviceId);
  narrator.fact('alice/laptop signed alice/phone with alice’s self-signing key');

  for (const device of cast.devices) device.client.start();
  return { aliceLaptop, alicePhone, bobLaptop, carolLaptop, bobRecoveryKey };
}
