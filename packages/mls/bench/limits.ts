/**
 * The physical limit of each figure of `npm run bench`: how long node:crypto itself takes for the
 * cryptographic work the operation needs (RFC 9420, cipher suite 1), measured in the same run.
 *
 * The primitives are timed on node:crypto directly, with every key imported once as a KeyObject
 * beforehand: the best node:crypto does on one core. An operation's work is a count of those
 * primitives (see the functions below), taken from the messages the operation actually produced
 * (how many HPKE ciphertexts its UpdatePath carries, how large its Welcome is, and so on).
 * Encoding, decoding, tree bookkeeping and everything else that is not cryptography is not in
 * the limit: it is what an implementation adds on top.
 */
import {
  createCipheriv,
  createHash,
  createHmac,
  diffieHellman,
  generateKeyPairSync,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';

export const PRIMITIVES = {
  sign: 'Ed25519 signature (100 B)',
  verify: 'Ed25519 verification (100 B)',
  x25519Keygen: 'X25519 key pair (one base-point multiplication)',
  x25519Dh: 'X25519 shared secret',
  hmac: 'HMAC-SHA-256 of 64 B (one HKDF extract or expand block)',
  sha256: 'SHA-256 of 256 B (one tree or parent hash)',
  aeadSmall: 'AES-128-GCM seal of 64 B',
  aead1KiB: 'AES-128-GCM seal of 1 KiB',
  aeadPerKiB: 'AES-128-GCM per KiB of a 256 KiB buffer',
} as const;

export type Primitive = keyof typeof PRIMITIVES;
/** Seconds per call of each primitive. */
export type PrimitiveTimes = Record<Primitive, number>;
/** How many calls of each primitive an operation needs (fractions for per-KiB work). */
export type Work = Partial<Record<Primitive, number>>;

/**
 * Seconds per call of `op`: the fastest of several samples of about `ms`/8 milliseconds each
 * (after a warm-up sample). Other work on the machine only ever slows a sample down, so the
 * fastest is the closest to what node:crypto can do.
 */
function secondsPerCall(op: () => unknown, ms: number): number {
  const sample = (budget: number) => {
    let calls = 0;
    let batch = 1;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < budget) {
      for (let i = 0; i < batch; i++) op();
      calls += batch;
      elapsed = performance.now() - start;
      if (elapsed < budget / 20) batch *= 2;
    }
    return elapsed / 1000 / calls;
  };
  sample(ms / 8);
  let best = Infinity;
  for (let i = 0; i < 8; i++) best = Math.min(best, sample(ms / 8));
  return best;
}

/** Times every primitive for about `msEach` milliseconds. */
export function measurePrimitives(msEach: number): PrimitiveTimes {
  const message = randomBytes(100);
  const ed = generateKeyPairSync('ed25519');
  const signature = sign(null, message, ed.privateKey);
  const x = generateKeyPairSync('x25519');
  const peer = generateKeyPairSync('x25519').publicKey;
  const key = randomBytes(16);
  const iv = randomBytes(12);
  const seal = (plaintext: Buffer) => () => {
    const cipher = createCipheriv('aes-128-gcm', key, iv);
    cipher.update(plaintext);
    cipher.final();
    return cipher.getAuthTag();
  };
  const small = randomBytes(64);
  const hashInput = randomBytes(256);
  const kib = randomBytes(1024);
  const big = randomBytes(256 * 1024);
  return {
    sign: secondsPerCall(() => sign(null, message, ed.privateKey), msEach),
    verify: secondsPerCall(() => verify(null, message, ed.publicKey, signature), msEach),
    x25519Keygen: secondsPerCall(() => generateKeyPairSync('x25519'), msEach),
    x25519Dh: secondsPerCall(
      () => diffieHellman({ privateKey: x.privateKey, publicKey: peer }),
      msEach,
    ),
    hmac: secondsPerCall(() => createHmac('sha256', key).update(small).digest(), msEach),
    sha256: secondsPerCall(() => createHash('sha256').update(hashInput).digest(), msEach),
    aeadSmall: secondsPerCall(seal(small), msEach),
    aead1KiB: secondsPerCall(seal(kib), msEach),
    aeadPerKiB: secondsPerCall(seal(big), msEach) / 256,
  };
}

export function workSeconds(work: Work, times: PrimitiveTimes): number {
  let total = 0;
  for (const [name, count] of Object.entries(work)) total += count * times[name as Primitive];
  return total;
}

/** The sum of several works. */
export function plus(...works: Work[]): Work {
  const out: Work = {};
  for (const work of works) {
    for (const [name, count] of Object.entries(work)) {
      out[name as Primitive] = (out[name as Primitive] ?? 0) + count;
    }
  }
  return out;
}

export function times(count: number, work: Work): Work {
  const out: Work = {};
  for (const [name, c] of Object.entries(work)) out[name as Primitive] = c * count;
  return out;
}

/** A short text of a work, largest counts first: "10000 verify + 20001 sha256 + …". */
export function describeWork(work: Work): string {
  return Object.entries(work)
    .filter(([, count]) => count > 0)
    .sort(([, a], [, b]) => b - a)
    .map(([name, count]) => `${Number.isInteger(count) ? count : count.toFixed(1)} ${name}`)
    .join(' + ');
}

