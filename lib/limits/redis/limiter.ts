/** Token buckets in Redis, shared by every gateway replica; one atomic Lua script per take. */
import { Redis } from "ioredis";
import type { Decision, Limit, RateLimiter } from "../types.js";

// KEYS[1] bucket; ARGV: rate per second, burst, now (ms). Returns {allowed, remaining, retryAfterMs}.
const script = `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) / 1000 * rate)
local allowed = 0
local retry = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retry = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, math.floor(tokens), retry}
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
    async take(key: string, limit: Limit): Promise<Decision> {
      const [allowed, remaining, retryAfterMs] = (await (redis as unknown as { ffTake(...a: unknown[]): Promise<number[]> }).ffTake(
        prefix + key,
        limit.ratePerSec,
        limit.burst,
        Date.now(),
      )) as number[];
      return { allowed: allowed === 1, remaining, retryAfterMs };
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
