/**
 * What quotas and usage metering cost the gateway per call, against the gateway's whole CPU per
 * call in the same run (issue 11: together at most 10 %).
 * 1. The mesh, CryptoService/Hash over Connect JSON with a tenant key (counted and metered, its
 *    quota too large to refuse): the gateway process's CPU per call.
 * 2. In this process, the same policy chain with and without the quota and usage policies, each
 *    call through it 100 at a time: the CPU difference per call, with quotas in memory (what the
 *    mesh runs) and in the real Redis (what replicas share).
 * 3. Each policy of the chain, added one at a time in the gateway's order: its CPU per call.
 * `node --import tsx bench/tools/policy-cost.ts` (`SECS`, default 5).
 */
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createContextValues } from "@connectrpc/connect";
import { Tier } from "#gen/flowforge/common/v1/common_pb.js";
import { CryptoService } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { migrate } from "#db/migrate.js";
import { createMemoryLimiter } from "#limits/index.js";
import { createRedisLimiter } from "#limits/redis/limiter.js";
import { createLogger } from "#runtime/logger.js";
import { pgliteDatabase } from "#test/support/databases.js";
import { startMesh } from "#test/support/mesh.js";
import type { Principal } from "../../gateway/auth/key-store.js";
import { principalKey } from "../../gateway/policies/auth.js";
import { chainPolicies, type Policy, type RequestHeaders, type TransportCall } from "../../gateway/policies/policy.js";
import { defaultTierLimits, rateLimitPolicy } from "../../gateway/policies/rate-limit.js";
import { usagePolicy } from "../../gateway/policies/usage.js";
import { requestIdPolicy } from "../../gateway/policies/request-id.js";
import { createGatewayMetrics } from "../../gateway/policies/metrics.js";
import { accessLogPolicy } from "../../gateway/policies/access-log.js";
import { authPolicy } from "../../gateway/policies/auth.js";
import { createKeyStore } from "../../gateway/auth/key-store.js";
import { pino } from "pino";
import { createMeter } from "../../gateway/usage/meter.js";
import { h2load } from "../h2load.js";
import { cpuByProcess } from "./cpu.js";

const seconds = Number(process.env.SECS ?? 5);
const logger = createLogger({ name: "bench", level: "silent" });

