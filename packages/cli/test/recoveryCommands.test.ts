/**
 * /recovery's branches that a terminal session cannot reach on purpose: keys set up by another
 * device between the query and the set-up (the server then asks for the password), with the
 * offer to recover instead; and /devices naming a user it cannot resolve. The SDK, terminal and
 * view are stand-ins recording what they were asked.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ClientError, type Client } from '@trellis/client';
import { RecoveryCommands } from '../src/chat/recoveryCommands.js';
import type { Terminal } from '../src/chat/terminal.js';
import { NoticeError, type ChatView } from '../src/chat/view.js';

const MASTER = 'MasterKeyMasterKeyMasterKeyMasterKeyMaster0';

function harness(options: { answers: string[]; setUpError: ClientError }) {
  const said: string[] = [];
  const asked: { question: string; hidden: boolean }[] = [];
  const recovered: string[] = [];
  const client = {
    userId: '@alice:x',
    deviceId: 'LAPTOP',
    backupVersion: '1',
    http: {
      queryAllKeys: async () => ({
        device_keys: {},
        master_keys: {},
        self_signing_keys: {},
        user_signing_keys: {},
      }),
    },
    crossSigning: {
      masterKey: undefined,
      setUp: async () => {
        throw options.setUpError;
      },
      recover: async (secret: string) => {
        recovered.push(secret);
        return { masterKey: MASTER };
      },
      check: async () => ({ signed: true, masterKey: MASTER, selfSigningKey: 'S' }),
    },
  } as unknown as Client;
  const terminal = {
    ask: async (question: string, o: { hidden?: boolean } = {}) => {
      asked.push({ question, hidden: o.hidden === true });
      return options.answers.shift();
    },
    setStatus: () => {},
  } as unknown as Terminal;
  const view = {
    say: (text: string | string[]) => said.push(...[text].flat()),
    currentRoom: () => undefined,
  } as unknown as ChatView;
  return { commands: new RecoveryCommands(client, terminal, view), said, asked, recovered };
}

/** setUp's refusal when the server asks for the password (clientCrossSigning.ts). */
const KEYS_EXIST = new ClientError('CROSS_SIGNING', 'the user has cross-signing keys', {
  cause: new ClientError('HTTP', 'auth', { status: 401 }),
});

describe('/recovery when keys appear during the set-up', () => {
  test('it explains, offers to recover, and recovers with the key typed hidden', async () => {
    const h = harness({ answers: ['yes', '  EsTc abcd  '], setUpError: KEYS_EXIST });
    await h.commands.recovery();
    assert.match(h.said.join('\n'), /has cross-signing keys already.*need your password/);
    assert.deepEqual(
      h.asked.map((a) => a.hidden),
      [false, true],
    );
    assert.match(h.asked[1]!.question, /Recovery key or passphrase \(not shown\)/);
    assert.deepEqual(h.recovered, ['EsTc abcd']);
    assert.match(h.said.join('\n'), /Cross-signing keys recovered/);
  });

  test('declining changes nothing', async () => {
    const h = harness({ answers: ['no'], setUpError: KEYS_EXIST });
    await assert.rejects(
      h.commands.recovery(),
      (e: unknown) => e instanceof NoticeError && /Nothing was changed/.test(e.message),
    );
    assert.deepEqual(h.recovered, []);
  });

  test('another cross-signing failure is not taken for existing keys', async () => {
    const refused = new ClientError('CROSS_SIGNING', 'the server refused the signature');
    const h = harness({ answers: [], setUpError: refused });
    await assert.rejects(h.commands.recovery(), (e: unknown) => e === refused);
    assert.deepEqual(h.asked, []);
  });
});

describe('/devices names', () => {
  test('a malformed user id, or a name with no room to look it up in, is a sentence', async () => {
    const h = harness({ answers: [], setUpError: KEYS_EXIST });
    await assert.rejects(h.commands.devices('@bob'), /Give a full user id: \/devices @bob:server/);
    await assert.rejects(
      h.commands.devices('bob'),
      /nobody called bob in this room: give the full user id, \/devices @bob:server/,
    );
  });
});
