/** Tier quotas at the gateway, counted through the real Redis by two replicas. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { CryptoService, HashAlgorithm, HashRequestSchema } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { JobService } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import { pack } from "#test/support/jobs.js";
import { Tier } from "#gen/flowforge/common/v1/common_pb.js";
import { QuotaFailureSchema, RetryInfoSchema } from "#gen/google/rpc/error_details_pb.js";
import { register } from "#runtime/server.js";
import { createRedisLimiter } from "#limits/redis/limiter.js";
import { defaultTierLimits, parseTierLimits, windowsFor } from "../policies/rate-limit.js";
import { startTestGateways, type TestGateways } from "./setup.js";
import { connectClient, errorOf, grpcWebClient } from "#test/support/clients.js";

const prefix = `fftest:${randomBytes(4).toString("hex")}:`;
let bed: TestGateways;
let urls: string[];
let free: string;
const batchKeys: string[] = [];

beforeAll(async () => {
  // Two gateway replicas sharing one Redis: the limit holds across both.
  bed = await startTestGateways({
    services: [
      register(CryptoService, { hash: () => ({ digest: "ok" }) }),
      register(JobService, { submitJob: (req) => ({ job: { id: `items:${req.items.length}` } }) }),
    ],
    capabilities: ["crypto", "jobs"],
    gateway: {
      limiter: createRedisLimiter({ url: process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379", prefix }),
      tierLimits: parseTierLimits("free=3:5"),
    },
    replicas: 2,
  });
  urls = bed.urls;
  free = (await bed.keys.create({ tenantId: "t", name: "", tier: Tier.FREE, scopes: ["*"] })).secret;
  for (let i = 0; i < 3; i++)
    batchKeys.push(
      (await bed.keys.create({ tenantId: "t", name: `batch${i}`, tier: Tier.FREE, scopes: ["*"] })).secret,
    );
});
afterAll(() => bed?.close());

/** Waits past a minute's last 10 s, so a test's calls fall in one minute window. */
async function awayFromMinuteEdge() {
  const into = Date.now() % 60_000;
  if (into > 50_000) await new Promise((r) => setTimeout(r, 60_000 - into + 50));
}

