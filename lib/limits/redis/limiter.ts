/** Token buckets in Redis, shared by every gateway replica; one atomic Lua script per take. */
import { Redis } from "ioredis";
import type { Decision, Limit, RateLimiter } from "../types.js";

// KEYS[1] bucket; ARGV: rate per second, burst, now (ms), cost. Returns {allowed, remaining, retryAfterMs}.
// A cost above the burst needs a full bucket and leaves it in debt (negative tokens).
const script = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local need = math.min(cost, burst)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) / 1000 * rate)
local allowed = 0
local retry = 0
if tokens >= need then
  tokens = tokens - cost
  allowed = 1
else
  retry = math.ceil((need - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - math.min(tokens, 0)) / rate * 1000) + 1000)
return {allowed, allowed == 1 and math.max(0, math.floor(tokens)) or 0, retry}
`;

/** Options for createRedisLimiter. */
export interface RedisLimiterOptions {
  url: string;
  /** Key prefix; tests use their own. Default `ff:rl:`. */
  prefix?: string;
}

/** Connects to Redis. */
export function createRedisLimiter(options: RedisLimiterOptions): RateLimiter {
  const redis = new Redis(options.url, { maxRetriesPerRequest: 2, enableOfflineQueue: true, lazyConnect: false });
  const prefix = options.prefix ?? "ff:rl:";
  redis.defineCommand("ffTake", { numberOfKeys: 1, lua: script });
  return {
    async take(key: string, limit: Limit, cost = 1): Promise<Decision> {
      const [allowed, remaining, retryAfterMs] = (await (
        redis as unknown as { ffTake(...a: unknown[]): Promise<number[]> }
      ).ffTake(prefix + key, limit.ratePerSec, limit.burst, Date.now(), cost)) as number[];
      return { allowed: allowed === 1, remaining, retryAfterMs };
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
