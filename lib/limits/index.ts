/** Picks the limiter: Redis when configured, else in memory. */
import { createMemoryLimiter } from "./memory/limiter.js";
import type { RateLimiter } from "./types.js";

export type { Decision, RateLimiter, Window, WindowState } from "./types.js";
export { createMemoryLimiter };

/**
 * The limiter for a configuration: shared through Redis when `redisUrl` is set (the Redis client
 * is loaded only then; redis/limiter.ts), else in memory.
 */
export async function limiterFor(redisUrl: string | undefined): Promise<RateLimiter> {
  if (!redisUrl) return createMemoryLimiter();
  const { createRedisLimiter } = await import("./redis/limiter.js");
  return createRedisLimiter({ url: redisUrl });
}
