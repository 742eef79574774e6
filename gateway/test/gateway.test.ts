/**
 * The gateway in-process in front of a real grpc-js service server over sockets, with a spy
 * CryptoService so what reaches the backend (deadline, tenant, request id) can be checked.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, createClient, type HandlerContext, type Transport } from "@connectrpc/connect";
import {
  compressionGzip,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { request } from "node:http";
import * as http2 from "node:http2";
import { brotliDecompressSync, gunzipSync, gzipSync } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  CryptoService,
  HashAlgorithm,
  HashRequestSchema,
  HashResponseSchema,
} from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { RequestInfoSchema } from "#gen/google/rpc/error_details_pb.js";
import { register } from "#runtime/server.js";
import { createLogger } from "#runtime/logger.js";
import { requestIdKey, tenantKey } from "#runtime/context.js";
import { createGateway } from "../gateway.js";
import { startTestGateways, type TestGateways } from "./setup.js";
import { Tier } from "#gen/flowforge/common/v1/common_pb.js";
import { pgliteDatabase, type TestDatabase } from "#test/support/databases.js";
import { connectClient, errorOf, grpcJsUnary } from "#test/support/clients.js";
import { freePort } from "#test/support/mesh.js";
import { createRedisLimiter } from "#limits/redis/limiter.js";
import { waitFor } from "#test/support/until.js";

const logger = createLogger({ name: "test", level: "silent" });
let db: TestDatabase;
let bed: TestGateways;
let url: string;
let tenantKeySecret: string;
const seenBytes: string[] = [];
const seen: { timeoutMs?: number; tenant: string; requestId: string; aborted: boolean }[] = [];

function record(ctx: HandlerContext) {
  const entry = {
    timeoutMs: ctx.timeoutMs(),
    tenant: ctx.values.get(tenantKey),
    requestId: ctx.values.get(requestIdKey),
    aborted: false,
  };
  ctx.signal.addEventListener("abort", () => (entry.aborted = true));
  seen.push(entry);
  return entry;
}

beforeAll(async () => {
  bed = await startTestGateways({
    services: [
      register(CryptoService, {
        hash(req, ctx) {
          record(ctx);
          seenBytes.push(Buffer.from(toBinary(HashRequestSchema, req)).toString("hex"));
          return { digest: req.input.case === "text" && req.input.value === "big" ? "s".repeat(4000) : "spy" };
        },
        async hashPassword(_req, ctx) {
          const entry = record(ctx);
          await new Promise((r) => setTimeout(r, 2000));
          return { hash: entry.aborted ? "aborted" : "done" };
        },
      }),
    ],
    gateway: { corsOrigins: ["https://console.example"], defaultTimeoutMs: 60_000 },
  });
  db = bed.db;
  [url] = bed.urls;
  tenantKeySecret = (await bed.keys.create({ tenantId: "tenant-a", name: "", tier: Tier.FREE, scopes: ["crypto"] }))
    .secret;
});
afterAll(() => bed?.close());

// Every unary call takes the unary transport, whatever its protocol, codec, compression or verb.
type Call = (
  method: "hash" | "hashPassword",
  req: object,
  opts: { timeoutMs?: number; requestId?: string; key?: string },
) => Promise<Record<string, unknown>>;
const protocols: [string, Call][] = [
  [
    "Connect JSON",
    (m, req, o) =>
      connectClient(CryptoService, url, o.key ?? tenantKeySecret)[m](req, {
        timeoutMs: o.timeoutMs,
        headers: o.requestId ? { "x-request-id": o.requestId } : {},
      }) as never,
  ],
  [
    "Connect binary",
    (m, req, o) =>
      connectClient(CryptoService, url, o.key ?? tenantKeySecret, true)[m](req, {
        timeoutMs: o.timeoutMs,
        headers: o.requestId ? { "x-request-id": o.requestId } : {},
      }) as never,
  ],
  [
    "gRPC",
    (m, req, o) =>
      grpcJsUnary(
        url.replace("http://", ""),
        CryptoService.method[m] as never,
        req as never,
        {
          authorization: `Bearer ${o.key ?? tenantKeySecret}`,
          ...(o.requestId ? { "x-request-id": o.requestId } : {}),
        },
        o.timeoutMs ? { deadline: Date.now() + o.timeoutMs } : {},
      ) as never,
  ],
];

/** A call through one of connect-node's client transports. */
const through =
  (transport: () => Transport): Call =>
  (m, req, o) =>
    createClient(CryptoService, transport())[m](req as never, {
      timeoutMs: o.timeoutMs,
      headers: {
        authorization: `Bearer ${o.key ?? tenantKeySecret}`,
        ...(o.requestId ? { "x-request-id": o.requestId } : {}),
      },
    }) as never;