// 1. The gateway's CPU per call with a counted, metered tenant key.
const mesh = await startMesh({ LOG_LEVEL: "warn" });
let gatewayUsPerCall: number;
try {
  const created = await fetch(`${mesh.url}/api/v1/admin/keys`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${mesh.adminKey}` },
    body: JSON.stringify({ tenantId: "bench", tier: "pro", quota: { perMinute: 2e9, perDay: 2e9 } }),
  });
  const { secret } = (await created.json()) as { secret: string };
  const bodyFile = join(tmpdir(), `flowforge-policy-cost-${process.pid}.json`);
  await writeFile(bodyFile, JSON.stringify({ algorithm: "HASH_ALGORITHM_SHA256", text: "x".repeat(58) }));
  const target = {
    url: `${mesh.url}/flowforge.crypto.v1.CryptoService/Hash`,
    bodyFile,
    headers: { "content-type": "application/json", authorization: `Bearer ${secret}` },
    clients: 4,
    streams: 25,
  };
  await h2load({ ...target, seconds: 2 });
  const before = cpuByProcess().get("gateway") ?? 0;
  const load = await h2load({ ...target, seconds });
  const after = cpuByProcess().get("gateway") ?? 0;
  if (load.failed) throw new Error(`${load.failed} calls failed`);
  gatewayUsPerCall = ((after - before) / load.succeeded) * 1000;
  console.log(`gateway, tenant key: ${Math.round(load.reqPerSec)} req/s, ${gatewayUsPerCall.toFixed(0)} µs CPU/call`);
} finally {
  await mesh.stop();
}

// 2. The policies alone, with and without quotas and metering.
const db = await pgliteDatabase();
await migrate(db.sql);
const principal: Principal = {
  keyId: "k",
  tenantId: "bench",
  tier: Tier.PRO,
  scopes: ["*"],
  quota: { perMinute: 2e9, perDay: 2e9 },
};
const method = CryptoService.method.hash;
/** A call as a transport hands it over: `admitted` sets its principal as the auth policy would. */
const call = (header: RequestHeaders = new Headers(), admitted = true): TransportCall => {
  const values = createContextValues();
  if (admitted) values.set(principalKey, principal);
  return {
    service: CryptoService,
    method,
    protocol: "connect",
    header,
    values,
    signal: new AbortController().signal,
    message: async () => ({}),
    bytesIn: () => 70,
    forward: async () => ({ header: new Headers(), bytesOut: () => 80 }),
  };
};

/** CPU µs per call of `policies`, 100 calls in flight, for about `seconds`. */
async function cpuPerCall(policies: Policy[], make: () => TransportCall = () => call()): Promise<number> {
  const chain = chainPolicies(policies);
  const run = async (ms: number) => {
    let calls = 0;
    const until = performance.now() + ms;
    const worker = async () => {
      while (performance.now() < until) {
        await chain(make());
        calls++;
      }
    };
    const cpu = process.cpuUsage();
    await Promise.all(Array.from({ length: 100 }, worker));
    const used = process.cpuUsage(cpu);
    return (used.user + used.system) / calls;
  };
  await run(1000);
  return run(seconds * 1000);
}

const rows: [string, number][] = [];
for (const store of ["memory", "redis"] as const) {
  const limiter =
    store === "memory"
      ? createMemoryLimiter()
      : createRedisLimiter({ url: process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379", prefix: "ffbench:" });
  const meter = createMeter({ sql: db.sql, logger });
  const without = await cpuPerCall([]);
  const withBoth = await cpuPerCall([
    usagePolicy(meter),
    rateLimitPolicy({ limiter, limits: defaultTierLimits, logger }),
  ]);
  rows.push([`quotas (${store}) + metering`, withBoth - without]);
  await meter.close();
  await limiter.close();
}

// 3. Each policy of the gateway's chain, added one at a time in the gateway's order, with a
// real key (looked up, then cached as in the gateway) and an access log written to /dev/null.
const keys = createKeyStore({ sql: db.sql });
const { secret } = await keys.create({
  tenantId: "bench",
  name: "bench",
  tier: Tier.PRO,
  scopes: ["*"],
  quota: principal.quota,
});
const header = new Headers({ authorization: `Bearer ${secret}` });
const accessLogger = createLogger({ name: "bench", level: "info", destination: pino.destination("/dev/null") });
const limiter = createMemoryLimiter();
const meter = createMeter({ sql: db.sql, logger });
const chain: [string, Policy][] = [
  ["request id", requestIdPolicy(logger)],
  ["metrics", createGatewayMetrics().policy],
  ["access log", accessLogPolicy(accessLogger)],
  ["auth (key, cached)", authPolicy({ keys })],
  ["usage", usagePolicy(meter)],
  ["rate limit (memory)", rateLimitPolicy({ limiter, limits: defaultTierLimits, logger })],
];
const steps: [string, number][] = [];
let previous = await cpuPerCall([], () => call(header, false));
for (let i = 1; i <= chain.length; i++) {
  const now = await cpuPerCall(
    chain.slice(0, i).map(([, p]) => p),
    () => call(header, false),
  );
  steps.push([chain[i - 1][0], now - previous]);
  previous = now;
}
await meter.close();
await limiter.close();
await db.close();

console.log("\n| measure | CPU per call | share of the gateway's CPU per call | target |");
console.log("| --- | ---: | ---: | ---: |");
console.log(`| gateway, Connect JSON Hash, tenant key | ${gatewayUsPerCall.toFixed(0)} µs | 100 % | |`);
for (const [name, us] of rows)
  console.log(`| ${name} | ${us.toFixed(1)} µs | ${((us / gatewayUsPerCall) * 100).toFixed(1)} % | <= 10 % |`);
console.log("\n| policy (added in the gateway's order) | CPU per call |");
console.log("| --- | ---: |");
for (const [name, us] of steps) console.log(`| ${name} | ${us.toFixed(1)} µs |`);
console.log(`| all six | ${steps.reduce((a, [, us]) => a + us, 0).toFixed(1)} µs |`);
process.exit(0);