// ---------------------------------------------------------------------------------------------
// The work of MLS operations, suite 1

/**
 * HPKE base mode, one seal or open (RFC 9180): DHKEM's ExtractAndExpand and the key schedule
 * take four extracts and four expands; the sender also makes an ephemeral key pair.
 */
const HPKE_SEAL: Work = { x25519Keygen: 1, x25519Dh: 1, hmac: 8, aeadSmall: 1 };
const HPKE_OPEN: Work = { x25519Dh: 1, hmac: 8, aeadSmall: 1 };
/** A path node: DeriveSecret "path" and "node", then DeriveKeyPair (an extract, an expand). */
const PATH_NODE: Work = { hmac: 4, x25519Keygen: 1 };
/**
 * The key schedule of a new epoch (§8): joiner, member and epoch secrets, the ten secrets derived
 * from the epoch secret, the confirmation tag; the two transcript hashes.
 */
const KEY_SCHEDULE: Work = { hmac: 16, sha256: 2 };
/** Per message, the secret tree ratchet (key, nonce, next secret) and the sender-data key and nonce. */
const MESSAGE_KEYS: Work = { hmac: 5 };

/** Encrypting one 1 KiB application message: sign, seal the content and the sender data. */
export const ENCRYPT_MESSAGE: Work = plus(MESSAGE_KEYS, { sign: 1, aead1KiB: 1, aeadSmall: 1 });
/** Decrypting one: open the sender data and the content, verify. */
export const DECRYPT_MESSAGE: Work = plus(MESSAGE_KEYS, { verify: 1, aead1KiB: 1, aeadSmall: 1 });
/** The same for a short text message (content under 64 B after padding). */
export const ENCRYPT_SHORT_MESSAGE: Work = plus(MESSAGE_KEYS, { sign: 1, aeadSmall: 2 });
export const DECRYPT_SHORT_MESSAGE: Work = plus(MESSAGE_KEYS, { verify: 1, aeadSmall: 2 });

export interface CommitFacts {
  /** Nodes of the UpdatePath (0 without a path). */
  pathNodes: number;
  /** HPKE ciphertexts in the UpdatePath. */
  pathCiphertexts: number;
  /** KeyPackages the commit adds (each checked: its signature and its leaf node's). */
  added: number;
  /** Bytes of the Welcome's encrypted GroupInfo (0 without a Welcome). */
  welcomeGroupInfoBytes: number;
  /** Depth of the tree: the nodes rehashed along a path. */
  depth: number;
}

/**
 * Creating a commit (§12.4.1): sign it (and the new leaf, with a path), tag it, derive the path
 * and encrypt its secrets, check the added KeyPackages, run the key schedule, and for a Welcome
 * sign and encrypt the GroupInfo and seal the group secrets to every new member.
 */
export function createCommitWork(f: CommitFacts): Work {
  const hasPath = f.pathNodes > 0;
  const welcome = f.welcomeGroupInfoBytes > 0;
  return plus(
    KEY_SCHEDULE,
    { sign: 1 + (hasPath ? 1 : 0) + (welcome ? 1 : 0), hmac: 1, verify: 2 * f.added },
    hasPath ? plus(times(f.pathNodes, PATH_NODE), { x25519Keygen: 1, sha256: 2 * f.depth }) : {},
    times(f.pathCiphertexts, HPKE_SEAL),
    welcome ? plus(times(f.added, HPKE_SEAL), { aeadPerKiB: f.welcomeGroupInfoBytes / 1024 }) : {},
  );
}

/**
 * Processing it as a member (§12.4.2): check the tag and signatures (the commit's, the new
 * leaf's, the added KeyPackages'), decrypt one path secret, derive the path from there up and
 * check each public key, verify the parent hashes, run the key schedule. `pathNodesFromOwn` is
 * how many path nodes lie at or above the one whose secret this member decrypts.
 */
export function processCommitWork(f: CommitFacts & { pathNodesFromOwn: number }): Work {
  const hasPath = f.pathNodes > 0;
  return plus(
    KEY_SCHEDULE,
    { verify: 1 + (hasPath ? 1 : 0) + 2 * f.added, hmac: 1 },
    hasPath ? plus(HPKE_OPEN, times(f.pathNodesFromOwn, PATH_NODE), { sha256: 2 * f.depth }) : {},
  );
}

export interface JoinFacts {
  members: number;
  /** Nodes of the tree (all hashed for the tree hash). */
  treeNodes: number;
  /** Non-blank parent nodes (each parent-hash checked). */
  parents: number;
  /** Bytes of the encrypted GroupInfo. */
  groupInfoBytes: number;
}

/**
 * Joining from a Welcome (§12.4.3.1): open the group secrets, decrypt the GroupInfo, verify its
 * signature and every leaf's, hash the whole tree and check every parent hash, run the key
 * schedule.
 */
export function joinWork(f: JoinFacts): Work {
  return plus(KEY_SCHEDULE, HPKE_OPEN, {
    aeadPerKiB: f.groupInfoBytes / 1024,
    verify: 1 + f.members,
    sha256: f.treeNodes + f.parents,
  });
}