describe("tier quotas", () => {
  it("a free key gets its minute's quota across replicas, then resource_exhausted with RetryInfo and RateLimit headers", async () => {
    await awayFromMinuteEdge();
    const call = (i: number) =>
      connectClient(CryptoService, urls[i % 2], free).hash({ algorithm: HashAlgorithm.SHA256 });
    for (let i = 0; i < 3; i++) expect((await call(i)).digest).toBe("ok");
    const err = await errorOf(call(3));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.rawMessage).toMatch(/quota of 3 requests per minute for tier FREE used up/);
    const delay = err.findDetails(RetryInfoSchema)[0].retryDelay!;
    const retryAfter = Number(err.metadata.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(Number(delay.seconds)).toBe(retryAfter);
    expect(err.findDetails(QuotaFailureSchema)[0].violations[0].subject).toMatch(/^key:/);
    expect(err.metadata.get("ratelimit-policy")).toBe('"minute";q=3;w=60, "day";q=5;w=86400');
    expect(err.metadata.get("ratelimit")).toMatch(/^"minute";r=0;t=\d+, "day";r=2;t=\d+$/);
  });

  it("answers carry RateLimit-Policy and RateLimit; the day's quota holds when the minute has room", async () => {
    await awayFromMinuteEdge();
    const keys = bed.keys;
    const own = (
      await keys.create({ tenantId: "t", name: "own", tier: Tier.FREE, scopes: ["*"], quota: { perDay: 2 } })
    ).secret;
    const post = () =>
      fetch(`${urls[0]}/flowforge.crypto.v1.CryptoService/Hash`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${own}` },
        body: "{}",
      });
    const first = await post();
    expect(first.status).toBe(200);
    expect(first.headers.get("ratelimit-policy")).toBe('"minute";q=3;w=60, "day";q=2;w=86400');
    expect(first.headers.get("ratelimit")).toMatch(/^"minute";r=2;t=\d+, "day";r=1;t=\d+$/);
    expect((await post()).status).toBe(200);
    const refused = await post();
    expect(refused.status).toBe(429);
    expect((await refused.json()).message).toMatch(/per day/);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(60);
  });

  const clients = [
    ["Connect JSON", (key: string) => connectClient(JobService, urls[0], key)],
    ["Connect binary", (key: string) => connectClient(JobService, urls[1], key, true)],
    ["gRPC-Web (connect-node)", (key: string) => grpcWebClient(JobService, urls[0], key)],
  ] as const;
  it.each(clients.map(([name, make], i) => [name, make, i] as const))(
    "a batch counts one request per item: %s",
    async (_name, make, i) => {
      await awayFromMinuteEdge();
      const jobs = make(batchKeys[i]);
      const items = (n: number) =>
        Array.from({ length: n }, () => pack(HashRequestSchema, { algorithm: HashAlgorithm.SHA256 }));
      // 3 a minute: a batch of 2 leaves one request.
      expect((await jobs.submitJob({ method: "m", items: items(2) })).job!.id).toBe("items:2");
      const refused = await errorOf(jobs.submitJob({ method: "m", items: items(2) }));
      expect(refused.code).toBe(Code.ResourceExhausted);
      expect(refused.rawMessage).toMatch(/a batch of 2 items counts 2 requests/);
      expect((await jobs.submitJob({ method: "m", items: items(1) })).job!.id).toBe("items:1");
      expect((await errorOf(jobs.submitJob({ method: "m", request: items(1)[0] }))).code).toBe(Code.ResourceExhausted);
    },
  );

  it("a batch body that is not a SubmitJobRequest is invalid_argument, not internal", async () => {
    const res = await fetch(`${urls[0]}/flowforge.jobs.v1.JobService/SubmitJob`, {
      method: "POST",
      headers: { "content-type": "application/proto", authorization: `Bearer ${batchKeys[2]}` },
      body: Buffer.from([0xff, 0xff, 0xff]),
    });
    expect(res.status).toBe(400);
    expect((await res.json()).code).toBe("invalid_argument");
  });

  it("a batch larger than a whole window's quota is refused outright, naming the quota", async () => {
    const keys = bed.keys;
    const key = (await keys.create({ tenantId: "t", name: "big", tier: Tier.FREE, scopes: ["*"] })).secret;
    const ten = Array.from({ length: 10 }, () => pack(HashRequestSchema, {}));
    const err = await errorOf(connectClient(JobService, urls[0], key).submitJob({ method: "m", items: ten }));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.rawMessage).toMatch(/a batch of 10 items counts 10 requests, more than the 3 per minute of tier FREE/);
    expect(err.findDetails(QuotaFailureSchema)).toHaveLength(1);
    expect(err.findDetails(RetryInfoSchema)).toHaveLength(0);
    // Nothing was counted: the key still has its minute.
    expect((await connectClient(CryptoService, urls[1], key).hash({})).digest).toBe("ok");
  });

  it("the operator key is not counted", async () => {
    for (let i = 0; i < 10; i++)
      expect((await connectClient(CryptoService, urls[0], "operator").hash({})).digest).toBe("ok");
  });

  it("the default tiers, read from TIER_LIMITS, a key's own quota over its tier's", () => {
    expect(defaultTierLimits).toEqual({
      [Tier.FREE]: { perMinute: 100, perDay: 1000 },
      [Tier.BASIC]: { perMinute: 500, perDay: 10_000 },
      [Tier.PRO]: { perMinute: 2000, perDay: 50_000 },
      [Tier.ENTERPRISE]: { perMinute: 20_000, perDay: 0 },
    });
    const limits = parseTierLimits("basic=50:60,enterprise=0:0");
    expect(limits[Tier.BASIC]).toEqual({ perMinute: 50, perDay: 60 });
    expect(limits[Tier.FREE]).toEqual(defaultTierLimits[Tier.FREE]);
    const principal = { keyId: "k", tenantId: "t", scopes: ["*"] };
    expect(windowsFor({ ...principal, tier: Tier.BASIC }, limits)).toEqual([
      { name: "minute", limit: 50, seconds: 60 },
      { name: "day", limit: 60, seconds: 86_400 },
    ]);
    expect(windowsFor({ ...principal, tier: Tier.ENTERPRISE }, limits)).toEqual([]);
    expect(windowsFor({ ...principal, tier: Tier.UNSPECIFIED }, limits)[0].limit).toBe(100);
    expect(windowsFor({ ...principal, tier: Tier.PRO, quota: { perMinute: 7 } }, limits)).toEqual([
      { name: "minute", limit: 7, seconds: 60 },
      { name: "day", limit: 50_000, seconds: 86_400 },
    ]);
    expect(() => parseTierLimits("gold=5:5")).toThrow(/TIER_LIMITS/);
    expect(() => parseTierLimits("free=5")).toThrow(/TIER_LIMITS/);
  });
});
