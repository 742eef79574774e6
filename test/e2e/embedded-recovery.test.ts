/**
 * Embedded parts (PGlite, the in-process bus) through crashes: PostgreSQL is the truth, so after
 * a SIGKILL of the whole mesh, of the jobs process alone, or of the capability process running the
 * items, every queued item of an unfinished job runs and finishes exactly once.
 */
import { afterAll, describe, expect, it } from "vitest";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { HashPasswordRequestSchema } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { ItemState, JobService, JobState } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import { readFileSync } from "node:fs";
import { startMesh, type Mesh } from "../support/mesh.js";
import { until, waitFor } from "../support/until.js";
import { connectClient } from "../support/clients.js";
import { pack, watchAll } from "../support/jobs.js";

/**
 * Items in a batch: enough that a crash at 100 succeeded lands mid-batch. A whole new mesh takes
 * long enough to start that 400 items can all finish meanwhile: that case runs 1,000.
 */
const batch = (total: number) =>
  Array.from({ length: total }, (_, i) =>
    pack(HashPasswordRequestSchema, { password: `p${i}`, params: { memoryKib: 8192, iterations: 1 } }),
  );
// Hashes need the crypto capability alone (with the jobs service and the gateway).
const env = { JOB_CONCURRENCY: "8", DATABASE_URL: "", NATS_URL: "", FLOWFORGE_CAPABILITIES: "crypto" };
const meshes: Mesh[] = [];
afterAll(async () => {
  for (const m of meshes.reverse()) await m.stop().catch(() => {});
});

async function succeeded(jobs: Client<typeof JobService>, jobId: string): Promise<number> {
  return (await jobs.getJob({ jobId, itemsPageSize: 1 })).job!.counts!.succeeded;
}

/** A mesh on embedded parts running the batch, once its first 100 items have succeeded. */
async function midBatch(total: number) {
  const mesh = await startMesh(env);
  meshes.push(mesh);
  const jobs = connectClient(JobService, mesh.url, mesh.adminKey);
  const { job } = await jobs.submitJob({
    method: "flowforge.crypto.v1.CryptoService/HashPassword",
    items: batch(total),
  });
  await until(async () => (await succeeded(jobs, job!.id)) >= 100, 120_000);
  return { mesh, jobs, jobId: job!.id };
}

/** Whether process `pid` still runs. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Watches the job to its end, reconnecting while the jobs service restarts. */
function watchToEnd(jobs: Client<typeof JobService>, jobId: string) {
  return waitFor(
    () =>
      watchAll(jobs, jobId).catch((err) => {
        if (ConnectError.from(err).code !== Code.Unavailable) throw err;
        return undefined; // the jobs service is restarting
      }),
    { what: "a watch of the job to its end", ms: 60_000 },
  );
}

/** Waits for the job to finish, then checks every item succeeded and was recorded exactly once. */
async function checkExactlyOnce(jobs: Client<typeof JobService>, jobId: string, total: number) {
  const events = await watchToEnd(jobs, jobId);
  const last = events[events.length - 1];
  expect(last.event.case === "stateChanged" && last.event.value.state).toBe(JobState.SUCCEEDED);
  expect(events.map((e) => Number(e.sequence))).toEqual(events.map((_, i) => i + 1));
  const finished = events.flatMap((e) => (e.event.case === "itemFinished" ? [e.event.value.item!.index] : []));
  expect(finished).toHaveLength(total);
  expect(new Set(finished).size).toBe(total);
  const { job } = await jobs.getJob({ jobId, itemsPageSize: 1000 });
  expect(job!.counts).toMatchObject({ total, succeeded: total, failed: 0, cancelled: 0 });
  expect(job!.items.every((i) => i.state === ItemState.SUCCEEDED)).toBe(true);
}

describe("embedded jobs after a crash", () => {
  it("SIGKILL of the whole mesh mid-batch, then npm start on the same data directory: every item finishes exactly once", async () => {
    const total = 1000;
    const { mesh: first, jobId } = await midBatch(total);
    first.crash();
    // The launcher holds the embedded database: gone before another opens its data directory.
    await until(() => !alive(first.pid));
    const second = await startMesh(env, { dataDir: first.dataDir });
    meshes.push(second);
    const jobs = connectClient(JobService, second.url, second.adminKey);
    const after = await jobs.getJob({ jobId, itemsPageSize: 1 });
    expect(after.job!.counts!.succeeded).toBeLessThan(total);
    await checkExactlyOnce(jobs, jobId, total);
    expect(second.output()).toMatch(/unfinished jobs recovered/);
  }, 240_000);

  it("SIGKILL of the jobs process alone: the launcher restarts it and the batch finishes exactly once", async () => {
    const { mesh, jobId } = await midBatch(400);
    const victim = mesh.pidOf("jobs");
    process.kill(victim, "SIGKILL");
    await checkExactlyOnce(connectClient(JobService, mesh.url, mesh.adminKey), jobId, 400);
    expect(mesh.pidOf("jobs")).not.toBe(victim);
  }, 240_000);

  it("SIGKILL of the capability process mid-batch: the jobs process stays small and answers throughout, and every item finishes exactly once", async () => {
    const { mesh, jobs, jobId } = await midBatch(400);
    const jobsPid = mesh.pidOf("jobs");
    const rssMib = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${jobsPid}/status`, "utf8"))![1]) / 1024;
    const before = rssMib();
    const victim = mesh.pidOf("crypto");
    process.kill(victim, "SIGKILL");
    // The jobs process answers while the crypto process is down and after it is back.
    let peak = before;
    let answers = 0;
    await until(async () => {
      const { job: now } = await jobs.getJob({ jobId, itemsPageSize: 1 }, { timeoutMs: 10_000 });
      answers++;
      peak = Math.max(peak, rssMib());
      return now!.state !== JobState.RUNNING && now!.state !== JobState.QUEUED;
    }, 200_000);
    expect(answers).toBeGreaterThan(1);
    expect(mesh.pidOf("crypto")).not.toBe(victim);
    expect(mesh.pidOf("jobs")).toBe(jobsPid);
    expect(peak).toBeLessThan(before + 256);
    await checkExactlyOnce(jobs, jobId, 400);
  }, 240_000);
});
