/**
 * `npm run bench:vector`: issue 21's figures on the embedded store (pgvector in PGlite, as
 * `npm start` runs it). Points drawn from a mixture of 100 Gaussian clusters (the shape of real
 * embeddings), 384 dimensions, cosine:
 * - upserts per second through the gateway in batches of 1,000 (the HNSW index kept up to date
 *   as they come: the load time is the index build time);
 * - recall@10 of the HNSW search at the default ef_search against exact search (target ≥ 0.95),
 *   and with a filter matching 1 % of points (target ≥ 0.95);
 * - search p50 / p99 and queries per second through the gateway (Connect, binary) against the
 *   same query sent straight to the database (postgres.js, the store's SQL) — target ≥ 0.8;
 * - RSS of the vector process and of the launcher (which holds PGlite).
 */
import { readFileSync } from "node:fs";
import { Distance, VectorService } from "#gen/flowforge/vector/v1/vector_pb.js";
import { createSql } from "#db/sql.js";
import { connectClient } from "#test/support/clients.js";
import { freePort, startMesh } from "#test/support/mesh.js";
import { seeded } from "#test/support/random.js";
import { percentile, size } from "./measure.js";

const points = size("BENCH_VECTOR_POINTS", 100_000, 2_000);
const queries = size("BENCH_VECTOR_QUERIES", 200, 20);
const dimension = 384;
const clusters = 100;
const batch = 1000;

const pgPort = await freePort();
const mesh = await startMesh({
  LOG_LEVEL: "warn",
  EMBEDDED_PG_PORT: String(pgPort),
  // The capabilities measured (and what they call), not all eleven processes.
  FLOWFORGE_CAPABILITIES: "vector",
});
const client = connectClient(VectorService, mesh.url, mesh.adminKey, true);
const rssMib = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? Number.NaN) / 1024;

// The mixture: cluster centres on the unit sphere's neighbourhood, points scattered around them.
const random = seeded(42);
const gaussian = () => Math.sqrt(-2 * Math.log(random() || 1e-12)) * Math.cos(2 * Math.PI * random());
const centres = Array.from({ length: clusters }, () => Array.from({ length: dimension }, gaussian));
const draw = (cluster: number) => centres[cluster].map((c) => c + gaussian() * 0.6);

const rows: string[][] = [["figure", "value", "target"]];
const row = (...cells: (string | number)[]) => rows.push(cells.map(String));

await client.createCollection({ name: "bench", dimension, distance: Distance.COSINE });
const loadStart = performance.now();
for (let start = 0; start < points; start += batch) {
  const chunk = Array.from({ length: Math.min(batch, points - start) }, (_, i) => {
    const n = start + i;
    return { id: `p${n}`, vector: draw(n % clusters), payload: { cluster: n % clusters, n } };
  });
  await client.upsert({ collection: "bench", points: chunk });
}
const loadSeconds = (performance.now() - loadStart) / 1000;
row(`upserts/s, batches of ${batch} (${points} points, index kept up to date)`, (points / loadSeconds).toFixed(0), "");
row("load and index build time (s)", loadSeconds.toFixed(1), "");

const queryVectors = Array.from({ length: queries }, (_, i) => draw(i % clusters));
const ids = (r: { points: { id: string }[] }) => r.points.map((p) => p.id);
async function recall(filter?: object) {
  let found = 0;
  let wanted = 0;
  const times: number[] = [];
  for (const [i, vector] of queryVectors.entries()) {
    const f = filter
      ? {
          must: [
            {
              key: "cluster",
              test: { case: "match", value: { kind: { case: "numberValue", value: (i * 7) % clusters } } },
            },
          ],
        }
      : undefined;
    const t = performance.now();
    const approx = await client.search({
      collection: "bench",
      vector,
      limit: 10,
      filter: f as never,
      withoutPayload: true,
    });
    times.push(performance.now() - t);
    const exact = await client.search({
      collection: "bench",
      vector,
      limit: 10,
      filter: f as never,
      withoutPayload: true,
      exact: true,
    });
    const truth = new Set(ids(exact));
    wanted += truth.size;
    found += ids(approx).filter((id) => truth.has(id)).length;
  }
  return { recall: found / wanted, times };
}
const plain = await recall();
row("recall@10 at the default ef_search (100)", plain.recall.toFixed(3), "≥ 0.95");
const filtered = await recall({});
row("recall@10 with a filter matching 1 % of points", filtered.recall.toFixed(3), "≥ 0.95");
row(
  "filtered search p50 / p99 (ms)",
  `${percentile(filtered.times, 50).toFixed(1)} / ${percentile(filtered.times, 99).toFixed(1)}`,
  "",
);

