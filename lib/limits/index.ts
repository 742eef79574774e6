/** Picks the limiter: Redis when configured, else in memory. */
import { createMemoryLimiter } from "./memory/limiter.js";
import { createRedisLimiter } from "./redis/limiter.js";
import type { RateLimiter } from "./types.js";

export type { Decision, RateLimiter, Window, WindowState } from "./types.js";
export { createMemoryLimiter, createRedisLimiter };

/** The limiter for a configuration: shared through Redis when `redisUrl` is set, else in memory. */
export function limiterFor(redisUrl: string | undefined): RateLimiter {
  return redisUrl ? createRedisLimiter({ url: redisUrl }) : createMemoryLimiter();
}
