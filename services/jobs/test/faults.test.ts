/**
 * The production shape with real processes: PostgreSQL, a nats-server of this test's own, the
 * crypto service consuming from JetStream. A 1,000-item batch must store every item's result
 * exactly once while a worker process is SIGKILLed and restarted, and while nats-server is
 * killed and restarted.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until, waitFor } from "#test/support/until.js";
import { HashPasswordRequestSchema } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { ItemState, JobService, JobState } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import type { Mesh } from "#test/support/mesh.js";
import { startProductionMesh, type ProductionMesh } from "#test/support/production.js";
import { connectClient } from "#test/support/clients.js";
import { pack } from "#test/support/jobs.js";
import { createSql } from "#db/sql.js";
import { createJobStore } from "#jobs/store.js";

const items = Array.from({ length: 1000 }, (_, i) =>
  pack(HashPasswordRequestSchema, { password: `p${i}`, params: { memoryKib: 8192, iterations: 1 } }),
);

let production: ProductionMesh;
let mesh: Mesh;

beforeAll(async () => {
  production = await startProductionMesh({ JOB_CONCURRENCY: "32", JOB_ACK_WAIT_MS: "3000" });
  mesh = production.mesh;
}, 120_000);
afterAll(() => production?.stop());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFinished(jobId: string, ms = 120_000) {
  const jobs = connectClient(JobService, mesh.url, mesh.adminKey);
  let last: Awaited<ReturnType<typeof jobs.getJob>>["job"];
  return waitFor(
    async () => {
      const { job } = await jobs.getJob({ jobId, itemsPageSize: 1 }).catch(() => ({ job: undefined }));
      last = job ?? last;
      return job && job.state !== JobState.QUEUED && job.state !== JobState.RUNNING ? job : undefined;
    },
    { what: `job ${jobId} to finish`, ms, detail: () => JSON.stringify(last?.counts) },
  );
}

async function progressOf(jobId: string) {
  const jobs = connectClient(JobService, mesh.url, mesh.adminKey);
  return (await jobs.getJob({ jobId, itemsPageSize: 1 })).job!.counts!;
}

async function checkExactlyOnce(jobId: string) {
  const job = await waitFinished(jobId);
  expect(job.state).toBe(JobState.SUCCEEDED);
  expect(job.counts).toMatchObject({ total: 1000, succeeded: 1000, failed: 0, cancelled: 0 });
  const sql = createSql(production.databaseUrl, { max: 1 });
  try {
    const [items] = await sql<{ n: number; ok: number; results: number }[]>`
      SELECT count(*)::int AS n, count(*) FILTER (WHERE state = ${ItemState.SUCCEEDED})::int AS ok, count(result)::int AS results
      FROM job_items WHERE job_id = ${jobId}`;
    expect(items).toEqual({ n: 1000, ok: 1000, results: 1000 });
    // One item_finished event per item: nothing was recorded twice.
    const { events, more } = await createJobStore(sql).events(jobId, 0, 100_000);
    expect(more).toBe(false);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1)); // gapless, nothing twice
    const { fromBinary } = await import("@bufbuild/protobuf");
    const { WatchJobResponseSchema } = await import("#gen/flowforge/jobs/v1/jobs_pb.js");
    const finished = events
      .map((e) => fromBinary(WatchJobResponseSchema, e.payload))
      .filter((e) => e.event.case === "itemFinished");
    expect(finished).toHaveLength(1000);
    expect(new Set(finished.map((e) => (e.event.case === "itemFinished" ? e.event.value.item!.index : -1))).size).toBe(
      1000,
    );
    const [outbox] = await sql<
      { n: number }[]
    >`SELECT count(*)::int AS n FROM job_outbox WHERE ${jobId} = ANY(job_ids)`;
    expect(outbox.n).toBe(0);
  } finally {
    await sql.end();
  }
}

describe("faults with real processes", () => {
  it("a worker process SIGKILLed mid-batch and restarted: every result stored exactly once", async () => {
    const jobs = connectClient(JobService, mesh.url, mesh.adminKey);
    const { job } = await jobs.submitJob({ method: "flowforge.crypto.v1.CryptoService/HashPassword", items });
    await until(async () => (await progressOf(job!.id)).succeeded >= 150, 60_000);
    const victim = mesh.pidOf("crypto");
    process.kill(victim, "SIGKILL");
    const before = await progressOf(job!.id);
    expect(before.succeeded).toBeLessThan(1000);
    // The launcher restarts it; the redelivered tasks finish the batch.
    await checkExactlyOnce(job!.id);
    expect(mesh.pidOf("crypto")).not.toBe(victim);
  }, 180_000);

  it("nats-server killed and restarted mid-batch: every result stored exactly once", async () => {
    const jobs = connectClient(JobService, mesh.url, mesh.adminKey);
    const { job } = await jobs.submitJob({ method: "flowforge.crypto.v1.CryptoService/HashPassword", items });
    await until(async () => (await progressOf(job!.id)).succeeded >= 150, 60_000);
    await production.nats.kill();
    await sleep(1500);
    await production.nats.start();
    await checkExactlyOnce(job!.id);
  }, 180_000);
});
