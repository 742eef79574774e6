/**
 * The mesh as `npm start` runs it (launcher, PGlite over the wire, crypto service and gateway as
 * separate processes), called by every kind of client over real sockets.
 */
import { catalog } from "../../services/catalog.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "node:net";
import { Code } from "@connectrpc/connect";
import { CryptoService, HashAlgorithm } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { AdminService, ListApiKeysResponseSchema } from "#gen/flowforge/admin/v1/admin_pb.js";
import { toJsonString } from "@bufbuild/protobuf";
import { BadRequestSchema, RequestInfoSchema } from "#gen/google/rpc/error_details_pb.js";
import { Tier } from "#gen/flowforge/common/v1/common_pb.js";
import { startMesh, type Mesh } from "../support/mesh.js";
import { connectClient, errorOf, grpcJsUnary, grpcWebClient } from "../support/clients.js";
import { waitFor } from "#test/support/until.js";

const abcSha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
let mesh: Mesh;

beforeAll(async () => {
  mesh = await startMesh();
});
afterAll(() => mesh?.stop());

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${mesh.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });

describe("Connect JSON over fetch", () => {
  it("hashes with the admin key, as the README shows", async () => {
    const res = await post(
      "/flowforge.crypto.v1.CryptoService/Hash",
      { algorithm: "HASH_ALGORITHM_SHA256", text: "abc" },
      { authorization: `Bearer ${mesh.adminKey}` },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(await res.json()).toEqual({
      digest: abcSha256,
      algorithm: "HASH_ALGORITHM_SHA256",
      encoding: "ENCODING_HEX",
    });
  });

  it("answers GET for side-effect-free methods, with X-API-Key", async () => {
    const message = encodeURIComponent(JSON.stringify({ algorithm: "HASH_ALGORITHM_SHA256", text: "abc" }));
    const res = await fetch(`${mesh.url}/flowforge.crypto.v1.CryptoService/Hash?encoding=json&message=${message}`, {
      headers: { "x-api-key": mesh.adminKey },
    });
    expect(res.status).toBe(200);
    expect((await res.json()).digest).toBe(abcSha256);
  });

  it("refuses calls without a key, with a wrong key, and echoes the caller's request id inside the error", async () => {
    const none = await post("/flowforge.crypto.v1.CryptoService/Hash", { text: "abc" }, { "x-request-id": "req-123" });
    expect(none.status).toBe(401);
    expect(none.headers.get("x-request-id")).toBe("req-123");
    const body = await none.json();
    expect(body.code).toBe("unauthenticated");
    expect(body.details).toContainEqual(
      expect.objectContaining({ type: "google.rpc.RequestInfo", debug: { requestId: "req-123" } }),
    );
    const wrong = await post(
      "/flowforge.crypto.v1.CryptoService/Hash",
      { text: "abc" },
      { authorization: "Bearer ffk_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
    );
    expect((await wrong.json()).code).toBe("unauthenticated");
  });

  it("names the field for an unknown enum value, an unknown field and a missing input", async () => {
    const auth = { authorization: `Bearer ${mesh.adminKey}` };
    for (const [body, field] of [
      [{ algorithm: "HASH_ALGORITHM_MD4", text: "abc" }, "algorithm"],
      [{ algoritm: "HASH_ALGORITHM_SHA256", text: "abc" }, "algoritm"],
      [{ algorithm: "HASH_ALGORITHM_SHA256" }, "input"],
    ] as const) {
      const res = await post("/flowforge.crypto.v1.CryptoService/Hash", body, auth);
      expect(res.status).toBe(400);
      const err = await res.json();
      expect(err.code).toBe("invalid_argument");
      expect(err.message.startsWith(`${field}:`)).toBe(true);
      const violations = err.details.find((d: { type: string }) => d.type === "google.rpc.BadRequest").debug
        .fieldViolations;
      expect(violations[0].field).toBe(field);
      expect(err.details.some((d: { type: string }) => d.type === "google.rpc.RequestInfo")).toBe(true);
    }
  });

  it("refuses an over-size body with resource_exhausted before reading it", async () => {
    const res = await fetch(`${mesh.url}/flowforge.crypto.v1.CryptoService/Hash`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${mesh.adminKey}` },
      body: JSON.stringify({ algorithm: "HASH_ALGORITHM_SHA256", text: "x".repeat(33 * 1024 * 1024) }),
    });
    const err = await res.json();
    expect(err.code).toBe("resource_exhausted");
    expect(err.message).toMatch(/over the 33554432-byte limit/);
    // The gateway is still healthy afterwards.
    expect((await fetch(`${mesh.url}/healthz`)).status).toBe(200);
  });

  it("bounds a hostile 2 GB upload: answers at once, reads at most a bounded amount, stays up", async () => {
    const socket = connect(mesh.port, "127.0.0.1");
    await new Promise((r) => socket.once("connect", r));
    let response = "";
    socket.on("data", (d) => (response += d));
    socket.on("error", () => {});
    const closed = new Promise((r) => socket.once("close", r));
    socket.write(
      `POST /flowforge.crypto.v1.CryptoService/Hash HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
        `Authorization: Bearer ${mesh.adminKey}\r\nContent-Length: ${2 * 1024 ** 3}\r\n\r\n`,
    );
    const chunk = Buffer.alloc(1024 * 1024, 32);
    let sent = 0;
    while (!socket.destroyed && sent < 256 * 1024 * 1024) {
      if (!socket.write(chunk))
        await new Promise((r) => {
          socket.once("drain", r);
          socket.once("close", r);
        });
      sent += chunk.length;
    }
    await closed;
    expect(response).toMatch(/^HTTP\/1\.1 429/);
    expect(response).toContain('"code":"resource_exhausted"');
    expect(sent).toBeLessThan(256 * 1024 * 1024);
    expect((await fetch(`${mesh.url}/healthz`)).status).toBe(200);
  });

  it("refuses an over-size chunked body (no Content-Length) with resource_exhausted", async () => {
    const big = new Uint8Array(33 * 1024 * 1024).fill(32);
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"text":"'));
        for (let i = 0; i < big.length; i += 1024 * 1024) controller.enqueue(big.subarray(i, i + 1024 * 1024));
        controller.enqueue(new TextEncoder().encode('"}'));
        controller.close();
      },
    });
    const res = await fetch(`${mesh.url}/flowforge.crypto.v1.CryptoService/Hash`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${mesh.adminKey}` },
      body,
      duplex: "half",
    } as RequestInit);
    expect((await res.json()).code).toBe("resource_exhausted");
  });

  it("answers CORS preflights for browsers", async () => {
    const res = await fetch(`${mesh.url}/flowforge.crypto.v1.CryptoService/Hash`, {
      method: "OPTIONS",
      headers: {
        origin: "http://console.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type",
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
    expect(res.headers.get("access-control-allow-methods")).toContain("POST");
  });

  it("exposes Prometheus metrics per method, code and protocol", async () => {
    await connectClient(CryptoService, mesh.url)
      .hash({})
      .catch(() => undefined);
    const text = await (await fetch(`${mesh.url}/metrics`)).text();
    expect(text).toMatch(
      /flowforge_rpc_requests_total\{method="flowforge\.crypto\.v1\.CryptoService\/Hash",code="ok",protocol="connect"\} [1-9]\d*/,
    );
    expect(text).toMatch(
      /flowforge_rpc_requests_total\{method="flowforge\.crypto\.v1\.CryptoService\/Hash",code="Unauthenticated",protocol="connect"\} [1-9]\d*/,
    );
    expect(text).toContain("flowforge_rpc_duration_seconds_bucket");
    expect(text).toContain("flowforge_gateway_process_cpu_seconds_total");
  });

  it("healthz reports every service serving", async () => {
    const res = await fetch(`${mesh.url}/healthz`);
    expect(res.status).toBe(200);
    const running = {
      state: "running",
      restarts: 0,
      crashes: 0,
      pid: expect.any(Number),
      metricsPort: expect.any(Number),
    };
    expect(await res.json()).toEqual({
      status: "SERVING",
      services: Object.fromEntries(Object.keys(catalog).map((name) => [name, "SERVING"])),
      database: "SERVING",
      processes: { ...Object.fromEntries(Object.keys(catalog).map((name) => [name, running])), gateway: running },
    });
  });
});

describe("LlmService with no provider configured (npm start as it comes)", () => {
  it("answers failed_precondition naming the variables to set, and an empty model list", async () => {
    const res = await post(
      "/flowforge.llm.v1.LlmService/Chat",
      { model: "default", messages: [{ role: "ROLE_USER", content: "Say hi" }] },
      { authorization: `Bearer ${mesh.adminKey}` },
    );
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.code).toBe("failed_precondition");
    expect(body.message).toMatch(/OPENAI_BASE_URL.*ANTHROPIC_API_KEY.*LLM_LOCAL_MODEL/);
    const models = await fetch(`${mesh.url}/v1/models`, { headers: { authorization: `Bearer ${mesh.adminKey}` } });
    expect(await models.json()).toEqual({ object: "list", data: [] });
  });
});

describe("every protocol gives the same results and the same errors", () => {
  const request = { algorithm: HashAlgorithm.SHA256, input: { case: "text" as const, value: "abc" } };
  const bad = { input: { case: "text" as const, value: "abc" } };
  const calls = () => {
    const address = `127.0.0.1:${mesh.port}`;
    const auth = { authorization: `Bearer ${mesh.adminKey}` };
    return {
      "connect json": (r: typeof request | typeof bad) => connectClient(CryptoService, mesh.url, mesh.adminKey).hash(r),
      "connect binary": (r: typeof request | typeof bad) =>
        connectClient(CryptoService, mesh.url, mesh.adminKey, true).hash(r),
      "grpc-web (connect-web)": (r: typeof request | typeof bad) =>
        grpcWebClient(CryptoService, mesh.url, mesh.adminKey).hash(r),
      "grpc (grpc-js) via gateway": (r: typeof request | typeof bad) =>
        grpcJsUnary(address, CryptoService.method.hash, r, auth),
    };
  };

  it("digest of 'abc'", async () => {
    for (const [name, call] of Object.entries(calls())) {
      expect((await call(request)).digest, name).toBe(abcSha256);
    }
  });

  it("invalid_argument naming `algorithm`, with the request id", async () => {
    for (const [name, call] of Object.entries(calls())) {
      const err = await errorOf(call(bad));
      expect(err.code, name).toBe(Code.InvalidArgument);
      expect(err.rawMessage, name).toBe("algorithm: is required");
      expect(err.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.field, name).toBe("algorithm");
      expect(err.findDetails(RequestInfoSchema)[0]?.requestId, name).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it("unauthenticated without a key", async () => {
    const address = `127.0.0.1:${mesh.port}`;
    for (const call of [
      () => connectClient(CryptoService, mesh.url).hash(request),
      () => grpcWebClient(CryptoService, mesh.url).hash(request),
      () => grpcJsUnary(address, CryptoService.method.hash, request),
    ]) {
      expect((await errorOf(call())).code).toBe(Code.Unauthenticated);
    }
  });
});

describe("API keys through AdminService", () => {
  it("creates a scoped key that works, lists it, and revokes it", async () => {
    const admin = connectClient(AdminService, mesh.url, mesh.adminKey);
    const created = await admin.createApiKey({ tenantId: "acme", name: "n8n", tier: Tier.PRO, scopes: ["crypto"] });
    expect(created.secret).toMatch(/^ffk_/);
    expect(created.apiKey).toMatchObject({ tenantId: "acme", name: "n8n", tier: Tier.PRO, scopes: ["crypto"] });
    const crypto = connectClient(CryptoService, mesh.url, created.secret);
    expect((await crypto.hash({ algorithm: HashAlgorithm.SHA256, input: { case: "text", value: "abc" } })).digest).toBe(
      abcSha256,
    );
    // The tenant key cannot administer keys.
    expect((await errorOf(connectClient(AdminService, mesh.url, created.secret).listApiKeys({}))).code).toBe(
      Code.PermissionDenied,
    );
    const listed = await admin.listApiKeys({ tenantId: "acme" });
    expect(listed.apiKeys.map((k) => k.id)).toContain(created.apiKey!.id);
    expect(toJsonString(ListApiKeysResponseSchema, listed)).not.toContain(created.secret.slice(21));
    await admin.revokeApiKey({ id: created.apiKey!.id });
    expect(
      (await errorOf(crypto.hash({ algorithm: HashAlgorithm.SHA256, input: { case: "text", value: "abc" } }))).code,
    ).toBe(Code.Unauthenticated);
  });

  it("a key without the crypto scope is refused with permission_denied", async () => {
    const admin = connectClient(AdminService, mesh.url, mesh.adminKey);
    const { secret } = await admin.createApiKey({ tenantId: "acme", scopes: ["jobs"] });
    const err = await errorOf(
      connectClient(CryptoService, mesh.url, secret).hash({
        algorithm: HashAlgorithm.SHA256,
        input: { case: "text", value: "x" },
      }),
    );
    expect(err.code).toBe(Code.PermissionDenied);
    expect(err.rawMessage).toContain('"crypto"');
  });

  it("refuses bad admin input naming the field", async () => {
    const admin = connectClient(AdminService, mesh.url, mesh.adminKey);
    const err = await errorOf(admin.createApiKey({ tenantId: "no spaces allowed" }));
    expect(err.findDetails(BadRequestSchema)[0].fieldViolations[0].field).toBe("tenant_id");
    const scope = await errorOf(admin.createApiKey({ tenantId: "t", scopes: ["nope"] }));
    expect(scope.findDetails(BadRequestSchema)[0].fieldViolations[0].field).toBe("scopes[0]");
    expect((await errorOf(admin.revokeApiKey({ id: "0123456789abcdef" }))).code).toBe(Code.NotFound);
  });
});

describe("secrets stay out of the logs", () => {
  it("no key, password or passphrase appears in any log line (the admin key is printed once, outside the log)", async () => {
    const crypto = connectClient(CryptoService, mesh.url, mesh.adminKey);
    await errorOf(crypto.encrypt({ keySource: { case: "passphrase", value: "hunter2-passphrase" } }));
    await crypto.hashPassword({ password: "hunter2-password", params: { memoryKib: 8192, iterations: 1 } });
    await connectClient(CryptoService, mesh.url, mesh.adminKey).hash(
      { algorithm: HashAlgorithm.MD5, input: { case: "text", value: "x" } },
      { headers: { "x-request-id": "log-me-1" } },
    );
    // The access-log line of the last call arrives through the gateway's stdout pipe.
    await waitFor(() => mesh.output().includes('"requestId":"log-me-1"'), { what: "the access-log line of log-me-1" });
    const lines = mesh
      .output()
      .split("\n")
      .filter((l) => l.startsWith("{"));
    const out = lines.join("\n");
    expect(out).toContain('"msg":"gateway listening"');
    // Every call is logged with its request id, method and outcome.
    const call = lines.map((l) => JSON.parse(l)).find((l) => l.requestId === "log-me-1");
    expect(call).toMatchObject({
      msg: "call",
      method: "flowforge.crypto.v1.CryptoService/Hash",
      code: "ok",
      tenant: "admin",
    });
    expect(mesh.output().split(mesh.adminKey).length).toBe(2);
    // Nothing above crashed a process (the launcher would have restarted it).
    expect(mesh.output()).not.toContain('"msg":"process exited"');
    expect(out).not.toContain(mesh.adminKey.slice(8));
    expect(out).not.toContain("hunter2");
  });
});