protocols.push(
  ["gRPC-Web binary over HTTP/1.1", through(() => createGrpcWebTransport({ baseUrl: url, httpVersion: "1.1" }))],
  [
    "gRPC-Web JSON over HTTP/2",
    through(() => createGrpcWebTransport({ baseUrl: url, httpVersion: "2", useBinaryFormat: false })),
  ],
  [
    "gRPC, gzip",
    through(() => createGrpcTransport({ baseUrl: url, sendCompression: compressionGzip, compressMinBytes: 0 })),
  ],
  ["gRPC JSON", through(() => createGrpcTransport({ baseUrl: url, useBinaryFormat: false }))],
  [
    "Connect GET (where the method has no side effects), gzip",
    through(() =>
      createConnectTransport({
        baseUrl: url,
        httpVersion: "1.1",
        useHttpGet: true,
        sendCompression: compressionGzip,
        compressMinBytes: 0,
      }),
    ),
  ],
);

describe.each(protocols)("what reaches the backend over %s", (_name, call) => {
  it("the caller's deadline, the key's tenant and the request id", async () => {
    seen.length = 0;
    const res = await call("hash", { algorithm: HashAlgorithm.SHA256 }, { timeoutMs: 5000, requestId: "trace-me" });
    expect(res.digest).toBe("spy");
    expect(seen[0].tenant).toBe("tenant-a");
    expect(seen[0].requestId).toBe("trace-me");
    expect(seen[0].timeoutMs).toBeGreaterThan(3000);
    expect(seen[0].timeoutMs).toBeLessThanOrEqual(5000);
  });

  it("without a client deadline the gateway's default applies", async () => {
    seen.length = 0;
    await call("hash", {}, {});
    expect(seen[0].timeoutMs).toBeGreaterThan(50_000);
  });

  it("a finished REST call leaves nothing behind: no deadline timer waits out its minute (memory under load)", async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const rest = () =>
      fetch(`${url}/api/v1/crypto/hash`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer operator" },
        body: JSON.stringify({ algorithm: "sha256", text: "abc" }),
      }).then((r) => r.json());
    await rest();
    const before = timers();
    const answers = await Promise.all(Array.from({ length: 200 }, rest));
    expect(answers.every((a) => a.digest === "spy")).toBe(true);
    expect(timers() - before).toBeLessThan(50);
  });

  it("a short deadline cancels the backend call and answers deadline_exceeded", async () => {
    seen.length = 0;
    const err = await errorOf(call("hashPassword", { password: "x" }, { timeoutMs: 300 }));
    expect(err.code).toBe(Code.DeadlineExceeded);
    // The backend learns of it a moment later (a loaded machine: longer than any fixed wait).
    await waitFor(() => seen[0]?.aborted, { what: "the backend call cancelled" });
  });

  it("a wrong key never reaches the backend and the error carries the request id", async () => {
    seen.length = 0;
    const err = await errorOf(call("hash", {}, { key: "ffk_0000000000000000_wrong", requestId: "who-am-i" }));
    expect(err.code).toBe(Code.Unauthenticated);
    expect(err.findDetails(RequestInfoSchema)[0]?.requestId).toBe("who-am-i");
    expect(seen).toEqual([]);
  });
});

