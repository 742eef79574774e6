/**
 * Where the CPU of a batch goes: one 10,000-item Hash batch through the gateway on the
 * production path (PostgreSQL, a nats-server of its own), CPU microseconds per item of every
 * process (from /proc). `N` items (default 10000). `node --import tsx bench/tools/batchprof.ts`.
 */
import { JobService } from "../../gen/flowforge/jobs/v1/jobs_pb.js";
import { HashAlgorithm, HashRequestSchema } from "../../gen/flowforge/crypto/v1/crypto_pb.js";
import { createSql } from "../../lib/db/sql.js";
import { connectClient } from "../../test/support/clients.js";
import { freshPostgresDatabase } from "../../test/support/databases.js";
import { pack } from "../../test/support/jobs.js";
import { startMesh } from "../../test/support/mesh.js";
import { startNats } from "../../test/support/nats.js";
import { cpuByProcess } from "./cpu.js";

const N = Number(process.env.N ?? 10_000);
const nats = await startNats();
const db = await freshPostgresDatabase();
const mesh = await startMesh({ NATS_URL: nats.url, DATABASE_URL: db.url, LOG_LEVEL: "warn", DATABASE_POOL: "16", JOB_CONCURRENCY: "128" });
const sql = createSql(db.url, { max: 1 });
const jobs = connectClient(JobService, mesh.url, mesh.adminKey, true);
const items = Array.from({ length: N }, (_, i) => pack(HashRequestSchema, { algorithm: HashAlgorithm.SHA256, input: { case: "text", value: `item-${i}` } }));
const run = async () => {
  const t0 = performance.now();
  const { job } = await jobs.submitJob({ method: "flowforge.crypto.v1.CryptoService/Hash", items });
  const submitted = performance.now();
  for (;;) {
    const [{ state }] = await sql<{ state: number }[]>`SELECT state FROM jobs WHERE id = ${job!.id}`;
    if (state === 3) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  return { submitMs: submitted - t0, totalMs: performance.now() - t0 };
};
await run(); // warm-up
const before = cpuByProcess();
const { submitMs, totalMs } = await run();
const after = cpuByProcess();
console.log(`${Math.round((N / totalMs) * 1000)} items/s, submit ${Math.round(submitMs)} ms, total ${Math.round(totalMs)} ms`);
let total = 0;
for (const [k, v] of after) {
  const d = v - (before.get(k) ?? 0);
  total += d;
  if (d > 0) console.log(k.padEnd(10), ((d / N) * 1000).toFixed(0).padStart(6), "µs/item");
}
console.log("total".padEnd(10), ((total / N) * 1000).toFixed(0).padStart(6), "µs/item, cores busy", (total / totalMs).toFixed(2));
await sql.end();
await mesh.stop();
await nats.stop();
await db.drop();
process.exit(0);
