/**
 * key-schedule.json (RFC 9420 §8): a chain of epochs from an initial init_secret. Each epoch's
 * GroupContext encoding and every secret the entry lists are recomputed, along with the
 * external public key and one exported secret; the same epoch is also derived again from its
 * joiner_secret, as a member joining by Welcome would.
 */
import { encode } from '../../src/codec/index.js';
import { mlsExporter } from '../../src/crypto/labels.js';
import { cipherSuite } from '../../src/crypto/suites.js';
import {
  epochFromJoinerSecret,
  externalKeyPair,
  nextEpoch,
  type EpochKeySchedule,
} from '../../src/keySchedule.js';
import { groupContextCodec } from '../../src/messages/groupContext.js';
import { expectEqual, expectHex, hex, type VectorSuite } from './harness.js';

const SECRETS = {
  sender_data_secret: 'senderDataSecret',
  encryption_secret: 'encryptionSecret',
  exporter_secret: 'exporterSecret',
  epoch_authenticator: 'epochAuthenticator',
  external_secret: 'externalSecret',
  confirmation_key: 'confirmationKey',
  membership_key: 'membershipKey',
  resumption_psk: 'resumptionPsk',
  init_secret: 'initSecret',
} as const;

/** Every field of an epoch entry, so that a field this checker does not know fails the entry. */
const KNOWN_FIELDS = new Set([
  ...Object.keys(SECRETS),
  'tree_hash',
  'commit_secret',
  'psk_secret',
  'confirmed_transcript_hash',
  'group_context',
  'joiner_secret',
  'welcome_secret',
  'external_pub',
  'exporter',
]);

function expectSchedule(schedule: EpochKeySchedule, epoch: any, at: string): void {
  expectHex(schedule.joinerSecret, epoch.joiner_secret, `${at} joiner_secret`);
  expectHex(schedule.welcomeSecret, epoch.welcome_secret, `${at} welcome_secret`);
  for (const [field, key] of Object.entries(SECRETS)) {
    expectHex(schedule.secrets[key], epoch[field], `${at} ${field}`);
  }
}

const suite: VectorSuite = {
  file: 'key-schedule.json',
  check(entry, provider) {
    const cs = cipherSuite(entry.cipher_suite, provider);
    let initSecret = hex(entry.initial_init_secret);
    entry.epochs.forEach((epoch: any, index: number) => {
      const at = `epoch ${index}`;
      for (const field of Object.keys(epoch)) {
        if (!KNOWN_FIELDS.has(field)) throw new Error(`${at}: unknown field ${field}`);
      }
      const groupContext = encode(groupContextCodec, {
        version: 1,
        cipherSuite: entry.cipher_suite,
        groupId: hex(entry.group_id),
        epoch: BigInt(index),
        treeHash: hex(epoch.tree_hash),
        confirmedTranscriptHash: hex(epoch.confirmed_transcript_hash),
        extensions: [],
      });
      expectHex(groupContext, epoch.group_context, `${at} group_context`);

      const pskSecret = hex(epoch.psk_secret);
      const schedule = nextEpoch(cs, {
        initSecret,
        commitSecret: hex(epoch.commit_secret),
        pskSecret,
        groupContext,
      });
      expectSchedule(schedule, epoch, at);
      const joined = epochFromJoinerSecret(cs, hex(epoch.joiner_secret), pskSecret, groupContext);
      expectSchedule(joined, epoch, `${at} (from joiner_secret)`);

      const external = externalKeyPair(cs, schedule.secrets.externalSecret);
      expectHex(external.publicKey, epoch.external_pub, `${at} external_pub`);

      // The vectors' exporter label is the text of its hex string, taken as the label itself.
      const { label, context, length, secret } = epoch.exporter;
      expectEqual(typeof length, 'number', `${at} exporter length`);
      const exported = mlsExporter(
        cs,
        schedule.secrets.exporterSecret,
        label,
        hex(context),
        length,
      );
      expectHex(exported, secret, `${at} exporter secret`);

      initSecret = schedule.secrets.initSecret;
    });
  },
};
export default suite;
