/**
 * Expensive work is bounded and fair, in the production shape (PostgreSQL, JetStream, the crypto
 * service running its own job workers): while one tenant's batch of HashPassword items at the
 * largest cost runs, unary callers (Hash, a minimum-cost HashPassword, an EC key pair) are
 * answered, another tenant's job is not kept behind the batch, and the crypto process's memory
 * stays within its argon2 budget.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until, waitFor } from "#test/support/until.js";
import { AdminService } from "#gen/flowforge/admin/v1/admin_pb.js";
import { Tier } from "#gen/flowforge/common/v1/common_pb.js";
import {
  CryptoService,
  HashAlgorithm,
  HashPasswordRequestSchema,
  KeyType,
} from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { JobService, JobState } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import type { Mesh } from "#test/support/mesh.js";
import { startProductionMesh, type ProductionMesh } from "#test/support/production.js";
import { connectClient } from "#test/support/clients.js";
import { pack } from "#test/support/jobs.js";

let production: ProductionMesh;
let mesh: Mesh;

beforeAll(async () => {
  // Two argon2 slots (one for job items), a 600 MiB budget: at most one 256 MiB batch item and one unary hash at once.
  production = await startProductionMesh({ JOB_CONCURRENCY: "16", ARGON2_CONCURRENCY: "2", ARGON2_MEMORY_MIB: "600" });
  mesh = production.mesh;
}, 120_000);
afterAll(() => production?.stop());

const heavy = Array.from({ length: 16 }, (_, i) =>
  pack(HashPasswordRequestSchema, { password: `p${i}`, params: { memoryKib: 262_144, iterations: 4 } }),
);

/** The crypto process's peak resident memory, in MiB. */
function peakMib(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmHWM:"))!;
  return Number(line.split(/\s+/)[1]) / 1024;
}

describe("bounded and fair expensive work", () => {
  it("unary calls and another tenant's job are answered while a batch of maximum-cost hashes runs", async () => {
    const admin = connectClient(AdminService, mesh.url, mesh.adminKey);
    const keyA = (await admin.createApiKey({ tenantId: "tenant-a", tier: Tier.ENTERPRISE })).secret;
    const keyB = (await admin.createApiKey({ tenantId: "tenant-b", tier: Tier.ENTERPRISE })).secret;
    const jobsA = connectClient(JobService, mesh.url, keyA);
    const jobsB = connectClient(JobService, mesh.url, keyB);
    const crypto = connectClient(CryptoService, mesh.url, keyB);
    const { job } = await jobsA.submitJob({ method: "flowforge.crypto.v1.CryptoService/HashPassword", items: heavy });
    const state = async () => (await jobsA.getJob({ jobId: job!.id, itemsPageSize: 1 })).job!;
    await until(async () => (await state()).state === JobState.RUNNING);

    // Unary callers: a Hash answered without waiting for the batch (at most the one item that
    // was finishing completes meanwhile; wall-clock figures belong in bench/), then a
    // minimum-cost HashPassword and an EC key pair.
    const before = Number((await state()).counts!.succeeded);
    const { digest } = await crypto.hash({ algorithm: HashAlgorithm.SHA256, input: { case: "text", value: "abc" } });
    expect(Number((await state()).counts!.succeeded) - before).toBeLessThanOrEqual(1);
    expect(digest).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const { hash } = await crypto.hashPassword({ password: "x", params: { memoryKib: 8192, iterations: 1 } });
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=8192,p=1,t=1\$/);
    const pair = await crypto.generateKeyPair({ type: KeyType.EC_P256 });
    expect(pair.publicKey).toMatch(/BEGIN PUBLIC KEY/);
    // Another tenant's one-item job runs before the batch is through.
    const small = await jobsB.submitJob({
      method: "flowforge.crypto.v1.CryptoService/HashPassword",
      items: heavy.slice(0, 1),
    });
    const b = await waitFor(
      async () => {
        const now = (await jobsB.getJob({ jobId: small.job!.id, itemsPageSize: 1 })).job!;
        return now.state === JobState.QUEUED || now.state === JobState.RUNNING ? undefined : now;
      },
      { what: "the other tenant's job to end", ms: 60_000 },
    );
    expect(b.state).toBe(JobState.SUCCEEDED);
    const a = await state();
    expect(a.state).toBe(JobState.RUNNING);
    expect(a.counts!.succeeded).toBeLessThan(16);
    // Memory: one batch item and one unary hash at most, not sixteen.
    expect(peakMib(mesh.pidOf("crypto"))).toBeLessThan(900);
    await jobsA.cancelJob({ jobId: job!.id });
  }, 180_000);
});
