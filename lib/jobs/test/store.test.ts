/**
 * Submits written together (group commit): each job gets its own items and first event, the
 * statement one outbox row naming its jobs; idempotency keys hold within one statement and across statements.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { ItemState, JobState, WatchJobResponseSchema } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import type { NewJob } from "../rows.js";
import { createJobStore } from "../store.js";
import { databases, type TestDatabase } from "#test/support/databases.js";

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
      store.submit(
        job({
          batch: true,
          requests: [Uint8Array.of(3), Uint8Array.of(4), Uint8Array.of(5)],
          webhook: { url: "https://example.com/h", secret: "whsec_x" },
        }),
      ),
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
    // One outbox row per statement, naming its jobs; each submit learns it and how many share it.
    const outbox = await db.sql<
      { id: string; job_ids: string[] }[]
    >`SELECT id, job_ids FROM job_outbox WHERE job_ids && ${made.map((m) => m.job.id)}::text[]`;
    expect(outbox.flatMap((r) => r.job_ids).sort()).toEqual(made.map((m) => m.job.id).sort());
    for (const m of made) {
      const row = outbox.find((r) => r.id === m.outbox!.id)!;
      expect(row.job_ids).toContain(m.job.id);
      expect(m.outbox!.jobs).toBe(row.job_ids.length);
    }
    // The first event (QUEUED, with the item count) is made from the job row, not stored.
    const stored = await db.sql<
      { n: number }[]
    >`SELECT count(*)::int AS n FROM job_events WHERE job_id = ANY(${made.map((m) => m.job.id)})`;
    expect(stored[0].n).toBe(0);
    for (const m of made) {
      const { events } = await store.events(m.job.id, 0);
      expect(events.map((e) => e.seq)).toEqual([1]);
      const first = fromBinary(WatchJobResponseSchema, events[0].payload);
      expect(first.event).toMatchObject({
        case: "stateChanged",
        value: { state: JobState.QUEUED, counts: { total: m.job.total } },
      });
      expect(timestampDate(first.time!).getTime()).toBe(m.job.create_time.getTime());
    }
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
    const [again, fresh] = await Promise.all([
      store.submit(job({ idempotencyKey: "k1" })),
      store.submit(job({ idempotencyKey: "k2" })),
    ]);
    expect(again).toMatchObject({ created: false, job: { id: a.job.id } });
    expect(fresh.created).toBe(true);
    // Only a submit that created its job has tasks to publish, hence an outbox row to clear.
    expect([a, b, other, again, fresh].map((s) => s.outbox !== undefined)).toEqual([true, false, true, false, true]);
    const items = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM job_items WHERE job_id = ${a.job.id}`;
    expect(items[0].n).toBe(1);
  });

  it("stores the events of one write as one row, and reads them back one by one from any sequence", async () => {
    const store = createJobStore(db.sql);
    const { job: j } = await store.submit(
      job({ batch: true, requests: [Uint8Array.of(1), Uint8Array.of(2), Uint8Array.of(3)] }),
    );
    const outcome = (index: number) => ({
      jobId: j.id,
      index,
      state: ItemState.SUCCEEDED as const,
      payload: Uint8Array.of(index),
      attempts: 1,
      resultType: "flowforge.crypto.v1.HashResponse",
    });
    const { written } = await store.recordOutcomes([outcome(0), outcome(1), outcome(2)]);
    expect(written).toMatchObject([{ jobId: j.id, lastSeq: 6 }]);
    const rows = await db.sql<
      { seq: string; events: number }[]
    >`SELECT seq, events FROM job_events WHERE job_id = ${j.id} ORDER BY seq`;
    expect(rows.map((r) => [Number(r.seq), r.events])).toEqual([[6, 5]]);
    const all = await store.events(j.id, 0);
    const kinds = all.events.map((e) => fromBinary(WatchJobResponseSchema, e.payload));
    expect(kinds.map((k) => [Number(k.sequence), k.event.case])).toEqual([
      [1, "stateChanged"],
      [2, "stateChanged"],
      [3, "itemFinished"],
      [4, "itemFinished"],
      [5, "itemFinished"],
      [6, "stateChanged"],
    ]);
    expect(all.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect((await store.events(j.id, 3)).events.map((e) => e.seq)).toEqual([4, 5, 6]);
    expect(await store.events(j.id, 6)).toEqual({ events: [], more: false });
    const firstRow = await store.events(j.id, 0, 1);
    expect([firstRow.events.map((e) => e.seq), firstRow.more]).toEqual([[1, 2, 3, 4, 5, 6], true]);
    expect((await store.events(j.id, 1, 1)).events.map((e) => e.seq)).toEqual([2, 3, 4, 5, 6]);
  });

  it("a job written before the first event was made from the row keeps its stored first event, once", async () => {
    const store = createJobStore(db.sql);
    const { job: j } = await store.submit(job({}));
    const stored = toBinary(
      WatchJobResponseSchema,
      create(WatchJobResponseSchema, {
        sequence: 1n,
        event: { case: "stateChanged", value: { state: JobState.QUEUED } },
      }),
    );
    await db.sql`INSERT INTO job_events (job_id, seq, payload) VALUES (${j.id}, 1, ${Buffer.from(stored)})`;
    const { events } = await store.events(j.id, 0);
    expect(events.map((e) => [e.seq, Buffer.from(e.payload).equals(Buffer.from(stored))])).toEqual([[1, true]]);
  });
});
