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

  it("a cost counts that many requests; one above the burst needs a full bucket and leaves the key in debt", async () => {
    const limit = { ratePerSec: 10, burst: 5 };
    expect(await limiter.take("c1", limit, 3)).toMatchObject({ allowed: true, remaining: 2 });
    expect(await limiter.take("c1", limit, 3)).toMatchObject({ allowed: false, remaining: 0 });
    expect(await limiter.take("c1", limit, 2)).toMatchObject({ allowed: true, remaining: 0 });
    // 20 items against a burst of 5: refused until the bucket is full, then allowed, then 15 in debt.
    expect((await limiter.take("c2", limit, 4)).allowed).toBe(true);
    const big = await limiter.take("c2", limit, 20);
    expect(big.allowed).toBe(false);
    expect(big.retryAfterMs).toBeGreaterThan(300); // 4 tokens to refill at 10/s
    await new Promise((r) => setTimeout(r, 450));
    expect((await limiter.take("c2", limit, 20)).allowed).toBe(true);
    const after = await limiter.take("c2", limit);
    expect(after.allowed).toBe(false);
    expect(after.retryAfterMs).toBeGreaterThan(1200); // ~15 tokens of debt plus one, at 10/s
  });

  it("keeps keys apart", async () => {
    const limit = { ratePerSec: 1, burst: 1 };
    expect((await limiter.take("a", limit)).allowed).toBe(true);
    expect((await limiter.take("a", limit)).allowed).toBe(false);
    expect((await limiter.take("b", limit)).allowed).toBe(true);
  });
});
