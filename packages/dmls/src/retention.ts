/**
 * How long a superseded epoch keeps its secrets (ARCHITECTURE.md, "Retention").
 *
 * - For `forkWindowMs` after an epoch gets a successor it keeps its whole state: a commit sent
 *   concurrently on it may still arrive, and applying it needs the epoch's init secret and tree
 *   keys. Forks in a federated room come from commits crossing in flight, which takes seconds
 *   to minutes, so the default is 15 minutes.
 * - Then, for `messageWindowMs`, it keeps only what decrypts its application messages (the
 *   sender-data secret and the remaining keys of its secret tree): late or backfilled messages
 *   are still read, but no commit can be applied to it any more. Default: 7 days, what a
 *   device offline over a long weekend needs to catch up.
 * - Then nothing: the epoch's secrets are dropped from memory and deleted from the store, and
 *   its messages are refused with `EPOCH_EXPIRED`. Longer history is the key backup's job.
 *
 * Shorter windows give stronger forward secrecy; longer ones more tolerance for delay. The
 * application chooses.
 */
export interface RetentionPolicy {
  readonly forkWindowMs: number;
  readonly messageWindowMs: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = {
  forkWindowMs: 15 * 60 * 1000,
  messageWindowMs: 7 * 24 * 60 * 60 * 1000,
};

/** What a superseded epoch should hold `ageMs` after it got its first successor. */
export function retentionStage(
  policy: RetentionPolicy,
  ageMs: number,
): 'full' | 'messages' | 'none' {
  if (ageMs <= policy.forkWindowMs) return 'full';
  if (ageMs <= policy.forkWindowMs + policy.messageWindowMs) return 'messages';
  return 'none';
}
