import type { LeafNode } from '@trellis/mls';

/** A copy of `bytes` with byte `index` XORed with `mask`. */
export function flipped(bytes: Uint8Array, index: number, mask: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[index]! ^= mask;
  return out;
}

/** A copy of `bytes` with byte `index` set to `value`. */
export function withByte(bytes: Uint8Array, index: number, value: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[index] = value;
  return out;
}

/** The identity of a member's basic credential, as text (`userId|deviceId`). */
export function identityOf(leaf: LeafNode): string {
  const { credential } = leaf;
  if (!('identity' in credential)) throw new Error('not a basic credential');
  return new TextDecoder().decode(credential.identity);
}
