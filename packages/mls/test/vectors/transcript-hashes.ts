/**
 * transcript-hashes.json (RFC 9420 §8.2): a commit's confirmation tag verifies under the given
 * confirmation key against the confirmed transcript hash it leads to, and both hashes after the
 * commit are recomputed from the interim hash before it.
 */
import { decode } from '../../src/codec/index.js';
import { cipherSuite } from '../../src/crypto/suites.js';
import { authenticatedContentCodec, ContentType } from '../../src/framing/content.js';
import { verifyConfirmationTag } from '../../src/keySchedule.js';
import { transcriptHashesAfter } from '../../src/transcript.js';
import { expect, expectEqual, expectHex, hex, type VectorSuite } from './harness.js';

const suite: VectorSuite = {
  file: 'transcript-hashes.json',
  check(entry, provider) {
    const cs = cipherSuite(entry.cipher_suite, provider);
    const commit = decode(authenticatedContentCodec, hex(entry.authenticated_content));
    expectEqual(commit.content.contentType, ContentType.commit, 'content type');
    const tag = commit.auth.confirmationTag;
    expect(tag !== undefined, 'commit without confirmation tag');

    const after = transcriptHashesAfter(cs, hex(entry.interim_transcript_hash_before), commit);
    expectHex(after.confirmedTranscriptHash, entry.confirmed_transcript_hash_after, 'confirmed');
    expectHex(after.interimTranscriptHash, entry.interim_transcript_hash_after, 'interim');
    verifyConfirmationTag(
      cs,
      hex(entry.confirmation_key),
      hex(entry.confirmed_transcript_hash_after),
      tag,
    );
  },
};
export default suite;
