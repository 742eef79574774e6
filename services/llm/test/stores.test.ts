/**
 * The LLM service's stores against the real components: usage and budgets in PostgreSQL (the
 * table the gateway reads back), and the response cache in Redis beside the in-memory one.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { postgresDatabase, type TestDatabase } from "#test/support/databases.js";
import { createMemoryCache, createRedisCache, type ResponseCache } from "../cache.js";
import { checkBudget, costOf, createMemoryUsageStore, createSqlUsageStore, type UsageStore } from "../usage.js";
import { llmConfig } from "../config.js";

let db: TestDatabase;
beforeAll(async () => {
  db = await postgresDatabase();
});
afterAll(() => db?.close());

const stores: [string, () => UsageStore][] = [
  ["PostgreSQL", () => createSqlUsageStore(db.sql)],
  ["memory", () => createMemoryUsageStore()],
];

describe.each(stores)("usage in %s", (_name, make) => {
  it("adds up a tenant's tokens per day and month, apart from other tenants'", async () => {
    const store = make();
    const tenant = `t-${randomUUID()}`;
    const call = (prompt: number, completion: number, who = tenant) =>
      store.record({
        tenant: who,
        keyId: "k1",
        provider: "openai",
        model: "echo",
        usage: { prompt, completion, cached: 1 },
        costUsd: 0.5,
      });
    await call(10, 5);
    await call(3, 2);
    await call(100, 100, `${tenant}-other`);
    expect(await store.spent(tenant)).toEqual({ today: 20, month: 20 });
  });

  it("a budget refuses once spent, per day and per month; '*' applies to every tenant", async () => {
    const store = make();
    const tenant = `t-${randomUUID()}`;
    await store.record({
      tenant,
      keyId: "",
      provider: "p",
      model: "m",
      usage: { prompt: 6, completion: 4, cached: 0 },
      costUsd: 0,
    });
    await expect(checkBudget(store, { [tenant]: { tokensPerDay: 11 } }, tenant)).resolves.toBeUndefined();
    const day = await checkBudget(store, { [tenant]: { tokensPerDay: 10 } }, tenant).catch((e) => e);
    expect(ConnectError.from(day).code).toBe(Code.ResourceExhausted);
    const month = await checkBudget(store, { "*": { tokensPerMonth: 10 } }, tenant).catch((e) => e);
    expect(ConnectError.from(month).rawMessage).toMatch(/10 tokens a month is spent \(10 used\)/);
    await expect(checkBudget(store, { "*": { tokensPerMonth: 10 } }, `${tenant}-fresh`)).resolves.toBeUndefined();
  });
});

it("PostgreSQL keeps one row per tenant, day, key and model, added to", async () => {
  const store = createSqlUsageStore(db.sql);
  const tenant = `t-${randomUUID()}`;
  for (let i = 0; i < 3; i++)
    await store.record({
      tenant,
      keyId: "k",
      provider: "openai",
      model: "echo",
      usage: { prompt: 2, completion: 1, cached: 1 },
      costUsd: 0.25,
    });
  const rows =
    await db.sql`SELECT calls, prompt_tokens, completion_tokens, cached_tokens, cost_usd::float8 AS cost FROM llm_usage WHERE tenant_id = ${tenant}`;
  expect(rows).toEqual([{ calls: "3", prompt_tokens: "6", completion_tokens: "3", cached_tokens: "3", cost: 0.75 }]);
});

it("cost follows the price table, cached prompt tokens at their own price", () => {
  const prices = { m: { prompt: 2, completion: 10, cached: 1 } };
  expect(costOf(prices, "m", { prompt: 1_000_000, completion: 100_000, cached: 500_000 })).toBeCloseTo(1 + 0.5 + 1, 10);
  expect(costOf(prices, "unpriced", { prompt: 5, completion: 5, cached: 0 })).toBe(0);
});

const caches: [string, () => ResponseCache | Promise<ResponseCache>][] = [
  ["memory", () => createMemoryCache(60)],
  ["Redis", () => createRedisCache("redis://127.0.0.1:6379", 60)],
];

describe.each(caches)("the response cache in %s", (_name, make) => {
  it("answers what was set, misses what was not", async () => {
    const cache = await make();
    const key = randomUUID();
    expect(await cache.get(key)).toBeUndefined();
    await cache.set(key, new Uint8Array([1, 2, 3]));
    expect([...((await cache.get(key)) ?? [])]).toEqual([1, 2, 3]);
    await cache.close();
  });
});

it("the memory cache keeps its newest entries only", async () => {
  const cache = createMemoryCache(60, 2);
  for (const k of ["a", "b", "c"]) await cache.set(k, new Uint8Array([k.charCodeAt(0)]));
  expect(await cache.get("a")).toBeUndefined();
  expect(await cache.get("c")).toBeDefined();
});

describe("configuration", () => {
  it.each([
    [{ LLM_MODELS: "{nope" }, /LLM_MODELS: must be a JSON object/],
    [
      { LLM_MODELS: JSON.stringify({ fast: { provider: "nowhere", model: "x" } }) },
      /fast.provider must name a configured provider/,
    ],
    [
      { OPENAI_API_KEY: "k", LLM_MODELS: JSON.stringify({ fast: { provider: "openai", fallbacks: ["ghost"] } }) },
      /fast.fallbacks names "ghost"/,
    ],
    [{ LLM_PROVIDERS: JSON.stringify({ vllm: { kind: "grpc" } }) }, /vllm.kind must be "openai" or "anthropic"/],
  ])("refuses %j naming the variable", (env, message) => {
    expect(() => llmConfig(env)).toThrow(message);
  });

  it("default is the first configured provider's model; extra providers and aliases come from JSON", () => {
    const config = llmConfig({
      ANTHROPIC_API_KEY: "k",
      LLM_PROVIDERS: JSON.stringify({ vllm: { kind: "openai", baseUrl: "http://vllm:8000/v1" } }),
      LLM_MODELS: JSON.stringify({
        big: { provider: "vllm", model: "llama-70b", contextWindow: 32000, fallbacks: ["anthropic"] },
      }),
    });
    expect(config.aliases.get("default")).toMatchObject({ provider: "anthropic", model: "claude-sonnet-4-5" });
    expect(config.aliases.get("big")).toMatchObject({
      provider: "vllm",
      model: "llama-70b",
      contextWindow: 32000,
      tools: true,
    });
    expect(config.providers.map((p) => p.name)).toEqual(["anthropic", "vllm"]);
  });
});
