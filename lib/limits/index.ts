/** Picks the limiter: Redis when `REDIS_URL` is set, else in memory. */
import { createMemoryLimiter } from "./memory/limiter.js";
import { createRedisLimiter } from "./redis/limiter.js";
import type { RateLimiter } from "./types.js";

export type { Decision, Limit, RateLimiter } from "./types.js";
export { createMemoryLimiter, createRedisLimiter };

/** The limiter configured by the environment. */
export function limiterFromEnv(env: NodeJS.ProcessEnv = process.env): RateLimiter {
  return env.REDIS_URL ? createRedisLimiter({ url: env.REDIS_URL }) : createMemoryLimiter();
}
