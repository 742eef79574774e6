/**
 * The gateway's hop against nginx's and a bare Node proxy's, CPU per call of the process in the
 * middle (less noisy than req/s on a shared machine): the same crypto process behind nginx
 * `grpc_pass`, `bench/servers/h2-proxy.ts` and the gateway (tenant key, access log at info, every
 * policy on), gRPC Hash loaded by h2load at 4 × 25 for `SECS` seconds (default 5) after a warm-up,
 * then at 1 × 1 for the latency. `ONLY=gateway` measures one target. `node --import tsx bench/tools/hop.ts`.
 */
import type { ChildProcess } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { HashAlgorithm, HashRequestSchema } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { freePort, startMesh } from "#test/support/mesh.js";
import { startProcess } from "#test/support/process.js";
import { h2load } from "../h2load.js";
import { startNginx } from "../nginx.js";
import { cpuByProcess } from "./cpu.js";

const seconds = Number(process.env.SECS ?? 5);
const dir = join(tmpdir(), `flowforge-hop-${process.pid}`);
await mkdir(dir, { recursive: true });
const message = toBinary(
  HashRequestSchema,
  create(HashRequestSchema, { algorithm: HashAlgorithm.SHA256, input: { case: "text", value: "x".repeat(58) } }),
);
const bodyFile = join(dir, "grpc.bin");
await writeFile(bodyFile, Buffer.concat([Buffer.from([0, 0, 0, 0, message.length]), message]));

const children: ChildProcess[] = [];
const serve = async (entry: string, env: NodeJS.ProcessEnv) => {
  const started = await startProcess(entry, { LOG_LEVEL: "warn", ...env }, { quiet: true });
  children.push(started.child);
  return started.port;
};
const cryptoPort = await serve("services/main.ts", { CAPABILITY: "crypto", PORT: String(await freePort()) });
const mesh = await startMesh({ LOG_LEVEL: "info", FLOWFORGE_CAPABILITIES: "crypto" });
const created = await fetch(`${mesh.url}/flowforge.admin.v1.AdminService/CreateApiKey`, {
  method: "POST",
  headers: { "content-type": "application/json", authorization: `Bearer ${mesh.adminKey}` },
  body: JSON.stringify({ tenantId: "bench", tier: "TIER_ENTERPRISE", quota: { perMinute: 1_000_000_000 } }),
});
const key = ((await created.json()) as { secret: string }).secret;
const nginx = await startNginx(cryptoPort, dir);
const proxyPort = await serve("bench/servers/h2-proxy.ts", { BACKEND: `127.0.0.1:${cryptoPort}` });

const path = "/flowforge.crypto.v1.CryptoService/Hash";
const grpc = { "content-type": "application/grpc", te: "trailers" };
const targets = [
  ...(nginx ? [{ name: "nginx", role: "nginx", url: `http://127.0.0.1:${nginx.port}${path}`, headers: grpc }] : []),
  { name: "h2-proxy", role: "h2-proxy", url: `http://127.0.0.1:${proxyPort}${path}`, headers: grpc },
  { name: "gateway", role: "gateway", url: `${mesh.url}${path}`, headers: { ...grpc, authorization: `Bearer ${key}` } },
].filter((t) => !process.env.ONLY || t.name === process.env.ONLY);
try {
  const direct = await h2load({
    url: `http://127.0.0.1:${cryptoPort}${path}`,
    bodyFile,
    headers: grpc,
    clients: 1,
    streams: 1,
    seconds: 2,
  });
  console.log(`direct: ${Math.round(direct.meanLatencyUs)} µs at 1 × 1`);
  for (const t of targets) {
    const load = { ...t, bodyFile, clients: 4, streams: 25 };
    await h2load({ ...load, seconds: 2 });
    const before = cpuByProcess();
    const run = await h2load({ ...load, seconds });
    const after = cpuByProcess();
    const us = (role: string) =>
      Math.round((((after.get(role) ?? 0) - (before.get(role) ?? 0)) / run.succeeded) * 1000);
    const one = await h2load({ ...t, bodyFile, clients: 1, streams: 1, seconds: 2 });
    console.log(
      `${t.name}: ${Math.round(run.reqPerSec)} req/s at 4 × 25, ${us(t.role)} µs CPU/call in it (crypto+other ${us("other")}), ` +
        `${Math.round(one.meanLatencyUs)} µs at 1 × 1 (adds ${Math.round(one.meanLatencyUs - direct.meanLatencyUs)})`,
    );
  }
} finally {
  await mesh.stop();
  nginx?.stop();
  for (const c of children) c.kill("SIGKILL");
}
