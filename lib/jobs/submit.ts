/** Submits written together: many jobs, their items and one outbox row in one statement. */
import { randomUUID } from "node:crypto";
import { ItemState, JobState } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import type { Sql } from "#db/sql.js";
import type { JobRow, NewJob } from "./rows.js";

/** A submit's outcome: its job, whether this submit created it, and if so the outbox row to clear once its tasks are published (shared by the `jobs` jobs written with it). */
export interface Submitted {
  job: JobRow;
  created: boolean;
  outbox?: { id: string; jobs: number };
}

/**
 * Writes many submits with one statement (one round trip, one commit): every job, its items
 * and one outbox row naming the jobs written (a job's first event, QUEUED, is not stored: it is
 * made from the job row). The outbox row's id comes back with each job written, to be cleared
 * once every one of them is published.
 * A job whose idempotency key is already taken (by an earlier submit, or by another submit in
 * the same batch) is not written; its caller gets the job that holds the key.
 */
export async function submitMany(sql: Sql, batch: NewJob[]): Promise<Submitted[]> {
  const keyOf = (tenantId: string, key: string | null | undefined) => (key == null ? undefined : `${tenantId}\0${key}`);
  const firstWithKey = new Map<string, number>();
  const writes: { job: NewJob; id: string }[] = [];
  const repeat = new Set<number>();
  const slot = batch.map((j, n) => {
    const key = keyOf(j.tenantId, j.idempotencyKey);
    if (key !== undefined && firstWithKey.has(key)) {
      repeat.add(n);
      return firstWithKey.get(key)!;
    }
    if (key !== undefined) firstWithKey.set(key, writes.length);
    writes.push({ job: j, id: randomUUID() });
    return writes.length - 1;
  });
  const items = writes.flatMap(({ job, id }) =>
    job.requests.map((r, i) => ({ id, i, hex: Buffer.from(r).toString("hex"), src: job.retryOf?.indexes[i] ?? null })),
  );
  const col = <T>(f: (w: { job: NewJob; id: string }) => T) => writes.map(f);
  const rows = await sql<(JobRow & { outbox_id: string })[]>`
    WITH j AS (
      INSERT INTO jobs (id, tenant_id, method, batch, state, total, last_seq, idempotency_key, request_hash, request_id, traceparent, webhook_url, webhook_secret, retry_of)
      SELECT u.id, u.tenant_id, u.method, u.batch <> 0, ${JobState.QUEUED}, u.total, 1, u.idempotency_key, u.request_hash, u.request_id, u.traceparent, u.webhook_url, u.webhook_secret, u.retry_of
      FROM unnest(
        ${col((w) => w.id)}::text[], ${col((w) => w.job.tenantId)}::text[], ${col((w) => w.job.method)}::text[], ${col((w) => (w.job.batch ? 1 : 0))}::int[],
        ${col((w) => w.job.requests.length)}::int[], ${col((w) => w.job.idempotencyKey ?? null)}::text[],
        ${col((w) => w.job.requestHash ?? null)}::text[], ${col((w) => w.job.requestId)}::text[],
        ${col((w) => w.job.traceparent)}::text[], ${col((w) => w.job.webhook?.url ?? null)}::text[], ${col((w) => w.job.webhook?.secret ?? null)}::text[],
        ${col((w) => w.job.retryOf?.jobId ?? null)}::text[]
      ) AS u (id, tenant_id, method, batch, total, idempotency_key, request_hash, request_id, traceparent, webhook_url, webhook_secret, retry_of)
      ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
      RETURNING *
    ), items AS (
      INSERT INTO job_items (job_id, idx, state, request, source_idx)
      SELECT u.job_id, u.idx, ${ItemState.QUEUED}, decode(u.r, 'hex'), u.src
      FROM unnest(${items.map((x) => x.id)}::text[], ${items.map((x) => x.i)}::int[], ${items.map((x) => x.hex)}::text[], ${items.map((x) => x.src)}::int[]) AS u (job_id, idx, r, src)
      WHERE u.job_id IN (SELECT id FROM j)
    ), outbox AS (
      INSERT INTO job_outbox (job_ids) SELECT array_agg(id) FROM j HAVING count(*) > 0 RETURNING id
    )
    SELECT j.*, (SELECT id FROM outbox) AS outbox_id FROM j`;
  const outbox = rows.length > 0 ? { id: rows[0].outbox_id, jobs: rows.length } : undefined;
  const written = new Map(rows.map(({ outbox_id: _, ...job }) => [job.id, job as JobRow]));
  // Keys taken before this batch: the jobs that hold them.
  const taken = writes.filter((w) => !written.has(w.id));
  const holders = new Map<string, JobRow>();
  if (taken.length > 0) {
    const found = await sql<JobRow[]>`
      SELECT j.* FROM jobs j JOIN unnest(${taken.map((w) => w.job.tenantId)}::text[], ${taken.map((w) => w.job.idempotencyKey!)}::text[]) AS k (tenant_id, idempotency_key)
        ON j.tenant_id = k.tenant_id AND j.idempotency_key = k.idempotency_key`;
    for (const f of found) holders.set(keyOf(f.tenant_id, f.idempotency_key)!, f);
  }
  return batch.map((j, n) => {
    const w = writes[slot[n]];
    const row = written.get(w.id);
    if (row && !repeat.has(n)) return { job: row, created: true, outbox };
    if (row) return { job: row, created: false };
    const holder = holders.get(keyOf(j.tenantId, j.idempotencyKey)!);
    if (!holder) throw new Error(`job with idempotency key ${j.idempotencyKey} neither written nor found`);
    return { job: holder, created: false };
  });
}
