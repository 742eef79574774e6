/**
 * `npm run bench`: one run, side by side, of the ceiling (raw node:http2 echo), connect-node's
 * own JSON echo, direct gRPC to CryptoService/Hash, and the gateway (Connect JSON with a key,
 * REST and gRPC) to the same method. h2load, 4 connections x 25 streams for throughput, 1 x 1 for
 * latency. Prints a table with the ratios and writes bench/out/latest.json.
 */
import type { ChildProcess } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, totalmem, tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { CryptoService, HashAlgorithm, HashRequestSchema } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { grpcJsUnary } from "#test/support/clients.js";
import { freePort, type Mesh, root, startMesh } from "#test/support/mesh.js";
import { startProcess } from "#test/support/process.js";
import { h2load, type LoadResult } from "./h2load.js";
import { startNginx } from "./nginx.js";
import { size, smoke } from "./measure.js";

const seconds = size("BENCH_SECONDS", 5, 1);
const children: ChildProcess[] = [];

async function serve(entry: string, env: NodeJS.ProcessEnv = {}): Promise<number> {
  const started = await startProcess(entry, { LOG_LEVEL: "warn", ...env }, { quiet: true });
  children.push(started.child);
  return started.port;
}

/** An enterprise key of tenant `bench` with a per-minute quota no run reaches (it is still counted). */
async function createTenantKey(m: Mesh): Promise<string> {
  const res = await fetch(`${m.url}/flowforge.admin.v1.AdminService/CreateApiKey`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${m.adminKey}` },
    body: JSON.stringify({ tenantId: "bench", tier: "TIER_ENTERPRISE", quota: { perMinute: 1_000_000_000 } }),
  });
  if (!res.ok) throw new Error(`CreateApiKey: HTTP ${res.status} ${await res.text()}`);
  return ((await res.json()) as { secret: string }).secret;
}

const dir = join(tmpdir(), `flowforge-bench-${process.pid}`);
await mkdir(dir, { recursive: true });
const text = "x".repeat(58); // a HashRequest of 64 bytes on the wire
const message = toBinary(
  HashRequestSchema,
  create(HashRequestSchema, { algorithm: HashAlgorithm.SHA256, input: { case: "text", value: text } }),
);
const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, message.length]), message]);
const files = {
  raw: join(dir, "raw.bin"),
  grpc: join(dir, "grpc.bin"),
  json: join(dir, "body.json"),
  rest: join(dir, "rest.json"),
};
await writeFile(files.raw, Buffer.alloc(64, 7));
await writeFile(files.grpc, framed);
await writeFile(files.json, JSON.stringify({ algorithm: "HASH_ALGORITHM_SHA256", text }));
await writeFile(files.rest, JSON.stringify({ algorithm: "sha256", text }));

const rawPort = await serve("bench/servers/raw-echo.ts");
const grpcEchoPort = await serve("bench/servers/grpc-js-echo.ts");
const echoPort = await serve("bench/servers/connect-echo.ts");
const cryptoPort = await serve("services/main.ts", { CAPABILITY: "crypto", PORT: String(await freePort()) });
// The capabilities measured (with the jobs service), not all eleven processes.
// Every policy on, as in production: an access-log line per call (info) and a tenant's key whose
// calls are metered and counted against its quota (the operator key skips the quota).
const mesh = await startMesh({ LOG_LEVEL: "info", FLOWFORGE_CAPABILITIES: "crypto" });
const tenantKey = await createTenantKey(mesh);
const frontPort = await serve("bench/servers/gateway-front.ts", { FLOWFORGE_ADMIN_KEY: mesh.adminKey });
// nginx's grpc_pass to the same crypto process as "direct", when nginx is installed: the hop the
// gateway's is measured against.
const nginx = await startNginx(cryptoPort, dir);
// The floor of a Node hop: node:http2 in, the gateway's unary channel out, nothing else.
const proxyPort = await serve("bench/servers/h2-proxy.ts", { BACKEND: `127.0.0.1:${cryptoPort}` });

// Every target must answer correctly before it is loaded.
const direct = await grpcJsUnary(`127.0.0.1:${cryptoPort}`, CryptoService.method.hash, {
  algorithm: HashAlgorithm.SHA256,
  input: { case: "text", value: text },
});
const viaGateway = await grpcJsUnary(
  `127.0.0.1:${mesh.port}`,
  CryptoService.method.hash,
  { algorithm: HashAlgorithm.SHA256, input: { case: "text", value: text } },
  { authorization: `Bearer ${tenantKey}` },
);
if (direct.digest !== viaGateway.digest || direct.digest.length !== 64) throw new Error("targets disagree");

const grpcHeaders = { "content-type": "application/grpc", te: "trailers" };
const jsonHeaders = { "content-type": "application/json" };
const auth = { authorization: `Bearer ${tenantKey}` };
const targets = [
  {
    name: "raw node:http2 echo (ceiling)",
    url: `http://127.0.0.1:${rawPort}/echo`,
    bodyFile: files.raw,
    headers: { "content-type": "application/octet-stream" },
  },
  {
    name: "connect-node JSON echo, in-process",
    url: `http://127.0.0.1:${echoPort}/flowforge.crypto.v1.CryptoService/Hash`,
    bodyFile: files.json,
    headers: jsonHeaders,
  },
  {
    name: "bare grpc-js echo (grpc-js ceiling)",
    url: `http://127.0.0.1:${grpcEchoPort}/flowforge.crypto.v1.CryptoService/Hash`,
    bodyFile: files.grpc,
    headers: grpcHeaders,
  },
  {
    name: "direct gRPC, CryptoService/Hash",
    url: `http://127.0.0.1:${cryptoPort}/flowforge.crypto.v1.CryptoService/Hash`,
    bodyFile: files.grpc,
    headers: grpcHeaders,
  },
  ...(nginx
    ? [
        {
          name: "nginx grpc_pass to direct gRPC, Hash",
          url: `http://127.0.0.1:${nginx.port}/flowforge.crypto.v1.CryptoService/Hash`,
          bodyFile: files.grpc,
          headers: grpcHeaders,
        },
      ]
    : []),
  {
    name: "bare node:http2 proxy to direct gRPC, Hash (no policies)",
    url: `http://127.0.0.1:${proxyPort}/flowforge.crypto.v1.CryptoService/Hash`,
    bodyFile: files.grpc,
    headers: grpcHeaders,
  },
  {
    name: "gateway Connect JSON + key, Hash",
    url: `${mesh.url}/flowforge.crypto.v1.CryptoService/Hash`,
    bodyFile: files.json,
    headers: { ...jsonHeaders, ...auth },
  },
  {
    name: "gateway REST + key, POST /api/v1/crypto/hash",
    url: `${mesh.url}/api/v1/crypto/hash`,
    bodyFile: files.rest,
    headers: { ...jsonHeaders, ...auth },
  },
  {
    name: "gateway front only (no backend hop), Connect JSON + key",
    url: `http://127.0.0.1:${frontPort}/flowforge.crypto.v1.CryptoService/Hash`,
    bodyFile: files.json,
    // Its own database knows the operator key only.
    headers: { ...jsonHeaders, authorization: `Bearer ${mesh.adminKey}` },
  },
  {
    name: "gateway gRPC + key, Hash",
    url: `${mesh.url}/flowforge.crypto.v1.CryptoService/Hash`,
    bodyFile: files.grpc,
    headers: { ...grpcHeaders, ...auth },
  },
];

