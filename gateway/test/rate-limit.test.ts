/** Tier rate limits at the gateway, shared through the real Redis. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { CryptoService, HashAlgorithm, HashRequestSchema } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { JobService } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import { pack } from "#test/support/jobs.js";
import { Tier } from "#gen/flowforge/common/v1/common_pb.js";
import { RetryInfoSchema } from "#gen/google/rpc/error_details_pb.js";
import { createServiceServer, register, type ServiceServer } from "#runtime/server.js";
import { createLogger } from "#runtime/logger.js";
import { createRedisLimiter } from "#limits/index.js";
import { createGateway, type Gateway } from "../gateway.js";
import { createKeyStore } from "../auth/key-store.js";
import { parseTierLimits } from "../policies/rate-limit.js";
import { pgliteDatabase, type TestDatabase } from "#test/support/databases.js";
import { connectClient, errorOf, grpcWebClient } from "#test/support/clients.js";

const logger = createLogger({ name: "test", level: "silent" });
const prefix = `fftest:${randomBytes(4).toString("hex")}:`;
let db: TestDatabase;
let backend: ServiceServer;
const gateways: Gateway[] = [];
const urls: string[] = [];
let free: string;
const batchKeys: string[] = [];

beforeAll(async () => {
  db = await pgliteDatabase();
  backend = createServiceServer({
    logger,
    services: [
      register(CryptoService, { hash: () => ({ digest: "ok" }) }),
      register(JobService, { submitJob: (req) => ({ job: { id: `items:${req.items.length}` } }) }),
    ],
  });
  const port = await backend.listen("127.0.0.1:0");
  // Two gateway replicas sharing one Redis: the limit holds across both.
  for (let i = 0; i < 2; i++) {
    const g = createGateway({
      sql: db.sql,
      logger,
      addresses: { crypto: `127.0.0.1:${port}`, jobs: `127.0.0.1:${port}` },
      adminKey: "operator",
      maxRequestBytes: 1 << 20,
      defaultTimeoutMs: 10_000,
      corsOrigins: ["*"],
      limiter: createRedisLimiter({ url: process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379", prefix }),
      tierLimits: parseTierLimits("free=1:3"),
    });
    gateways.push(g);
    urls.push(`http://127.0.0.1:${await g.listen(0, "127.0.0.1")}`);
  }
  const keys = createKeyStore({ sql: db.sql });
  free = (await keys.create({ tenantId: "t", name: "", tier: Tier.FREE, scopes: ["*"] })).secret;
  for (let i = 0; i < 3; i++)
    batchKeys.push((await keys.create({ tenantId: "t", name: `batch${i}`, tier: Tier.FREE, scopes: ["*"] })).secret);
});
afterAll(async () => {
  for (const g of gateways) await g.close();
  await backend?.shutdown({ graceMs: 100 });
  await db?.close();
});

describe("tier rate limits", () => {
  it("a free key gets its burst across replicas, then resource_exhausted with RetryInfo", async () => {
    const call = (i: number) =>
      connectClient(CryptoService, urls[i % 2], free).hash({ algorithm: HashAlgorithm.SHA256 });
    for (let i = 0; i < 3; i++) expect((await call(i)).digest).toBe("ok");
    const err = await errorOf(call(3));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(err.rawMessage).toMatch(/rate limit of 1 requests\/s \(burst 3\) for tier FREE exceeded/);
    const delay = err.findDetails(RetryInfoSchema)[0].retryDelay!;
    expect(Number(delay.seconds) * 1000 + delay.nanos / 1e6).toBeGreaterThan(0);
    expect(err.metadata.get("retry-after")).toBe("1");
  });

  const clients = [
    ["Connect JSON (fast path)", (key: string) => connectClient(JobService, urls[0], key)],
    ["Connect binary (fast path)", (key: string) => connectClient(JobService, urls[1], key, true)],
    ["gRPC-Web (connect-node)", (key: string) => grpcWebClient(JobService, urls[0], key)],
  ] as const;
  it.each(clients.map(([name, make], i) => [name, make, i] as const))(
    "a batch counts one request per item: %s",
    async (_name, make, i) => {
      const jobs = make(batchKeys[i]);
      const items = (n: number) =>
        Array.from({ length: n }, () => pack(HashRequestSchema, { algorithm: HashAlgorithm.SHA256 }));
      // Burst 3: a batch of 2 leaves one request.
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

  it("a batch larger than the burst waits for a full bucket, then leaves the key in debt", async () => {
    const key = batchKeys[0];
    const client = connectClient(JobService, urls[0], key);
    const ten = Array.from({ length: 10 }, () => pack(HashRequestSchema, {}));
    await new Promise((r) => setTimeout(r, 3100)); // refill the bucket (1/s, burst 3)
    expect((await client.submitJob({ method: "m", items: ten })).job!.id).toBe("items:10");
    // Seven requests of debt: the next call waits for about eight seconds' worth of tokens.
    const err = await errorOf(connectClient(CryptoService, urls[1], key).hash({}));
    expect(err.code).toBe(Code.ResourceExhausted);
    expect(Number(err.metadata.get("retry-after"))).toBeGreaterThanOrEqual(7);
  });

  it("the operator key (enterprise) is not limited", async () => {
    for (let i = 0; i < 10; i++)
      expect((await connectClient(CryptoService, urls[0], "operator").hash({})).digest).toBe("ok");
  });

  it("reads RATE_LIMITS and refuses nonsense", () => {
    expect(parseTierLimits("free=5,pro=50:70,enterprise=0")).toEqual({
      [Tier.FREE]: { ratePerSec: 5, burst: 10 },
      [Tier.PRO]: { ratePerSec: 50, burst: 70 },
    });
    expect(parseTierLimits("free=0")[Tier.FREE]).toBeUndefined();
    expect(() => parseTierLimits("gold=5")).toThrow(/RATE_LIMITS/);
  });
});
