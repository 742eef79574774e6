/**
 * Where the CPU of a small job goes: runs the jobs bench's small-job load (h2load through the
 * gateway, PostgreSQL, a nats-server of its own) and prints CPU microseconds per job for each
 * process (from /proc) and PostgreSQL's row operations per job. `N` jobs (default 3000);
 * `EXTRA` adds environment for the mesh as JSON. `node --import tsx bench/tools/prof.ts`.
 */
import { writeFileSync } from "node:fs";
import { cpuByProcess as cpu } from "./cpu.js";
import { create, toBinary } from "@bufbuild/protobuf";
import { HashAlgorithm, HashRequestSchema } from "../../gen/flowforge/crypto/v1/crypto_pb.js";
import { SubmitJobRequestSchema } from "../../gen/flowforge/jobs/v1/jobs_pb.js";
import { h2loadCount } from "../h2load.js";
import { createSql } from "../../lib/db/sql.js";
import { freshPostgresDatabase } from "../../test/support/databases.js";
import { pack } from "../../test/support/jobs.js";
import { startMesh } from "../../test/support/mesh.js";
import { startNats } from "../../test/support/nats.js";

const N = Number(process.env.N ?? 3000);
const WARM = Number(process.env.WARM ?? 3000);
const nats = await startNats();
const db = await freshPostgresDatabase();
const mesh = await startMesh({ NATS_URL: nats.url, DATABASE_URL: db.url, LOG_LEVEL: "warn", DATABASE_POOL: "16", JOB_CONCURRENCY: "128", ...(process.env.EXTRA ? JSON.parse(process.env.EXTRA) : {}) });
const sql = createSql(db.url, { max: 1 });
const item = pack(HashRequestSchema, { algorithm: HashAlgorithm.SHA256, input: { case: "text", value: "x" } });
writeFileSync("/tmp/submit.bin", toBinary(SubmitJobRequestSchema, create(SubmitJobRequestSchema, { method: "flowforge.crypto.v1.CryptoService/Hash", request: item })));
const opts = { url: `${mesh.url}/flowforge.jobs.v1.JobService/SubmitJob`, bodyFile: "/tmp/submit.bin", headers: { "content-type": "application/proto", authorization: `Bearer ${mesh.adminKey}` }, clients: 4, streams: Number(process.env.STREAMS ?? 16) };
await h2loadCount({ ...opts, requests: WARM });
const wait = async (n: number) => { for (;;) { const [{ c }] = await sql`SELECT count(*)::int AS c FROM jobs WHERE state = 3`; if (c >= n) return; await new Promise((r) => setTimeout(r, 20)); } };
await wait(WARM);
const dbStats = async () => (await sql`SELECT xact_commit::int AS c, tup_inserted::int AS i, tup_updated::int AS u, tup_deleted::int AS d, tup_fetched::int AS f, blks_hit::int AS h FROM pg_stat_database WHERE datname = current_database()`)[0];
const s0 = await dbStats();
const before = cpu();
const t0 = performance.now();
const r = await h2loadCount({ ...opts, requests: N });
await wait(WARM + N);
const el = performance.now() - t0;
const after = cpu();
await new Promise((r) => setTimeout(r, 800));
const s1 = await dbStats();
console.log("updates (HOT):", (await sql`SELECT relname, n_tup_upd::int AS upd, n_tup_hot_upd::int AS hot FROM pg_stat_user_tables WHERE relname IN ('jobs', 'job_items')`).map((r) => `${r.relname} ${r.upd} (${r.hot})`).join(", "));
console.log("per job:", Object.fromEntries(Object.keys(s1).map((k) => [k, ((s1[k] - s0[k]) / N).toFixed(2)])));
console.log(`jobs/s ${Math.round((N / el) * 1000)} failed ${r.failed} elapsed ${Math.round(el)}ms`);
let total = 0;
for (const [k, v] of after) { const d = v - (before.get(k) ?? 0); total += d; if (d > 0) console.log(k.padEnd(10), (d / N * 1000).toFixed(0).padStart(6), "µs/job"); }
console.log("total".padEnd(10), (total / N * 1000).toFixed(0).padStart(6), "µs/job", "cores busy", (total / el).toFixed(2));
await sql.end(); await mesh.stop(); await nats.stop(); await db.drop();
process.exit(0);