// The same search straight to the database, as the store sends it.
const sql = createSql(`postgres://postgres@127.0.0.1:${pgPort}/postgres?sslmode=disable`, { max: 4 });
const [{ id }] = await sql<{ id: string }[]>`SELECT id::text AS id FROM vector_collections WHERE name = 'bench'`;
const table = sql(`vector_points_${id}`);
async function direct(vector: number[]) {
  const text = `[${vector.join(",")}]`;
  // Pipelined in one transaction, as the store sends it.
  return sql.begin(async (tx) => {
    const [, rows] = await Promise.all([
      tx`SELECT set_config('hnsw.ef_search', '100', true), set_config('hnsw.iterative_scan', 'relaxed_order', true)`,
      tx`
        WITH relaxed AS MATERIALIZED (
          SELECT id, embedding <=> ${text}::vector AS d FROM ${table} ORDER BY embedding <=> ${text}::vector LIMIT 10)
        SELECT * FROM relaxed ORDER BY d`,
    ]);
    return rows;
  });
}
const viaGateway = (vector: number[]) =>
  client.search({ collection: "bench", vector, limit: 10, withoutPayload: true });

async function latencies(fn: (v: number[]) => Promise<unknown>) {
  const times: number[] = [];
  for (const v of queryVectors) {
    const t = performance.now();
    await fn(v);
    times.push(performance.now() - t);
  }
  return times;
}
async function qps(fn: (v: number[]) => Promise<unknown>, concurrency = 4) {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < queryVectors.length) await fn(queryVectors[next++]);
    }),
  );
  return (queryVectors.length / (performance.now() - start)) * 1000;
}
for (const path of [direct, viaGateway]) await latencies(path); // warm both
const rounds = { direct: [] as number[], gateway: [] as number[] };
const lat = { direct: [] as number[], gateway: [] as number[] };
for (let r = 0; r < 3; r++) {
  lat.direct.push(...(await latencies(direct)));
  lat.gateway.push(...(await latencies(viaGateway)));
  rounds.direct.push(await qps(direct));
  rounds.gateway.push(await qps(viaGateway));
}
row(
  "search p50 / p99 (ms), database directly",
  `${percentile(lat.direct, 50).toFixed(1)} / ${percentile(lat.direct, 99).toFixed(1)}`,
  "",
);
row(
  "search p50 / p99 (ms), through the gateway",
  `${percentile(lat.gateway, 50).toFixed(1)} / ${percentile(lat.gateway, 99).toFixed(1)}`,
  "",
);
const medianOf = (v: number[]) => percentile(v, 50);
row("queries/s, 4 at once: database directly", medianOf(rounds.direct).toFixed(0), "");
row(
  "queries/s, 4 at once: through the gateway (of direct)",
  `${medianOf(rounds.gateway).toFixed(0)} (${(medianOf(rounds.gateway) / medianOf(rounds.direct)).toFixed(2)})`,
  "≥ 0.8",
);
const { processes } = (await (await fetch(`${mesh.url}/healthz`)).json()) as {
  processes: Record<string, { pid: number }>;
};
row(
  "RSS MiB: vector process, launcher (PGlite)",
  `${rssMib(processes.vector.pid).toFixed(0)}, ${rssMib(mesh.pid).toFixed(0)}`,
  "",
);

await sql.end();
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join("  "));
await mesh.stop();
