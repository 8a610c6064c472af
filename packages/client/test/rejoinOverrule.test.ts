/**
 * A rejoin request is overruled by a removal learned after it: a resolver whose view of the
 * room lags (it has not seen the device's user leave) must not bring the device back on an old
 * request when a commit on its chain removed it (simulation seed 27), nor when that commit is
 * history it learned without holding the epoch (seed 260).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toBase64, type EpochNode } from '@trellis/dmls';
import {
  basicCredential,
  cipherSuite,
  createKeyPackage,
  encode,
  mlsMessageCodec,
  nodeCrypto,
  roomAlgorithm,
  WireFormat,
} from '@trellis/mls';
import { Emitter, type ClientEvents } from '../src/events.js';
import { RejoinRequests, type RejoinRecord } from '../src/rejoin.js';
import type { DeviceKeyLookup } from '../src/deviceKeyLookup.js';
import type { ClientEvent } from '../src/clientEvent.js';
import type { RoomContext } from '../src/roomContext.js';
import { RoomIntake } from '../src/roomIntake.js';
import type { RoomRecord } from '../src/roomRecord.js';

const suite = cipherSuite(1, nodeCrypto);
const CAROL = '@carol:test|C1';
const pair = suite.signature.generateKeyPair();

function request(eventId: string): ClientEvent {
  const bundle = createKeyPackage(suite, {
    credential: basicCredential(new TextEncoder().encode(CAROL)),
    signatureKeyPair: pair,
    now: BigInt(Math.floor(Date.now() / 1000)),
  });
  const message = { wireFormat: WireFormat.mls_key_package, keyPackage: bundle.keyPackage };
  return {
    event_id: eventId,
    sender: '@carol:test',
    type: 'm.dmls.v1.rejoin',
    origin_server_ts: Date.now(),
    content: {
      algorithm: roomAlgorithm(1),
      sender: ['@carol:test', 'C1'],
      key_package: toBase64(encode(mlsMessageCodec, message as never)),
    },
  } as ClientEvent;
}

/** An epoch whose commit removed (and maybe added) devices, as the graph records it. */
function epoch(removed: string[], added: string[] = []): EpochNode {
  return { removed, added, held: { kind: 'none' }, members: new Map() } as unknown as EpochNode;
}

function requests(): RejoinRequests {
  const record: RejoinRecord = { requests: {}, done: [] };
  return new RejoinRequests(
    {
      roomId: '!room:test',
      identity: '@alice:test|A1',
      suite,
      keyLookup: { lookup: () => pair.publicKey } as unknown as DeviceKeyLookup,
      events: new Emitter<ClientEvents>((e) => assert.fail(String(e))),
      reportError: (e) => assert.fail(String(e)),
    },
    record,
    () => undefined,
  );
}

const joined = () => true;

test('a removal learned after a request overrules it; a replacement does not', () => {
  const r = requests();
  r.collect(request('$r1'), 1);
  assert.deepEqual([...r.view(1, joined).keys()], [CAROL]);
  r.overrule(epoch([CAROL], [CAROL])); // her leaf replaced: the request may still be answered
  assert.deepEqual([...r.view(1, joined).keys()], [CAROL]);
  r.overrule(epoch(['@bob:test|B1', CAROL]));
  assert.equal(r.view(1, joined).size, 0, 'the removal wins over the older request');
  r.collect(request('$r1'), 1);
  assert.equal(r.view(1, joined).size, 0, 'the overruled event, delivered again, stays set aside');
  r.collect(request('$r2'), 1);
  assert.deepEqual([...r.view(1, joined).keys()], [CAROL], 'a request made after it counts');
});

test('a removal in an epoch this device cannot hold overrules older requests as well', () => {
  const rejoins = requests();
  rejoins.collect(request('$r1'), 1);
  // Learned as history from before this device joined: the group records the epoch from its
  // signed data, and the event is refused NOT_A_MEMBER rather than told as a commit.
  const history = { ...epoch([CAROL]), key: '$c' } as EpochNode;
  const intake = new RoomIntake({
    ctx: { events: new Emitter<ClientEvents>((e) => assert.fail(String(e))) } as RoomContext,
    roomId: '!room:test',
    record: {} as RoomRecord,
    rejoins,
    currentGroup: () => ({ epoch: (key: string) => (key === '$c' ? history : undefined) }) as never,
    persistGroup: () => undefined,
    seal: () => undefined,
    afterBatch: () => undefined,
  });
  intake.handle(
    [{ kind: 'failed', eventId: '$c', code: 'NOT_A_MEMBER', reason: 'not a member' }],
    'backfill',
  );
  assert.equal(rejoins.view(1, joined).size, 0, 'the removal wins over the older request');
});