const results: { name: string; throughput: LoadResult; latency: LoadResult }[] = [];
try {
  for (const t of targets) {
    const throughput = await h2load({ ...t, clients: 4, streams: 25, seconds });
    const latency = await h2load({
      ...t,
      clients: 1,
      streams: 1,
      seconds: Math.max(smoke ? 1 : 2, Math.round(seconds / 2)),
    });
    if (throughput.failed || latency.failed)
      throw new Error(`${t.name}: ${throughput.failed + latency.failed} failed requests`);
    results.push({ name: t.name, throughput, latency });
    console.error(`measured ${t.name}`);
  }
} finally {
  await mesh.stop();
  nginx?.stop();
  for (const c of children) c.kill("SIGKILL");
}

const by = (prefix: string) => results.find((r) => r.name.startsWith(prefix))!;
const ratios = {
  "gateway Connect JSON / connect-node JSON echo (target >= 0.6)":
    by("gateway Connect").throughput.reqPerSec / by("connect-node").throughput.reqPerSec,
  "direct gRPC / raw ceiling (target >= 0.6)": by("direct gRPC").throughput.reqPerSec / by("raw").throughput.reqPerSec,
  "gateway gRPC / direct gRPC": by("gateway gRPC").throughput.reqPerSec / by("direct gRPC").throughput.reqPerSec,
  "gateway REST / gateway Connect JSON (target >= 0.9)":
    by("gateway REST").throughput.reqPerSec / by("gateway Connect").throughput.reqPerSec,
  "bare grpc-js echo / raw ceiling": by("bare grpc-js").throughput.reqPerSec / by("raw").throughput.reqPerSec,
  "direct gRPC / bare grpc-js echo": by("direct gRPC").throughput.reqPerSec / by("bare grpc-js").throughput.reqPerSec,
  "gateway front only / connect-node JSON echo":
    by("gateway front").throughput.reqPerSec / by("connect-node").throughput.reqPerSec,
  "gateway gRPC / bare node:http2 proxy (what the policies and checks leave)":
    by("gateway gRPC").throughput.reqPerSec / by("bare node").throughput.reqPerSec,
  ...(nginx && {
    "gateway gRPC / nginx grpc_pass (target >= 0.9)":
      by("gateway gRPC").throughput.reqPerSec / by("nginx").throughput.reqPerSec,
    "bare node:http2 proxy / nginx grpc_pass (a Node hop's ceiling)":
      by("bare node").throughput.reqPerSec / by("nginx").throughput.reqPerSec,
  }),
};
/** What each hop adds to a call at one stream, in microseconds: the target is the gateway's at most 250. */
const added = (name: string) => by(name).latency.meanLatencyUs - by("direct gRPC").latency.meanLatencyUs;

const machine = `${cpus().length} x ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`;
console.log(`\nFlowForge bench, ${new Date().toISOString()}, ${machine}, h2load ${seconds}s per target\n`);
console.log("| target | req/s (4x25) | mean latency at 1 stream |");
console.log("| --- | ---: | ---: |");
for (const r of results)
  console.log(
    `| ${r.name} | ${Math.round(r.throughput.reqPerSec).toLocaleString("en")} | ${Math.round(r.latency.meanLatencyUs)} µs |`,
  );
console.log("\n| ratio | value |\n| --- | ---: |");
for (const [k, v] of Object.entries(ratios)) console.log(`| ${k} | ${v.toFixed(2)} |`);
console.log("\n| hop | added at 1 stream over direct gRPC |\n| --- | ---: |");
for (const name of [...(nginx ? ["nginx grpc_pass"] : []), "bare node:http2 proxy", "gateway gRPC"])
  console.log(`| ${name} | ${Math.round(added(name))} µs |`);
if (!nginx) console.log("\n(nginx is not installed: Debian's nginx-light adds its row)");

await mkdir(join(root, "bench/out"), { recursive: true });
await writeFile(
  join(root, "bench/out/latest.json"),
  JSON.stringify({ date: new Date().toISOString(), machine, seconds, results, ratios }, null, 2),
);
process.exit(0);
