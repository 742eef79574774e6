/** The contract both limiters keep, against memory and the real Redis on 127.0.0.1:6379. */
import { afterAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { createMemoryLimiter, type RateLimiter } from "../index.js";
import { createRedisLimiter } from "../redis/limiter.js";
import { windowAt } from "../types.js";

const redisUrl = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const limiters: [string, () => RateLimiter][] = [
  ["memory", () => createMemoryLimiter()],
  ["redis", () => createRedisLimiter({ url: redisUrl, prefix: `fftest:${randomBytes(4).toString("hex")}:` })],
];

const perMinute = (limit: number) => ({ name: "minute", limit, seconds: 60 });
const perDay = (limit: number) => ({ name: "day", limit, seconds: 86_400 });

describe.each(limiters)("quota contract: %s", (_name, make) => {
  const limiter = make();
  afterAll(() => limiter.close());

  it("counts up to the limit, then refuses until the window resets", async () => {
    const decisions = [];
    for (let i = 0; i < 4; i++) decisions.push(await limiter.consume("k1", [perMinute(3)]));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(decisions.map((d) => d.windows[0].remaining)).toEqual([2, 1, 0, 0]);
    const reset = windowAt(perMinute(3), Date.now()).resetSeconds;
    expect(decisions[3].windows[0].resetSeconds).toBeGreaterThanOrEqual(reset - 1);
    expect(decisions[3].windows[0].resetSeconds).toBeLessThanOrEqual(60);
    expect(decisions[3].retryAfterMs).toBe(decisions[3].windows[0].resetSeconds * 1000);
  });

  it("every window at once, all or none: the day's limit refuses though the minute has room", async () => {
    const windows = [perMinute(10), perDay(4)];
    expect(await limiter.consume("k2", windows, 3)).toMatchObject({
      allowed: true,
      windows: [
        { name: "minute", remaining: 7 },
        { name: "day", remaining: 1 },
      ],
    });
    const refused = await limiter.consume("k2", windows, 2);
    expect(refused.allowed).toBe(false);
    // Nothing was counted: the minute still has 7, the day 1.
    expect(refused.windows.map((w) => w.remaining)).toEqual([7, 1]);
    expect(refused.retryAfterMs).toBe(refused.windows[1].resetSeconds * 1000);
    expect((await limiter.consume("k2", windows, 1)).windows.map((w) => w.remaining)).toEqual([6, 0]);
  });

  it("a window's count starts again in the next window", async () => {
    const window = { name: "second", limit: 1, seconds: 1 };
    expect((await limiter.consume("k3", [window])).allowed).toBe(true);
    expect((await limiter.consume("k3", [window])).allowed).toBe(false);
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));
    expect((await limiter.consume("k3", [window])).allowed).toBe(true);
  });

  it("keeps keys apart", async () => {
    expect((await limiter.consume("a", [perMinute(1)])).allowed).toBe(true);
    expect((await limiter.consume("a", [perMinute(1)])).allowed).toBe(false);
    expect((await limiter.consume("b", [perMinute(1)])).allowed).toBe(true);
  });
});
