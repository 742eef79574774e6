/**
 * Where the CPU of a batch goes: one 10,000-item Hash batch through the gateway on the
 * production path (PostgreSQL, a nats-server of its own), CPU microseconds per item of every
 * process (from /proc). `N` items (default 10000). `node --import tsx bench/tools/batchprof.ts`.
 */
import { JobService } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import { HashAlgorithm, HashRequestSchema } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { connectClient } from "#test/support/clients.js";
import { pack } from "#test/support/jobs.js";
import { startProductionMesh } from "../production-mesh.js";
import { cpuByProcess, reportCpu } from "./cpu.js";

const N = Number(process.env.N ?? 10_000);
const { mesh, sql, stop } = await startProductionMesh();
const jobs = connectClient(JobService, mesh.url, mesh.adminKey, true);
const items = Array.from({ length: N }, (_, i) =>
  pack(HashRequestSchema, { algorithm: HashAlgorithm.SHA256, input: { case: "text", value: `item-${i}` } }),
);
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
console.log(
  `${Math.round((N / totalMs) * 1000)} items/s, submit ${Math.round(submitMs)} ms, total ${Math.round(totalMs)} ms`,
);
reportCpu(before, after, N, "item", totalMs);
await stop();
process.exit(0);
