/** Quota counters in Redis, shared by every gateway replica; one atomic Lua script per call. */
import { Redis } from "ioredis";
import { type Decision, decide, type RateLimiter, type Window, windowAt } from "../types.js";

// KEYS: one counter per window (its window index in the name). ARGV[1]: cost; then per window its
// limit and lifetime in seconds. All or none: counted in every window only if none goes over.
// Returns {allowed, count1, count2, ...}: the counts after (allowed) or before (refused).
const script = `
local cost = tonumber(ARGV[1])
local counts = {}
local allowed = 1
for i = 1, #KEYS do
  counts[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
  if counts[i] + cost > tonumber(ARGV[2 * i]) then allowed = 0 end
end
if allowed == 1 then
  for i = 1, #KEYS do
    counts[i] = redis.call('INCRBY', KEYS[i], cost)
    if counts[i] == cost then redis.call('EXPIRE', KEYS[i], tonumber(ARGV[2 * i + 1])) end
  end
end
return {allowed, unpack(counts)}
`;

/** Options for createRedisLimiter. */
export interface RedisLimiterOptions {
  url: string;
  /** Key prefix; tests use their own. Default `ff:q:`. */
  prefix?: string;
}

/** Connects to Redis. */
export function createRedisLimiter(options: RedisLimiterOptions): RateLimiter {
  const redis = new Redis(options.url, { maxRetriesPerRequest: 2, enableOfflineQueue: true, lazyConnect: false });
  const prefix = options.prefix ?? "ff:q:";
  redis.defineCommand("ffConsume", { lua: script });
  const run = redis as unknown as { ffConsume(keys: number, ...a: (string | number)[]): Promise<number[]> };
  return {
    store: "redis",
    async ping() {
      await redis.ping();
    },
    async consume(key: string, windows: Window[], cost = 1): Promise<Decision> {
      const now = Date.now();
      const keys = windows.map((w) => `${prefix}${key}:${w.name}:${windowAt(w, now).index}`);
      const args = windows.flatMap((w) => [w.limit, w.seconds + 60]);
      const [allowed, ...counts] = await run.ffConsume(keys.length, ...keys, cost, ...args);
      return decide(windows, counts, cost, allowed === 1, now);
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
