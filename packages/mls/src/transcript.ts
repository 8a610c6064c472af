/**
 * Transcript hashes (RFC 9420 §8.2). Each commit extends two running hashes: the confirmed one
 * covers the commit up to its signature, the interim one adds the commit's confirmation tag.
 * Both start as the empty string.
 */
import { Writer } from './codec/index.js';
import type { CipherSuite } from './crypto/suites.js';
import { MlsError } from './errors.js';
import {
  ContentType,
  framedContentCodec,
  type AuthenticatedContent,
  type FramedContent,
  type WireFormat,
} from './framing/content.js';
import { concat } from './util/bytes.js';

/** `ConfirmedTranscriptHashInput`: wire_format, the commit's FramedContent, its signature. */
export function encodeConfirmedTranscriptHashInput(
  wireFormat: WireFormat,
  content: FramedContent,
  signature: Uint8Array,
): Uint8Array {
  if (content.contentType !== ContentType.commit) {
    throw new MlsError('WRONG_CONTENT_TYPE', 'only commits enter the transcript hash');
  }
  const w = new Writer();
  w.u16(wireFormat);
  framedContentCodec.encode(w, content);
  w.opaque(signature);
  return w.finish();
}

/** `InterimTranscriptHashInput`: the confirmation tag as `MAC confirmation_tag` (opaque<V>). */
export function encodeInterimTranscriptHashInput(confirmationTag: Uint8Array): Uint8Array {
  const w = new Writer(confirmationTag.length + 4);
  w.opaque(confirmationTag);
  return w.finish();
}

/** confirmed_transcript_hash_[n] = Hash(interim_transcript_hash_[n-1] || ConfirmedTranscriptHashInput_[n]) */
export function confirmedTranscriptHash(
  suite: CipherSuite,
  interimTranscriptHash: Uint8Array,
  wireFormat: WireFormat,
  content: FramedContent,
  signature: Uint8Array,
): Uint8Array {
  const input = encodeConfirmedTranscriptHashInput(wireFormat, content, signature);
  return suite.hash.digest(concat(interimTranscriptHash, input));
}

/** interim_transcript_hash_[n] = Hash(confirmed_transcript_hash_[n] || InterimTranscriptHashInput_[n]) */
export function interimTranscriptHash(
  suite: CipherSuite,
  confirmedTranscriptHash: Uint8Array,
  confirmationTag: Uint8Array,
): Uint8Array {
  const input = encodeInterimTranscriptHashInput(confirmationTag);
  return suite.hash.digest(concat(confirmedTranscriptHash, input));
}

/** The confirmed transcript hash a commit leads to, from its AuthenticatedContent. */
export function confirmedTranscriptHashOf(
  suite: CipherSuite,
  interimTranscriptHash: Uint8Array,
  commit: AuthenticatedContent,
): Uint8Array {
  return confirmedTranscriptHash(
    suite,
    interimTranscriptHash,
    commit.wireFormat,
    commit.content,
    commit.auth.signature,
  );
}

/** Both hashes a commit leads to; the commit must carry its confirmation tag. */
export function transcriptHashesAfter(
  suite: CipherSuite,
  interimTranscriptHashBefore: Uint8Array,
  commit: AuthenticatedContent,
): { confirmedTranscriptHash: Uint8Array; interimTranscriptHash: Uint8Array } {
  const tag = commit.auth.confirmationTag;
  if (tag === undefined) throw new MlsError('INVALID_COMMIT', 'commit without confirmation tag');
  const confirmed = confirmedTranscriptHashOf(suite, interimTranscriptHashBefore, commit);
  return {
    confirmedTranscriptHash: confirmed,
    interimTranscriptHash: interimTranscriptHash(suite, confirmed, tag),
  };
}
