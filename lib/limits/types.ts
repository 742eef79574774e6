/**
 * Rate limits: a token bucket per key. Two adapters with the same file names: `memory/`
 * (embedded, one process) and `redis/` (shared by every gateway replica); one contract test
 * suite runs against both.
 */

/** A bucket's shape: `ratePerSec` tokens refill each second, up to `burst`. */
export interface Limit {
  ratePerSec: number;
  burst: number;
}

/** The outcome of taking tokens. */
export interface Decision {
  allowed: boolean;
  /** Tokens left after this one (0 when refused). */
  remaining: number;
  /** When refused, how long until a token is available. */
  retryAfterMs: number;
}

/** A rate limiter. */
export interface RateLimiter {
  /**
   * Takes `cost` tokens (default 1) from `key`'s bucket. A cost above the burst needs a full
   * bucket and leaves it in debt, so the key waits until the whole cost has refilled.
   */
  take(key: string, limit: Limit, cost?: number): Promise<Decision>;
  close(): Promise<void>;
}
