/**
 * The gateway in-process in front of a real grpc-js service server over sockets, with a spy
 * CryptoService so what reaches the backend (deadline, tenant, request id) can be checked.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, type HandlerContext } from "@connectrpc/connect";
import { CryptoService, HashAlgorithm } from "../../gen/flowforge/crypto/v1/crypto_pb.js";
import { createServiceServer, register, type ServiceServer } from "../../lib/runtime/server.js";
import { createLogger } from "../../lib/runtime/logger.js";
import { requestIdKey, tenantKey } from "../../lib/runtime/context.js";
import { createGateway, type Gateway } from "../gateway.js";
import { createKeyStore } from "../auth/key-store.js";
import { Tier } from "../../gen/flowforge/common/v1/common_pb.js";
import { pgliteDatabase, type TestDatabase } from "../../test/support/databases.js";
import { connectClient, errorOf, grpcJsUnary } from "../../test/support/clients.js";
import { freePort } from "../../test/support/mesh.js";

const logger = createLogger({ name: "test", level: "silent" });
let db: TestDatabase;
let backend: ServiceServer;
let gateway: Gateway;
let url: string;
let tenantKeySecret: string;
const seen: { timeoutMs?: number; tenant: string; requestId: string; aborted: boolean }[] = [];

function record(ctx: HandlerContext) {
  const entry = { timeoutMs: ctx.timeoutMs(), tenant: ctx.values.get(tenantKey), requestId: ctx.values.get(requestIdKey), aborted: false };
  ctx.signal.addEventListener("abort", () => (entry.aborted = true));
  seen.push(entry);
  return entry;
}

beforeAll(async () => {
  db = await pgliteDatabase();
  backend = createServiceServer({
    logger,
    services: [
      register(CryptoService, {
        hash(_req, ctx) {
          record(ctx);
          return { digest: "spy" };
        },
        async hashPassword(_req, ctx) {
          const entry = record(ctx);
          await new Promise((r) => setTimeout(r, 2000));
          return { hash: entry.aborted ? "aborted" : "done" };
        },
      }),
    ],
  });
  const backendPort = await backend.listen("127.0.0.1:0");
  gateway = createGateway({
    sql: db.sql,
    logger,
    addresses: { crypto: `127.0.0.1:${backendPort}` },
    adminKey: "operator",
    maxRequestBytes: 1024 * 1024,
    defaultTimeoutMs: 60_000,
    corsOrigins: ["https://console.example"],
  });
  url = `http://127.0.0.1:${await gateway.listen(0, "127.0.0.1")}`;
  tenantKeySecret = (await createKeyStore({ sql: db.sql }).create({ tenantId: "tenant-a", name: "", tier: Tier.FREE, scopes: ["crypto"] })).secret;
});

afterAll(async () => {
  await gateway?.close();
  await backend?.shutdown({ graceMs: 100 });
  await db?.close();
});

describe("what reaches the backend", () => {
  it("the caller's deadline, the key's tenant and the request id", async () => {
    seen.length = 0;
    const client = connectClient(CryptoService, url, tenantKeySecret);
    const res = await client.hash({ algorithm: HashAlgorithm.SHA256 }, { timeoutMs: 5000, headers: { "x-request-id": "trace-me" } });
    expect(res.digest).toBe("spy");
    expect(seen[0].tenant).toBe("tenant-a");
    expect(seen[0].requestId).toBe("trace-me");
    expect(seen[0].timeoutMs).toBeGreaterThan(3000);
    expect(seen[0].timeoutMs).toBeLessThanOrEqual(5000);
  });

  it("without a client deadline the gateway's default applies", async () => {
    seen.length = 0;
    await connectClient(CryptoService, url, tenantKeySecret).hash({});
    expect(seen[0].timeoutMs).toBeGreaterThan(50_000);
  });

  it("a short deadline cancels the backend call and answers deadline_exceeded", async () => {
    seen.length = 0;
    const err = await errorOf(connectClient(CryptoService, url, tenantKeySecret).hashPassword({ password: "x" }, { timeoutMs: 300 }));
    expect(err.code).toBe(Code.DeadlineExceeded);
    await new Promise((r) => setTimeout(r, 300));
    expect(seen[0].aborted).toBe(true);
  });
});

describe("CORS with an origin allow-list", () => {
  it("allows the listed origin and not others", async () => {
    const pre = (origin: string) =>
      fetch(`${url}/flowforge.crypto.v1.CryptoService/Hash`, { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST" } });
    const ok = await pre("https://console.example");
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://console.example");
    const other = await pre("https://evil.example");
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("request size limit", () => {
  it("gRPC callers get resource_exhausted too", async () => {
    const err = await errorOf(
      grpcJsUnary(url.replace("http://", ""), CryptoService.method.hash, { input: { case: "data", value: new Uint8Array(2 * 1024 * 1024) } }, { authorization: "Bearer operator" }),
    );
    expect(err.code).toBe(Code.ResourceExhausted);
  });
});

describe("when a backend is down", () => {
  it("calls answer unavailable and /healthz answers 503", async () => {
    const deadPort = await freePort();
    const g = createGateway({ sql: db.sql, logger, addresses: { crypto: `127.0.0.1:${deadPort}` }, adminKey: "operator", maxRequestBytes: 1024, defaultTimeoutMs: 2000, corsOrigins: ["*"] });
    const gUrl = `http://127.0.0.1:${await g.listen(0, "127.0.0.1")}`;
    try {
      const err = await errorOf(connectClient(CryptoService, gUrl, "operator").hash({}));
      expect(err.code).toBe(Code.Unavailable);
      expect(err.rawMessage).toBe("the crypto service is unavailable");
      const health = await fetch(`${gUrl}/healthz`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ status: "NOT_SERVING", services: { crypto: "UNREACHABLE" } });
    } finally {
      await g.close();
    }
  });
});
