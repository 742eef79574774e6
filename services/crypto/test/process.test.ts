/** The crypto service as its own process, called directly over gRPC. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import { CryptoService, HashAlgorithm } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "#gen/grpc/health/v1/health_pb.js";
import { BadRequestSchema } from "#gen/google/rpc/error_details_pb.js";
import { errorOf, grpcJsUnary } from "#test/support/clients.js";
import { root } from "#test/support/mesh.js";
import { startProcess, type Started } from "#test/support/process.js";

const run = promisify(execFile);
let svc: Started;
let address: string;

beforeAll(async () => {
  svc = await startProcess("services/main.ts", {
    CAPABILITY: "crypto",
    PORT: "0",
    SHUTDOWN_DRAIN_MS: "1500",
    // In-flight calls must finish, however loaded the machine: a 256 MiB argon2 hash took over
    // the default 10 s grace while two other suites held both cores (a red CI run).
    SHUTDOWN_GRACE_MS: "90000",
  });
  address = `127.0.0.1:${svc.port}`;
});
afterAll(() => {
  if (svc?.child.exitCode === null) svc.child.kill("SIGKILL");
});

describe("crypto service over gRPC (grpc-js client, no gateway)", () => {
  it("answers Hash and names the field on bad input", async () => {
    const res = await grpcJsUnary(address, CryptoService.method.hash, {
      algorithm: HashAlgorithm.SHA256,
      input: { case: "text", value: "abc" },
    });
    expect(res.digest).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const err = await errorOf(
      grpcJsUnary(
        address,
        CryptoService.method.hash,
        { input: { case: "text", value: "abc" } },
        { "x-request-id": "direct-1" },
      ),
    );
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.findDetails(BadRequestSchema)[0].fieldViolations[0].field).toBe("algorithm");
    expect(err.metadata.get("x-request-id")).toBe("direct-1");
  });

  it("serves grpc.health.v1 and reflection (buf curl lists and calls without .proto files)", async () => {
    expect((await grpcJsUnary(address, Health.method.check, {})).status).toBe(
      HealthCheckResponse_ServingStatus.SERVING,
    );
    const buf = join(root, "node_modules/.bin/buf");
    const list = await run(buf, [
      "curl",
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "--list-services",
      `http://${address}`,
    ]);
    expect(list.stdout.trim().split("\n").sort()).toEqual([
      "flowforge.crypto.v1.CryptoService",
      "grpc.health.v1.Health",
    ]);
    const call = await run(buf, [
      "curl",
      "--protocol",
      "grpc",
      "--http2-prior-knowledge",
      "-d",
      '{"algorithm":"HASH_ALGORITHM_MD5","text":"abc"}',
      `http://${address}/flowforge.crypto.v1.CryptoService/Hash`,
    ]);
    expect(JSON.parse(call.stdout).digest).toBe("900150983cd24fb0d6963f7d28e17f72");
  });

  it("on SIGTERM goes NOT_SERVING first, finishes in-flight calls, then exits 0", async () => {
    const slow = grpcJsUnary(address, CryptoService.method.hashPassword, {
      password: "p",
      params: { memoryKib: 262_144, iterations: 3 },
    });
    await new Promise((r) => setTimeout(r, 100));
    svc.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 300));
    expect((await grpcJsUnary(address, Health.method.check, {})).status).toBe(
      HealthCheckResponse_ServingStatus.NOT_SERVING,
    );
    expect((await slow).hash).toMatch(/^\$argon2id\$/);
    expect(await svc.exited).toBe(0);
  }, 120_000);
});
