/** A token bucket: `burst` tokens, regained at `perSecond`. Burst 0 turns the limit off. */
export interface Rate {
  burst: number;
  perSecond: number;
}

/**
 * Token buckets per key (the claimer): `burst` tokens, refilled at `perSecond`. Each server
 * process keeps its own buckets.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    readonly burst: number,
    readonly perSecond: number,
  ) {}

  /**
   * Takes `cost` tokens from `key`'s bucket, or returns how many milliseconds to wait until it
   * could. A limiter with burst 0 never refuses.
   */
  take(
    key: string,
    cost: number,
    now = Date.now(),
  ): { ok: true } | { ok: false; retryAfterMs: number } {
    if (this.burst === 0) return { ok: true };
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    const refilled = Math.min(
      this.burst,
      bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond,
    );
    if (refilled >= cost) {
      this.buckets.set(key, { tokens: refilled - cost, at: now });
      this.prune(now);
      return { ok: true };
    }
    this.buckets.set(key, { tokens: refilled, at: now });
    const missing = Math.min(cost, this.burst) - refilled;
    const retryAfterMs = this.perSecond > 0 ? Math.ceil((missing / this.perSecond) * 1000) : 60_000;
    return { ok: false, retryAfterMs: Math.max(1, retryAfterMs) };
  }

  /** Forgets full buckets now and then, so idle claimers cost no memory. */
  private prune(now: number): void {
    if (this.buckets.size < 10_000) return;
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.perSecond >= this.burst) this.buckets.delete(key);
    }
  }
}
