/** deserialization.json: RFC 9420 §2.1.2 variable-length integer headers. */
import { Reader, Writer } from '../../src/codec/index.js';
import { expectEqual, expectHex, hex, type VectorSuite } from './harness.js';

const suite: VectorSuite = {
  file: 'deserialization.json',
  check(entry: { vlbytes_header: string; length: number }) {
    const r = new Reader(hex(entry.vlbytes_header));
    expectEqual(r.varint(), entry.length, 'decoded length');
    r.done();
    const w = new Writer();
    w.varint(entry.length);
    expectHex(w.finish(), entry.vlbytes_header, 'encoded header');
  },
};
export default suite;
