/**
 * RFC 9180 Appendix test vectors, read from the RFC text itself (test-vectors/hpke/), checked
 * for every Base-mode section with every provider.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { AeadId, KdfId, KemId } from '../src/crypto/provider.js';
import { MlsError } from '../src/errors.js';
import {
  EXPORT_ONLY,
  computeNonce,
  keyScheduleBase,
  setupBaseR,
  setupBaseS,
  type HpkeSuite,
} from '../src/hpke.js';
import { fromHex, toHex } from '../src/util/bytes.js';
import { PROVIDERS } from './providers.js';

const RFC_TEXT = readFileSync(
  fileURLToPath(new URL('../../../test-vectors/hpke/rfc9180-hpke.txt', import.meta.url)),
  'utf8',
);

type Fields = Map<string, string>;

interface VectorSection {
  /** e.g. "B.1.1" */
  id: string;
  /** The cipher-suite heading above it, e.g. "DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM" */
  suiteTitle: string;
  setup: Fields;
  encryptions: Fields[];
  exports: Fields[];
}

/**
 * Splits the appendix into setup sections. The text is the RFC as published, so page footers,
 * headers and form feeds interrupt it anywhere, even inside a hex value: those lines are dropped,
 * and a line holding only hex continues the value above it.
 */
function parseVectors(text: string): VectorSection[] {
  const sections: VectorSection[] = [];
  let suiteTitle = '';
  let current: VectorSection | undefined;
  let records: Fields[] | undefined; // where new key/value lines go (undefined: setup fields)
  let fields: Fields | undefined;
  let lastKey: string | undefined;
  let inAppendix = false;

  for (const rawLine of text.split('\n')) {
    const line = rawLine.replace(/\f/g, '').trimEnd();
    if (/^Appendix [A-Z]\.\s+Test Vectors/.test(line)) {
      inAppendix = true;
      continue;
    }
    if (!inAppendix) continue;
    if (/^Authors' Addresses/.test(line)) break;
    if (line === '' || /\[Page \d+\]$/.test(line) || /^(Internet-Draft|RFC 9180)\s/.test(line)) {
      continue;
    }

    let m: RegExpMatchArray | null;
    if ((m = line.match(/^[A-Z]\.\d+\.\s+(.+)$/))) {
      suiteTitle = m[1]!;
      current = undefined;
    } else if ((m = line.match(/^([A-Z]\.\d+\.\d+)\.\s+\S+ Setup Information$/))) {
      current = { id: m[1]!, suiteTitle, setup: new Map(), encryptions: [], exports: [] };
      sections.push(current);
      records = undefined;
      fields = current.setup;
      lastKey = undefined;
    } else if ((m = line.match(/^[A-Z]\.\d+\.\d+\.\d+\.\s+(Encryptions|Exported Values)$/))) {
      if (!current) throw new Error(`"${line}" outside a setup section`);
      records = m[1] === 'Encryptions' ? current.encryptions : current.exports;
      fields = undefined;
      lastKey = undefined;
    } else if (current && (m = line.match(/^ {3}([A-Za-z_][A-Za-z_ ]*):(?: +([0-9a-f]*))?$/))) {
      const key = m[1]!;
      // "sequence number" and "exporter_context" open a new record in their lists.
      if (records && (key === 'sequence number' || key === 'exporter_context')) {
        fields = new Map();
        records.push(fields);
      }
      if (!fields) throw new Error(`field "${key}" before its record in ${current.id}`);
      fields.set(key, m[2] ?? '');
      lastKey = key;
    } else if (current && fields && lastKey && (m = line.match(/^ {3}([0-9a-f]+)$/))) {
      fields.set(lastKey, fields.get(lastKey)! + m[1]!);
    } else if (current) {
      throw new Error(`unexpected line in ${current.id}: "${line}"`);
    }
  }
  return sections;
}

function field(fields: Fields, key: string): string {
  const value = fields.get(key);
  if (value === undefined) throw new Error(`missing field "${key}"`);
  return value;
}
const bytes = (fields: Fields, key: string) => fromHex(field(fields, key));
const int = (fields: Fields, key: string) => Number.parseInt(field(fields, key), 10);

function assertHex(actual: Uint8Array, expected: string, what: string): void {
  assert.equal(toHex(actual), expected, what);
}

const SECTIONS = parseVectors(RFC_TEXT);
const BASE_SECTIONS = SECTIONS.filter((s) => int(s.setup, 'mode') === 0);

const SUPPORTED_KEMS = new Set([0x0010, 0x0011, 0x0012, 0x0020, 0x0021]);
const SUPPORTED_KDFS = new Set([0x0001, 0x0002, 0x0003]);
const SUPPORTED_AEADS = new Set([0x0001, 0x0002, 0x0003, EXPORT_ONLY.id]);

test('the RFC text yields every Base-mode vector section', () => {
  // Appendix sections 1-7, each with Base, PSK, Auth and AuthPSK setups.
  assert.equal(SECTIONS.length, 28);
  assert.deepEqual(
    BASE_SECTIONS.map((s) => s.id.replace(/^[A-Z]\./, '')),
    ['1.1', '2.1', '3.1', '4.1', '5.1', '6.1', '7.1'],
  );
  for (const s of BASE_SECTIONS) {
    const exportOnly = int(s.setup, 'aead_id') === EXPORT_ONLY.id;
    assert.equal(s.encryptions.length, exportOnly ? 0 : 6, `${s.id} encryptions`);
    assert.equal(s.exports.length, 3, `${s.id} exported values`);
  }
});

for (const provider of PROVIDERS) {
  for (const section of BASE_SECTIONS) {
    const v = section.setup;
    const kemId = int(v, 'kem_id');
    const kdfId = int(v, 'kdf_id');
    const aeadId = int(v, 'aead_id');
    const name = `${provider.name} ${section.id} ${section.suiteTitle} (base mode)`;
    const missing = [
      SUPPORTED_KEMS.has(kemId) ? '' : `KEM 0x${kemId.toString(16)}`,
      SUPPORTED_KDFS.has(kdfId) ? '' : `KDF 0x${kdfId.toString(16)}`,
      SUPPORTED_AEADS.has(aeadId) ? '' : `AEAD 0x${aeadId.toString(16)}`,
    ].filter(Boolean);
    if (missing.length > 0) {
      test(`${name}: NOT CHECKED, unsupported ${missing.join(', ')}`, { skip: true });
      continue;
    }

    test(name, () => {
      const kem = provider.kem(kemId as KemId);
      const suite: HpkeSuite = {
        kem,
        kdf: provider.kdf(kdfId as KdfId),
        aead: aeadId === EXPORT_ONLY.id ? EXPORT_ONLY : provider.aead(aeadId as AeadId),
      };
      const info = bytes(v, 'info');
      const ikmE = bytes(v, 'ikmE');

      const ephemeral = kem.deriveKeyPair(ikmE);
      assertHex(ephemeral.privateKey, field(v, 'skEm'), 'skEm');
      assertHex(ephemeral.publicKey, field(v, 'pkEm'), 'pkEm');
      const recipient = kem.deriveKeyPair(bytes(v, 'ikmR'));
      assertHex(recipient.privateKey, field(v, 'skRm'), 'skRm');
      assertHex(recipient.publicKey, field(v, 'pkRm'), 'pkRm');
      assertHex(kem.publicKey(bytes(v, 'skRm')), field(v, 'pkRm'), 'pk(skRm)');

      const pkR = bytes(v, 'pkRm');
      const encap = kem.encap(pkR, ikmE);
      assertHex(encap.enc, field(v, 'enc'), 'encap enc');
      assertHex(encap.sharedSecret, field(v, 'shared_secret'), 'encap shared_secret');
      const decapped = kem.decap(bytes(v, 'enc'), bytes(v, 'skRm'));
      assertHex(decapped, field(v, 'shared_secret'), 'decap shared_secret');

      const schedule = keyScheduleBase(suite, bytes(v, 'shared_secret'), info);
      assertHex(schedule.keyScheduleContext, field(v, 'key_schedule_context'), 'ksc');
      assertHex(schedule.secret, field(v, 'secret'), 'secret');
      assertHex(schedule.key, field(v, 'key'), 'key');
      assertHex(schedule.baseNonce, field(v, 'base_nonce'), 'base_nonce');
      assertHex(schedule.exporterSecret, field(v, 'exporter_secret'), 'exporter_secret');

      const { enc, context: sender } = setupBaseS(suite, pkR, info, ikmE);
      assertHex(enc, field(v, 'enc'), 'SetupBaseS enc');
      const receiver = setupBaseR(suite, enc, bytes(v, 'skRm'), info);

      for (const e of section.encryptions) {
        const seq = int(e, 'sequence number');
        // The vectors skip sequence numbers; advance both sides with messages of our own.
        while (sender.sequence < seq) {
          const filler = sender.seal(new Uint8Array(0), Uint8Array.of(sender.sequence & 0xff));
          receiver.open(new Uint8Array(0), filler);
        }
        assert.equal(sender.sequence, seq, 'sender sequence');
        assert.equal(receiver.sequence, seq, 'receiver sequence');
        assertHex(computeNonce(schedule.baseNonce, seq), field(e, 'nonce'), `nonce ${seq}`);
        const ct = sender.seal(bytes(e, 'aad'), bytes(e, 'pt'));
        assertHex(ct, field(e, 'ct'), `ct ${seq}`);
        assertHex(receiver.open(bytes(e, 'aad'), bytes(e, 'ct')), field(e, 'pt'), `pt ${seq}`);
      }

      for (const x of section.exports) {
        const exporterContext = bytes(x, 'exporter_context');
        const length = int(x, 'L');
        const expected = field(x, 'exported_value');
        assertHex(sender.export(exporterContext, length), expected, 'sender export');
        assertHex(receiver.export(exporterContext, length), expected, 'receiver export');
      }

      if (suite.aead === EXPORT_ONLY) {
        assert.throws(
          () => sender.seal(new Uint8Array(0), new Uint8Array(1)),
          (e) => e instanceof MlsError && e.code === 'INVALID_STATE',
        );
      }
    });
  }
}