describe("errors answered in trailers", () => {
  // gRPC-Web and gRPC errors travel in trailers (or headers, trailers-only).
  it.each([
    ["gRPC-Web over HTTP/1.1", () => createGrpcWebTransport({ baseUrl: url, httpVersion: "1.1" })],
    ["gRPC-Web over HTTP/2", () => createGrpcWebTransport({ baseUrl: url, httpVersion: "2" })],
    [
      "compressed gRPC",
      () => createGrpcTransport({ baseUrl: url, sendCompression: compressionGzip, compressMinBytes: 0 }),
    ],
  ])("carry the request id once over %s, not once in the headers and again in the trailers", async (_, transport) => {
    const client = createClient(CryptoService, transport());
    // The spy backend does not implement Encrypt: its error passes back through the policies.
    const err = await errorOf(
      client.encrypt({}, { headers: { authorization: `Bearer ${tenantKeySecret}`, "x-request-id": "just-once" } }),
    );
    expect(err.code).toBe(Code.Unimplemented);
    expect(err.metadata.get("x-request-id")).toBe("just-once");
    expect(err.findDetails(RequestInfoSchema)[0]?.requestId).toBe("just-once");
  });
});

describe("the unary transport", () => {
  it("refuses what no protocol reads as connect-node does: a wrong verb, GET where a method has side effects, an unknown type or compression", async () => {
    const call = (path: string, init: RequestInit) =>
      fetch(`${url}/flowforge.crypto.v1.CryptoService/${path}`, {
        ...init,
        headers: { authorization: "Bearer operator", ...(init.headers as Record<string, string>) },
      });
    seen.length = 0;
    const put = await call("Hash", { method: "PUT", body: "{}", headers: { "content-type": "application/json" } });
    expect([put.status, put.headers.get("allow")]).toEqual([405, "GET, POST"]);
    const get = await call("HashPassword?encoding=json&message=%7B%7D", { method: "GET" });
    expect([get.status, get.headers.get("allow")]).toEqual([405, "POST"]);
    const text = await call("Hash", { method: "POST", body: "{}", headers: { "content-type": "text/plain" } });
    expect(text.status).toBe(415);
    const zstd = await call("Hash", {
      method: "POST",
      body: "{}",
      headers: { "content-type": "application/json", "content-encoding": "zstd" },
    });
    expect(zstd.status).toBe(501);
    expect(await zstd.json()).toMatchObject({
      code: "unimplemented",
      message: 'unknown compression "zstd": supported encodings are gzip,br',
    });
    expect(seen).toEqual([]);
  });

  it("compresses a large gRPC answer when the caller accepts it, and reads it back whole", async () => {
    const client = createClient(
      CryptoService,
      createGrpcTransport({ baseUrl: url, acceptCompression: [compressionGzip] }),
    );
    const res = await client.hash(
      { algorithm: HashAlgorithm.SHA256, input: { case: "text", value: "big" } },
      { headers: { authorization: "Bearer operator" } },
    );
    expect(res.digest).toBe("s".repeat(4000));
    const raw = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      const session = http2.connect(url);
      const body = toBinary(
        HashRequestSchema,
        create(HashRequestSchema, { algorithm: HashAlgorithm.SHA256, input: { case: "text", value: "big" } }),
      );
      const head = Buffer.alloc(5);
      head.writeUInt32BE(body.length, 1);
      const stream = session.request({
        ":method": "POST",
        ":path": "/flowforge.crypto.v1.CryptoService/Hash",
        "content-type": "application/grpc",
        te: "trailers",
        "grpc-accept-encoding": "gzip",
        authorization: "Bearer operator",
      });
      stream.on("response", (h) => resolve(h));
      stream.on("error", reject);
      stream.on("close", () => session.close());
      stream.resume();
      stream.end(Buffer.concat([head, body]));
    });
    expect(raw["grpc-encoding"]).toBe("gzip");
  });

  // These compare many calls, so they use the operator key (no rate limit).
  it("answers Connect JSON the same whether its body came compressed or not, errors naming the field included", async () => {
    const post = (body: string, contentType: string, gzip: boolean) =>
      fetch(`${url}/flowforge.crypto.v1.CryptoService/Hash`, {
        method: "POST",
        headers: {
          "content-type": contentType,
          authorization: "Bearer operator",
          "x-request-id": "same",
          ...(gzip ? { "content-encoding": "gzip" } : {}),
        },
        body: gzip ? gzipSync(body) : body,
      });
    const bodies = [
      JSON.stringify({ algorithm: "HASH_ALGORITHM_SHA256", text: "abc" }),
      JSON.stringify({ algoritm: "HASH_ALGORITHM_SHA256" }),
      JSON.stringify({ algorithm: "HASH_ALGORITHM_MD4" }),
      JSON.stringify({ text: 5 }),
      "not json",
      "",
    ];
    for (const body of bodies) {
      for (const contentType of ["application/json", "application/json; charset=utf-8"]) {
        seen.length = 0;
        const fast = await post(body, contentType, false);
        const fastText = await fast.text();
        const reached = seen.length;
        const slow = await post(body, contentType, true);
        expect([fast.status, fast.headers.get("content-type"), fastText]).toEqual([
          slow.status,
          slow.headers.get("content-type"),
          await slow.text(),
        ]);
        expect(reached).toBe(fast.status === 200 ? 1 : 0); // a body that does not decode never reaches the backend
      }
    }
  });

  it("compresses a large answer as the client accepts it, as connect-node does", async () => {
    const answer = (body: Buffer, headers: Record<string, string>) =>
      new Promise<{ encoding?: string; text: string }>((resolve, reject) => {
        const req = request(
          `${url}/flowforge.crypto.v1.CryptoService/Hash`,
          { method: "POST", headers: { authorization: "Bearer operator", ...headers } },
          (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (d) => chunks.push(d));
            res.on("end", () => {
              const raw = Buffer.concat(chunks);
              const encoding = res.headers["content-encoding"];
              resolve({
                encoding,
                text: (encoding === "gzip"
                  ? gunzipSync(raw)
                  : encoding === "br"
                    ? brotliDecompressSync(raw)
                    : raw
                ).toString("hex"),
              });
            });
          },
        );
        req.on("error", reject);
        req.end(body);
      });
    for (const [contentType, message] of [
      ["application/json", Buffer.from(JSON.stringify({ algorithm: "HASH_ALGORITHM_SHA256", text: "big" }))],
      [
        "application/proto",
        Buffer.from(
          toBinary(
            HashRequestSchema,
            create(HashRequestSchema, { algorithm: HashAlgorithm.SHA256, input: { case: "text", value: "big" } }),
          ),
        ),
      ],
    ] as const) {
      for (const accept of ["gzip, deflate, br", "br", "identity", ""]) {
        const headers = { "content-type": contentType, ...(accept ? { "accept-encoding": accept } : {}) };
        const fast = await answer(message, headers);
        const slow = await answer(gzipSync(message), { ...headers, "content-encoding": "gzip" }); // connect-node's path
        expect(fast).toEqual(accept === "" ? { ...slow, encoding: undefined } : slow); // (with none accepted, connect-node answers as the request came: gzip)
        expect(fast.encoding).toBe(accept.startsWith("gzip") ? "gzip" : accept === "br" ? "br" : undefined);
        expect(fast.text.length).toBeGreaterThan(8000);
      }
    }
  });

  it("does not decode the JSON of a caller it does not know: unauthenticated, not invalid_argument", async () => {
    const res = await fetch(`${url}/flowforge.crypto.v1.CryptoService/Hash`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "not json",
    });
    expect(res.status).toBe(401);
    expect((await res.json()).code).toBe("unauthenticated");
  });

  it("forwards the caller's bytes as they are, unknown fields included", async () => {
    seen.length = 0;
    // A HashRequest with an extra field 99 (varint 7) the gateway does not know.
    const body = Buffer.concat([
      Buffer.from(toBinary(HashRequestSchema, create(HashRequestSchema, { algorithm: HashAlgorithm.SHA256 }))),
      Buffer.from([0x98, 0x06, 0x07]),
    ]);
    const res = await fetch(`${url}/flowforge.crypto.v1.CryptoService/Hash`, {
      method: "POST",
      headers: { "content-type": "application/proto", authorization: `Bearer ${tenantKeySecret}` },
      body,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(fromBinary(HashResponseSchema, new Uint8Array(await res.arrayBuffer())).digest).toBe("spy");
    expect(seenBytes.at(-1)).toEqual(body.toString("hex"));
  });

  it("a body that is not the method's message is refused by the backend as invalid_argument", async () => {
    const res = await fetch(`${url}/flowforge.crypto.v1.CryptoService/Hash`, {
      method: "POST",
      headers: { "content-type": "application/proto", authorization: `Bearer ${tenantKeySecret}` },
      body: Buffer.from([0xff, 0xff, 0xff]),
    });
    expect(res.status).toBe(400);
    const err = await res.json();
    expect(err.code).toBe("invalid_argument");
    expect(err.details.map((d: { type: string }) => d.type)).toContain("google.rpc.RequestInfo");
  });

  it("a chunked binary body over the limit is refused with resource_exhausted, and the gateway stays up", async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        `${url}/flowforge.crypto.v1.CryptoService/Hash`,
        {
          method: "POST",
          headers: { "content-type": "application/proto", authorization: `Bearer ${tenantKeySecret}` },
        },
        (res) => {
          let text = "";
          res.on("data", (d) => (text += d));
          res.on("end", () => resolve({ status: res.statusCode!, body: text }));
        },
      );
      req.on("error", reject);
      const chunk = Buffer.alloc(64 * 1024, 1);
      for (let i = 0; i < 32; i++) req.write(chunk); // 2 MiB, no content-length: the limit is 1 MiB
      req.end();
    });
    expect(status).toBe(429);
    expect(JSON.parse(body)).toMatchObject({ code: "resource_exhausted" });
    expect((await connectClient(CryptoService, url, tenantKeySecret, true).hash({})).digest).toBe("spy");
  });

  it("a gzip-compressed Connect body still works (it takes connect-node's path)", async () => {
    const body = gzipSync(toBinary(HashRequestSchema, create(HashRequestSchema, { algorithm: HashAlgorithm.SHA256 })));
    const res = await fetch(`${url}/flowforge.crypto.v1.CryptoService/Hash`, {
      method: "POST",
      headers: {
        "content-type": "application/proto",
        "content-encoding": "gzip",
        authorization: `Bearer ${tenantKeySecret}`,
      },
      body,
    });
    expect(res.status).toBe(200);
    expect(fromBinary(HashResponseSchema, new Uint8Array(await res.arrayBuffer())).digest).toBe("spy");
  });
});

