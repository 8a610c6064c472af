/**
 * Whether a backup passphrase is weak. Whoever guesses it reads the whole backed-up history, and
 * can try guesses offline against the backup's key check: a passphrase needs to be long and not
 * built on a common password. The estimate is rough on purpose; it warns, it does not forbid.
 */

/** Passwords that guessers try first; a passphrase built on one is weak whatever it adds. */
const COMMON = [
  'password',
  'passw0rd',
  'qwerty',
  'azerty',
  '123456',
  'letmein',
  'iloveyou',
  'welcome',
  'admin',
  'abc123',
  'monkey',
  'dragon',
  'trellis',
] as const;

/** Bits below which a passphrase is weak (a random 12-character mixed password has about 70). */
const ENOUGH_BITS = 60;

/** Why `passphrase` is weak, or undefined when it is not. */
export function passphraseWeakness(passphrase: string): string | undefined {
  const chars = [...passphrase];
  if (chars.length < 12)
    return `it has ${chars.length} characters; use at least 12, better four or more random words`;
  if (new Set(chars).size < 6) return 'it repeats a few characters over and over';
  const lower = passphrase.toLowerCase();
  const common = COMMON.find((word) => lower.includes(word));
  if (common !== undefined && chars.length < 20)
    return `it is built on “${common}”, one of the first guesses anyone tries`;
  if (estimatedBits(chars) < ENOUGH_BITS)
    return 'it is short for the few kinds of characters it uses';
  return undefined;
}

/** Length times the bits of one character drawn from the classes the passphrase uses. */
function estimatedBits(chars: readonly string[]): number {
  let pool = 0;
  if (chars.some((c) => /[a-z]/.test(c))) pool += 26;
  if (chars.some((c) => /[A-Z]/.test(c))) pool += 26;
  if (chars.some((c) => /[0-9]/.test(c))) pool += 10;
  if (chars.some((c) => /[^a-zA-Z0-9]/.test(c))) pool += 33;
  return chars.length * Math.log2(Math.max(pool, 2));
}
