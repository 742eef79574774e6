/**
 * Submits written together (group commit): each job gets its own items, outbox rows and first
 * event; idempotency keys hold within one statement and across statements.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createJobStore, type NewJob } from "../store.js";
import { databases, type TestDatabase } from "../../../test/support/databases.js";

const job = (over: Partial<NewJob>): NewJob => ({
  tenantId: "t1",
  method: "flowforge.crypto.v1.CryptoService/Hash",
  capability: "crypto",
  batch: false,
  requests: [Uint8Array.of(1)],
  requestId: "r",
  traceparent: "",
  ...over,
});

describe.each(databases)("job store submits on %s", (_name, open) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await open();
  });
  afterAll(() => db.close());

  it("writes concurrent submits as separate jobs, each complete", async () => {
    const store = createJobStore(db.sql);
    const made = await Promise.all([
      store.submit(job({ requests: [Uint8Array.of(1, 2)] })),
      store.submit(job({ batch: true, requests: [Uint8Array.of(3), Uint8Array.of(4), Uint8Array.of(5)], webhook: { url: "https://example.com/h", secret: "whsec_x" } })),
      store.submit(job({ tenantId: "t2", requests: [Uint8Array.of(6)] })),
    ]);
    expect(made.map((m) => m.created)).toEqual([true, true, true]);
    expect(new Set(made.map((m) => m.job.id)).size).toBe(3);
    expect(made.map((m) => [m.job.tenant_id, m.job.batch, m.job.total, m.job.webhook_url])).toEqual([
      ["t1", false, 1, null],
      ["t1", true, 3, "https://example.com/h"],
      ["t2", false, 1, null],
    ]);
    const items = await db.sql<{ job_id: string; idx: number; request: Buffer }[]>`
      SELECT job_id, idx, request FROM job_items WHERE job_id = ANY(${made.map((m) => m.job.id)}) ORDER BY job_id, idx`;
    const of = (i: number) => items.filter((r) => r.job_id === made[i].job.id).map((r) => [...r.request]);
    expect([of(0), of(1), of(2)]).toEqual([[[1, 2]], [[3], [4], [5]], [[6]]]);
    const outbox = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM job_outbox WHERE job_id = ANY(${made.map((m) => m.job.id)})`;
    expect(outbox[0].n).toBe(5);
    const events = await db.sql<{ job_id: string; seq: string }[]>`SELECT job_id, seq FROM job_events WHERE job_id = ANY(${made.map((m) => m.job.id)})`;
    expect(events.map((e) => Number(e.seq))).toEqual([1, 1, 1]);
  });

  it("one idempotency key makes one job, within one statement and after it", async () => {
    const store = createJobStore(db.sql);
    const [a, b, other] = await Promise.all([
      store.submit(job({ idempotencyKey: "k1", requests: [Uint8Array.of(1)] })),
      store.submit(job({ idempotencyKey: "k1", requests: [Uint8Array.of(2)] })),
      store.submit(job({ tenantId: "t2", idempotencyKey: "k1" })), // another tenant's key space
    ]);
    expect([a.created, b.created, other.created]).toEqual([true, false, true]);
    expect(b.job.id).toBe(a.job.id);
    expect(other.job.id).not.toBe(a.job.id);
    const [again, fresh] = await Promise.all([store.submit(job({ idempotencyKey: "k1" })), store.submit(job({ idempotencyKey: "k2" }))]);
    expect(again).toMatchObject({ created: false, job: { id: a.job.id } });
    expect(fresh.created).toBe(true);
    const items = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM job_items WHERE job_id = ${a.job.id}`;
    expect(items[0].n).toBe(1);
  });
});