describe("CORS with an origin allow-list", () => {
  it("allows the listed origin and not others", async () => {
    const pre = (origin: string) =>
      fetch(`${url}/flowforge.crypto.v1.CryptoService/Hash`, {
        method: "OPTIONS",
        headers: { origin, "access-control-request-method": "POST" },
      });
    const ok = await pre("https://console.example");
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://console.example");
    const other = await pre("https://evil.example");
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("callers that give up", () => {
  it("a gRPC caller resetting its stream as its deadline passes leaves the gateway answering", async () => {
    // The caller's reset and the gateway's own deadline error race for the same stream; the
    // gateway must not write to a stream that is already gone (that would be an uncaught error).
    const session = http2.connect(url);
    const framed = Buffer.alloc(5); // an empty request message
    for (let i = 0; i < 200; i++) {
      const stream = session.request({
        ":method": "POST",
        ":path": "/flowforge.crypto.v1.CryptoService/HashPassword",
        "content-type": "application/grpc",
        te: "trailers",
        "grpc-timeout": "2m",
        authorization: "Bearer operator",
      });
      stream.on("error", () => {});
      stream.end(framed);
      await new Promise((r) => setTimeout(r, 2));
      stream.close(http2.constants.NGHTTP2_CANCEL);
    }
    session.close();
    expect((await connectClient(CryptoService, url, "operator").hash({})).digest).toBe("spy");
  });
});

describe("request size limit", () => {
  it("gRPC callers get resource_exhausted too", async () => {
    const err = await errorOf(
      grpcJsUnary(
        url.replace("http://", ""),
        CryptoService.method.hash,
        { input: { case: "data", value: new Uint8Array(2 * 1024 * 1024) } },
        { authorization: "Bearer operator" },
      ),
    );
    expect(err.code).toBe(Code.ResourceExhausted);
  });
});

describe("when a backend is down", () => {
  it("calls answer unavailable and /healthz answers 503", async () => {
    const deadPort = await freePort();
    const g = createGateway({
      sql: db.sql,
      logger,
      addresses: { crypto: `127.0.0.1:${deadPort}` },
      adminKey: "operator",
      maxRequestBytes: 1024,
      defaultTimeoutMs: 2000,
      corsOrigins: ["*"],
    });
    const gUrl = `http://127.0.0.1:${await g.listen(0, "127.0.0.1")}`;
    try {
      const err = await errorOf(connectClient(CryptoService, gUrl, "operator").hash({}));
      expect(err.code).toBe(Code.Unavailable);
      expect(err.rawMessage).toBe("the crypto service is unavailable");
      const health = await fetch(`${gUrl}/healthz`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ status: "NOT_SERVING", services: { crypto: "UNREACHABLE" } });
      // The status report: degraded (the database answers), the capability named.
      const status = await fetch(`${gUrl}/health`);
      expect(status.status).toBe(503);
      expect(await status.json()).toMatchObject({
        status: "degraded",
        checks: { database: { status: "healthy" }, crypto: { status: "unhealthy" } },
      });
    } finally {
      await g.close();
    }
  });

  /** What /health answers from a gateway with no backends and `options`, closed afterwards. */
  async function healthOf(options: Partial<Parameters<typeof createGateway>[0]>) {
    const g = createGateway({
      sql: db.sql,
      logger,
      addresses: {},
      maxRequestBytes: 1024,
      defaultTimeoutMs: 2000,
      corsOrigins: ["*"],
      ...options,
    });
    try {
      const res = await fetch(`http://127.0.0.1:${await g.listen(0, "127.0.0.1")}/health`);
      return { status: res.status, body: await res.json() };
    } finally {
      await g.close();
    }
  }

  it("/health checks the real Redis and NATS when configured, unhealthy without the database", async () => {
    const healthy = await healthOf({
      version: "9.9.9",
      limiter: createRedisLimiter({ url: process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379" }),
      natsUrl: process.env.TEST_NATS_URL ?? "nats://127.0.0.1:4222",
    });
    expect(healthy.status).toBe(200);
    expect(healthy.body).toMatchObject({
      status: "healthy",
      version: "9.9.9",
      checks: { database: { status: "healthy" }, redis: { status: "healthy" }, nats: { status: "healthy" } },
    });
    expect(healthy.body.uptime).toBeGreaterThanOrEqual(0);
    const degraded = await healthOf({ natsUrl: `nats://127.0.0.1:${await freePort()}` });
    expect(degraded).toMatchObject({
      status: 503,
      body: { status: "degraded", checks: { nats: { status: "unhealthy" } } },
    });
    expect(degraded.body.checks.redis).toEqual({ status: "healthy", mode: "in-memory" });
    // Without its database the gateway is unhealthy, whatever else answers.
    const gone = await pgliteDatabase();
    await gone.close();
    expect(await healthOf({ sql: gone.sql })).toMatchObject({
      status: 503,
      body: { status: "unhealthy", checks: { database: { status: "unhealthy" } } },
    });
  });
});
