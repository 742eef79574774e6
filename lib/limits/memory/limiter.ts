/** In-process token buckets (the embedded default). */
import type { Decision, Limit, RateLimiter } from "../types.js";

/** Creates an in-memory limiter holding at most `maxKeys` buckets. */
export function createMemoryLimiter(maxKeys = 100_000): RateLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>();
  return {
    async take(key: string, limit: Limit, cost = 1): Promise<Decision> {
      const now = Date.now();
      const b = buckets.get(key) ?? { tokens: limit.burst, at: now };
      b.tokens = Math.min(limit.burst, b.tokens + ((now - b.at) / 1000) * limit.ratePerSec);
      b.at = now;
      if (buckets.size >= maxKeys && !buckets.has(key)) buckets.delete(buckets.keys().next().value!);
      buckets.set(key, b);
      const need = Math.min(cost, limit.burst);
      if (b.tokens >= need) {
        b.tokens -= cost;
        return { allowed: true, remaining: Math.max(0, Math.floor(b.tokens)), retryAfterMs: 0 };
      }
      return { allowed: false, remaining: 0, retryAfterMs: Math.ceil(((need - b.tokens) / limit.ratePerSec) * 1000) };
    },
    async close() {
      buckets.clear();
    },
  };
}
