/** The contract both limiters keep, against memory and the real Redis on 127.0.0.1:6379. */
import { afterAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { createMemoryLimiter, createRedisLimiter, type RateLimiter } from "../index.js";

const redisUrl = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const limiters: [string, () => RateLimiter][] = [
  ["memory", () => createMemoryLimiter()],
  ["redis", () => createRedisLimiter({ url: redisUrl, prefix: `fftest:${randomBytes(4).toString("hex")}:` })],
];

describe.each(limiters)("rate limiter contract: %s", (_name, make) => {
  const limiter = make();
  afterAll(() => limiter.close());

  it("allows a burst, then refuses with the time until the next token", async () => {
    const limit = { ratePerSec: 2, burst: 3 };
    const decisions = [];
    for (let i = 0; i < 4; i++) decisions.push(await limiter.take("k1", limit));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(decisions.map((d) => d.remaining)).toEqual([2, 1, 0, 0]);
    expect(decisions[3].retryAfterMs).toBeGreaterThan(300);
    expect(decisions[3].retryAfterMs).toBeLessThanOrEqual(500);
  });

  it("refills at the rate", async () => {
    const limit = { ratePerSec: 20, burst: 1 };
    expect((await limiter.take("k2", limit)).allowed).toBe(true);
    expect((await limiter.take("k2", limit)).allowed).toBe(false);
    await new Promise((r) => setTimeout(r, 120));
    expect((await limiter.take("k2", limit)).allowed).toBe(true);
  });

  it("keeps keys apart", async () => {
    const limit = { ratePerSec: 1, burst: 1 };
    expect((await limiter.take("a", limit)).allowed).toBe(true);
    expect((await limiter.take("a", limit)).allowed).toBe(false);
    expect((await limiter.take("b", limit)).allowed).toBe(true);
  });
});
