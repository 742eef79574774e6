/** In-process token buckets (the embedded default). */
import type { Decision, Limit, RateLimiter } from "../types.js";

/** Creates an in-memory limiter holding at most `maxKeys` buckets. */
export function createMemoryLimiter(maxKeys = 100_000): RateLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>();
  return {
    async take(key: string, limit: Limit): Promise<Decision> {
      const now = Date.now();
      const b = buckets.get(key) ?? { tokens: limit.burst, at: now };
      b.tokens = Math.min(limit.burst, b.tokens + ((now - b.at) / 1000) * limit.ratePerSec);
      b.at = now;
      if (buckets.size >= maxKeys && !buckets.has(key)) buckets.delete(buckets.keys().next().value!);
      buckets.set(key, b);
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return { allowed: true, remaining: Math.floor(b.tokens), retryAfterMs: 0 };
      }
      return { allowed: false, remaining: 0, retryAfterMs: Math.ceil(((1 - b.tokens) / limit.ratePerSec) * 1000) };
    },
    async close() {
      buckets.clear();
    },
  };
}
