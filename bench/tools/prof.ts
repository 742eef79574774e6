/**
 * Where the CPU of a small job goes: runs the jobs bench's small-job load (h2load through the
 * gateway, PostgreSQL, a nats-server of its own) and prints CPU microseconds per job for each
 * process (from /proc) and PostgreSQL's row operations per job. `N` jobs (default 3000) after
 * `WARM` warm-up jobs (default 3000), `STREAMS` per connection (default 16); `EXTRA` adds
 * environment for the mesh as JSON. `node --import tsx bench/tools/prof.ts`.
 */
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { HashAlgorithm, HashRequestSchema } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { SubmitJobRequestSchema } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import { pack } from "#test/support/jobs.js";
import { h2loadCount } from "../h2load.js";
import { startProductionMesh } from "../production-mesh.js";
import { cpuByProcess, reportCpu } from "./cpu.js";

const N = Number(process.env.N ?? 3000);
const WARM = Number(process.env.WARM ?? 3000);
const { mesh, sql, stop } = await startProductionMesh(process.env.EXTRA ? JSON.parse(process.env.EXTRA) : {});
const body = join(tmpdir(), `flowforge-prof-${process.pid}.bin`);
const item = pack(HashRequestSchema, { algorithm: HashAlgorithm.SHA256, input: { case: "text", value: "x" } });
await writeFile(
  body,
  toBinary(
    SubmitJobRequestSchema,
    create(SubmitJobRequestSchema, { method: "flowforge.crypto.v1.CryptoService/Hash", request: item }),
  ),
);
const opts = {
  url: `${mesh.url}/flowforge.jobs.v1.JobService/SubmitJob`,
  bodyFile: body,
  headers: { "content-type": "application/proto", authorization: `Bearer ${mesh.adminKey}` },
  clients: 4,
  streams: Number(process.env.STREAMS ?? 16),
};

async function waitSucceeded(n: number) {
  for (;;) {
    const [{ c }] = await sql<{ c: number }[]>`SELECT count(*)::int AS c FROM jobs WHERE state = 3`;
    if (c >= n) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}
const dbStats = async () =>
  (
    await sql<Record<string, number>[]>`
    SELECT xact_commit::int AS c, tup_inserted::int AS i, tup_updated::int AS u, tup_deleted::int AS d, tup_fetched::int AS f, blks_hit::int AS h
    FROM pg_stat_database WHERE datname = current_database()`
  )[0];

await h2loadCount({ ...opts, requests: WARM });
await waitSucceeded(WARM);
const s0 = await dbStats();
const before = cpuByProcess();
const t0 = performance.now();
const load = await h2loadCount({ ...opts, requests: N });
await waitSucceeded(WARM + N);
const elapsed = performance.now() - t0;
const after = cpuByProcess();
await new Promise((r) => setTimeout(r, 800)); // statistics reach pg_stat_database with a delay
const s1 = await dbStats();
const hot = await sql<{ relname: string; upd: number; hot: number }[]>`
  SELECT relname, n_tup_upd::int AS upd, n_tup_hot_upd::int AS hot FROM pg_stat_user_tables WHERE relname IN ('jobs', 'job_items')`;
console.log("updates (HOT):", hot.map((r) => `${r.relname} ${r.upd} (${r.hot})`).join(", "));
console.log("per job:", Object.fromEntries(Object.keys(s1).map((k) => [k, ((s1[k] - s0[k]) / N).toFixed(2)])));
console.log(`jobs/s ${Math.round((N / elapsed) * 1000)} failed ${load.failed} elapsed ${Math.round(elapsed)}ms`);
reportCpu(before, after, N, "job", elapsed);
await stop();
process.exit(0);
