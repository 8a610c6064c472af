/** Step 2: the users sign up on their devices, which publish KeyPackages; bob turns on backup. */
import type { DemoDevice } from '../cast.js';
import type { Scene } from '../scene.js';
import { expect } from '../waiting.js';

export interface People {
  readonly aliceLaptop: DemoDevice;
  readonly alicePhone: DemoDevice;
  readonly bobLaptop: DemoDevice;
  readonly carolLaptop: DemoDevice;
  /** Unlocks bob's key backup; a new device of his needs it. */
  readonly bobRecoveryKey: string;
}

export async function signUp(scene: Scene): Promise<People> {
  const { narrator, cast } = scene;
  await narrator.step(
    'Alice, Bob and Carol sign in; their devices publish KeyPackages',
    'Every device is its own MLS member with its own signature key, named user|device. ' +
      'On signing in, a device uploads its device keys and a stock of KeyPackages, which other ' +
      'devices claim to add it to a group. Bob also turns on key backup: from now on every ' +
      'epoch his devices hold is kept on the server, encrypted under a key only his recovery key opens.',
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

  const backup = await bobLaptop.client.enableBackup();
  narrator.fact(`bob/laptop created key backup version ${backup.version}`);
  narrator.detail(`recovery key: ${backup.recoveryKey}`);

  for (const device of cast.devices) device.client.start();
  return { aliceLaptop, alicePhone, bobLaptop, carolLaptop, bobRecoveryKey: backup.recoveryKey };
}
