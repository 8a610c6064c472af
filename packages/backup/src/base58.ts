/**
 * Base58 with Bitcoin's alphabet, as the Matrix recovery-key format uses it.
 *
 * Written here rather than taken from npm: it is twenty lines over BigInt, it only ever sees
 * 35-byte inputs, and a recovery key is a secret, so fewer third-party hands on it is better.
 * Leading zero bytes become leading '1's and back, as in Bitcoin's encoding.
 */
export const BASE58_ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

const DIGIT_OF = new Map([...BASE58_ALPHABET].map((char, digit) => [char, BigInt(digit)]));
const BASE = 58n;

export function encodeBase58(bytes: Uint8Array): string {
  let zeros = 0;
  while (zeros < bytes.length && bytes[zeros] === 0) zeros++;
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  let digits = '';
  while (value > 0n) {
    digits = BASE58_ALPHABET[Number(value % BASE)]! + digits;
    value /= BASE;
  }
  return '1'.repeat(zeros) + digits;
}

/** The bytes `text` encodes, or undefined when it holds a character outside the alphabet. */
export function decodeBase58(text: string): Uint8Array | undefined {
  let zeros = 0;
  while (zeros < text.length && text[zeros] === '1') zeros++;
  let value = 0n;
  for (const char of text) {
    const digit = DIGIT_OF.get(char);
    if (digit === undefined) return undefined;
    value = value * BASE + digit;
  }
  const body: number[] = [];
  while (value > 0n) {
    body.push(Number(value & 0xffn));
    value >>= 8n;
  }
  const out = new Uint8Array(zeros + body.length);
  for (let i = 0; i < body.length; i++) out[out.length - 1 - i] = body[i]!;
  return out;
}
