import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

/**
 * Password hashing (scrypt). A login for an account that does not exist, or has no password,
 * does the same work against a stand-in hash, so the time taken does not tell which accounts
 * exist.
 */

const scryptAsync = promisify(scrypt) as (
  password: string,
  salt: Buffer,
  keylen: number,
  options: { N: number; r: number; p: number },
) => Promise<Buffer>;

const SCRYPT = { N: 16384, r: 8, p: 1 };
const HASH_BYTES = 32;

/** How many scrypt derivations this process ran: lets a test see that the work is equal. */
export const passwordWork = { derivations: 0 };

function derive(password: string, salt: Buffer, params: typeof SCRYPT, bytes: number) {
  passwordWork.derivations++;
  return scryptAsync(password, salt, bytes, params);
}

const format = (params: typeof SCRYPT, salt: Buffer, hash: Buffer) =>
  ['scrypt', params.N, params.r, params.p, salt.toString('base64'), hash.toString('base64')].join(
    '$',
  );

/** `scrypt$N$r$p$salt$hash`, base64 parts. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  return format(SCRYPT, salt, await derive(password, salt, SCRYPT, HASH_BYTES));
}

/**
 * A hash of the current parameters that no password matches (its hash part is random, not
 * derived): what a login is checked against when there is no stored hash.
 */
const STAND_IN = format(SCRYPT, randomBytes(16), randomBytes(HASH_BYTES));

/**
 * Whether `password` matches `stored`. With nothing stored (unknown account, or an account
 * without a password) it runs the same derivation against a stand-in and answers false.
 */
export async function verifyPassword(
  password: string,
  stored: string | null | undefined,
): Promise<boolean> {
  const usable = stored?.split('$').length === 6 && stored.startsWith('scrypt$');
  const parts = (usable ? stored : STAND_IN).split('$');
  const [, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hash, 'base64');
  const actual = await derive(
    password,
    Buffer.from(salt, 'base64'),
    { N: Number(n), r: Number(r), p: Number(p) },
    expected.length,
  );
  return usable && timingSafeEqual(actual, expected);
}
