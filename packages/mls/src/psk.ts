/**
 * Pre-shared keys in the key schedule (RFC 9420 §8.4): the PSKs a commit or a Welcome names are
 * chained, in the order listed, into one `psk_secret`.
 */
import { Writer } from './codec/index.js';
import { expandWithLabel } from './crypto/labels.js';
import type { CipherSuite } from './crypto/suites.js';
import { MlsError } from './errors.js';
import { preSharedKeyIdCodec, type PreSharedKeyId } from './messages/preSharedKeyId.js';

/** One PSK to inject: its identifier as sent on the wire, and the key itself. */
export interface PskInput {
  readonly id: PreSharedKeyId;
  readonly psk: Uint8Array;
}

/** `PSKLabel` (§8.4): binds each PSK to its id and its position in the list. */
export interface PskLabel {
  readonly id: PreSharedKeyId;
  readonly index: number;
  readonly count: number;
}

export function encodePskLabel(label: PskLabel): Uint8Array {
  const w = new Writer();
  preSharedKeyIdCodec.encode(w, label.id);
  w.u16(label.index);
  w.u16(label.count);
  return w.finish();
}

/**
 * psk_secret_[0] = 0; psk_secret_[i] = Extract(psk_input_[i-1], psk_secret_[i-1]), where
 * psk_input_[i] = ExpandWithLabel(Extract(0, psk_[i]), "derived psk", PSKLabel, Nh).
 * With no PSKs this is the all-zero vector of length Nh.
 */
export function pskSecret(suite: CipherSuite, psks: readonly PskInput[]): Uint8Array {
  const nh = suite.kdf.size;
  // index and count are uint16 in PSKLabel.
  if (psks.length > 0xffff) throw new MlsError('INVALID_PSK', `${psks.length} PSKs are too many`);
  const zero = new Uint8Array(nh);
  let secret: Uint8Array = zero;
  psks.forEach(({ id, psk }, index) => {
    const extracted = suite.kdf.extract(zero, psk);
    const label = encodePskLabel({ id, index, count: psks.length });
    const input = expandWithLabel(suite, extracted, 'derived psk', label, nh);
    secret = suite.kdf.extract(input, secret);
  });
  return secret;
}
