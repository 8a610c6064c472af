/**
 * Step 8: bob signs in on a brand-new device, which joins the group at the current epoch, and
 * reads the history it was not there for with the keys in bob's backup.
 */
import type { ClientEvents, RestoreReport } from '@trellis/client';
import type { DemoDevice } from '../cast.js';
import type { Scene } from '../scene.js';
import { expect } from '../waiting.js';
import type { People } from './accounts.js';
import { inOneEpoch } from './epochs.js';
import { BEFORE_OTHERS_JOIN } from './room.js';

const HELLO_TABLET = 'Hello, Bob’s tablet!';

export interface Restored {
  readonly tablet: DemoDevice;
  readonly report: RestoreReport;
  readonly messages: readonly ClientEvents['message'][];
}

export async function restoreOnNewDevice(
  scene: Scene,
  people: People,
  roomId: string,
): Promise<Restored> {
  const { narrator, cast } = scene;
  const { aliceLaptop, alicePhone, bobLaptop } = people;
  await narrator.step(
    'Bob signs in on a new tablet and restores the history from his backup',
    'A new device joins the group at the current epoch: MLS gives it no keys to earlier ' +
      'epochs, so on its own it reads nothing sent before. Bob’s laptop has backed up every ' +
      'epoch it held, encrypted under the backup key; the tablet unlocks the backup with the ' +
      'recovery key and decrypts the history. Epochs from before Bob joined were never his, ' +
      'so they are not in his backup. The same recovery key unlocks his cross-signing keys: ' +
      'the tablet signs itself, and only then do the others let it in.',
  );
  const bobTablet = await cast.login('bob', 'tablet');
  bobTablet.client.start();
  // Under the strict policy the tablet is let in only once Bob signed it: the recovery key
  // opens his cross-signing keys, and the tablet signs itself with the self-signing key.
  const { masterKey } = await bobTablet.client.crossSigning.recover(people.bobRecoveryKey);
  narrator.fact(
    `bob/tablet unlocked bob's cross-signing keys with the recovery key and signed itself ` +
      `(master key ${masterKey.slice(0, 8)}…)`,
  );
  const members = [aliceLaptop, alicePhone, bobLaptop, bobTablet];
  await scene.waitUntil('bob/tablet to join the group', () => inOneEpoch(roomId, members));
  const welcome = bobTablet.events('welcome').find((w) => w.roomId === roomId);
  expect(welcome !== undefined, 'bob/tablet is in the group but saw no Welcome');
  narrator.fact(
    `bob/tablet joined the group at ${cast.epoch(welcome.epoch)}, by a Welcome from ${cast.label(welcome.sender)}`,
  );
  const readLive = bobTablet.messages(roomId).length;
  const unreadBefore = bobTablet.events('decryptionFailure').filter((f) => f.roomId === roomId);
  narrator.fact(`without the backup, bob/tablet has read ${readLive} of the room’s messages`);
  for (const [code, failures] of groupByCode(unreadBefore)) {
    narrator.refused(
      `it saw ${failures.length} earlier encrypted messages it cannot read: ${code} (${failures[0]!.reason})`,
    );
  }

  await bobLaptop.client.flushBackup();
  expect(bobLaptop.client.backupPending === 0, 'bob/laptop could not upload its backup');
  const uploaded = bobLaptop
    .events('backup')
    .filter((b) => b.roomId === roomId)
    .reduce((sum, b) => sum + b.sessions, 0);
  narrator.fact(`bob/laptop has uploaded the keys of ${uploaded} epochs of the room to the backup`);

  const report = await bobTablet.client.restoreBackup(people.bobRecoveryKey);
  const restored = bobTablet.messages(roomId).filter((m) => m.source === 'backup');
  narrator.fact(
    `bob/tablet unlocked the backup with the recovery key: ${report.epochs} epochs restored, ` +
      `${report.messages} history messages decrypted, ${report.unreadable} unreadable`,
  );
  for (const m of restored) {
    narrator.detail(
      `${cast.epoch(m.epoch)}  ${cast.label(`${m.sender}|${m.senderDevice}`)}: “${String(m.content.body)}”`,
    );
  }
  const unreadAfter = bobTablet
    .events('decryptionFailure')
    .filter((f) => f.roomId === roomId && !unreadBefore.includes(f));
  for (const failure of unreadAfter) {
    narrator.refused(`a message from ${failure.sender}: ${failure.code} (${failure.reason})`);
  }

  // The history bob's devices were there for is exactly what his laptop read.
  const bodies = (list: readonly ClientEvents['message'][]) =>
    list.map((m) => String(m.content.body)).sort();
  const readByLaptop = bodies(bobLaptop.messages(roomId));
  expect(
    JSON.stringify(bodies(restored)) === JSON.stringify(readByLaptop),
    `bob/tablet restored [${bodies(restored).join(' | ')}], bob/laptop read [${readByLaptop.join(' | ')}]`,
  );
  expect(report.messages === restored.length, 'the restore report does not match what was read');
  expect(
    bobTablet.read(roomId, BEFORE_OTHERS_JOIN) === undefined && report.unreadable > 0,
    'bob/tablet read a message from before bob joined',
  );
  narrator.fact('the restored history is exactly what bob/laptop read live');

  await scene.say(aliceLaptop, roomId, HELLO_TABLET, [bobTablet]);
  scene.reportReaders(roomId, HELLO_TABLET, [...members]);
  return { tablet: bobTablet, report, messages: restored };
}

function groupByCode(
  failures: readonly ClientEvents['decryptionFailure'][],
): Map<string, ClientEvents['decryptionFailure'][]> {
  const out = new Map<string, ClientEvents['decryptionFailure'][]>();
  for (const f of failures) out.set(f.code, [...(out.get(f.code) ?? []), f]);
  return out;
}
