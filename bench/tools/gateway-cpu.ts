/**
 * CPU per unary call through the gateway, per process: the mesh, `CryptoService/Hash` loaded with
 * h2load (4 × 25 streams) for `SECS` seconds (default 5) after a 3-second warm-up, in `PROTOCOL`
 * `json` (Connect JSON, the default), `proto` (Connect binary) or `grpc`; `CALL=evaluate` loads
 * `MathService/Evaluate` (Connect JSON) instead.
 * `node --import tsx bench/tools/gateway-cpu.ts`.
 */
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { HashAlgorithm, HashRequestSchema } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { startMesh } from "#test/support/mesh.js";
import { h2load } from "../h2load.js";
import { cpuByProcess, reportCpu } from "./cpu.js";

const protocol = process.env.PROTOCOL ?? "json";
const text = "x".repeat(58);
const binary = toBinary(
  HashRequestSchema,
  create(HashRequestSchema, { algorithm: HashAlgorithm.SHA256, input: { case: "text", value: text } }),
);
const bodies: Record<string, { body: Uint8Array | string; headers: Record<string, string> }> = {
  json: {
    body: JSON.stringify({ algorithm: "HASH_ALGORITHM_SHA256", text }),
    headers: { "content-type": "application/json" },
  },
  proto: { body: binary, headers: { "content-type": "application/proto" } },
  grpc: {
    body: Buffer.concat([Buffer.from([0, 0, 0, 0, binary.length]), binary]),
    headers: { "content-type": "application/grpc", te: "trailers" },
  },
};
const evaluate = process.env.CALL === "evaluate";
if (evaluate) {
  bodies.json = {
    body: JSON.stringify({ expression: "sqrt(16) + x * 2", variables: { x: 3 } }),
    headers: { "content-type": "application/json" },
  };
}
const chosen = bodies[protocol];
if (!chosen) throw new Error(`PROTOCOL must be one of ${Object.keys(bodies).join(", ")}`);
const bodyFile = join(tmpdir(), `flowforge-gateway-cpu-${process.pid}.bin`);
await writeFile(bodyFile, chosen.body);
const mesh = await startMesh({ LOG_LEVEL: "warn" });
const target = {
  url: `${mesh.url}/${evaluate ? "flowforge.math.v1.MathService/Evaluate" : "flowforge.crypto.v1.CryptoService/Hash"}`,
  bodyFile,
  headers: { ...chosen.headers, authorization: `Bearer ${mesh.adminKey}` },
  clients: 4,
  streams: 25,
};
await h2load({ ...target, seconds: 3 });
const before = cpuByProcess();
const t0 = performance.now();
const load = await h2load({ ...target, seconds: Number(process.env.SECS ?? 5) });
const after = cpuByProcess();
console.log(`${protocol}: ${Math.round(load.reqPerSec)} req/s, ${load.failed} failed`);
reportCpu(before, after, load.succeeded, "call", performance.now() - t0);
await mesh.stop();
