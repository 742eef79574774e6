/**
 * Jobs in PostgreSQL: submit (jobs, items and an outbox row in one statement), reads,
 * cancellation, and outcomes recorded in batches with gapless per-job event sequences. Every
 * write that changes an item is conditional on its state, so a redelivered task never counts
 * twice.
 */
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ItemState, JobState } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import type { Sql } from "#db/sql.js";
import { createCoalescer } from "#runtime/coalesce.js";
import { unframeEvents } from "./frames.js";
import { encodeEvent, eventRowsInsert, eventRun, queuedEvent, type Event } from "./events.js";
import { recordOutcomes } from "./outcomes.js";
import {
  counts,
  finalStates,
  isFinal,
  type ItemRow,
  type JobRow,
  type NewJob,
  type Outcome,
  type WrittenEvents,
} from "./rows.js";
import { submitMany, type Submitted } from "./submit.js";

/** Creates the store. */
export function createJobStore(sql: Sql) {
  async function insertEvents(tx: Sql, jobId: string, firstSeq: number, events: Event[]): Promise<WrittenEvents> {
    const payloads = events.map((e, i) => encodeEvent(firstSeq + i, e));
    if (payloads.length > 0) await eventRowsInsert(tx, [eventRun(jobId, firstSeq, payloads)]);
    return { jobId, lastSeq: firstSeq + events.length - 1, events: payloads };
  }

  const submits = createCoalescer({ run: (batch: NewJob[]) => submitMany(sql, batch), concurrency: 2, maxBatch: 500 });

  return {
    /**
     * Creates a job, or returns the existing one for a known idempotency key. Submits made
     * while earlier ones are being written go together in the next statement (group commit).
     */
    submit(job: NewJob): Promise<Submitted> {
      return submits.call(job);
    },

    /** A job of the tenant, or undefined. */
    async get(tenantId: string, id: string): Promise<JobRow | undefined> {
      return (await sql<JobRow[]>`SELECT * FROM jobs WHERE id = ${id} AND tenant_id = ${tenantId}`)[0];
    },

    /** Items from index `from`, at most `limit`. */
    async items(jobId: string, from: number, limit: number): Promise<ItemRow[]> {
      return sql<ItemRow[]>`
        SELECT job_id, idx, state, result, error, attempts, source_idx FROM job_items
        WHERE job_id = ${jobId} AND idx >= ${from} ORDER BY idx LIMIT ${limit}`;
    },

    /** The tenant's jobs, newest first. */
    async list(
      tenantId: string,
      q: {
        state?: JobState;
        method?: string;
        limit: number;
        beforeSeq?: string;
        createdAfter?: Date;
        createdBefore?: Date;
      },
    ): Promise<JobRow[]> {
      return sql<JobRow[]>`
        SELECT * FROM jobs WHERE tenant_id = ${tenantId}
          ${q.state ? sql`AND state = ${q.state}` : sql``}
          ${q.method ? sql`AND method = ${q.method}` : sql``}
          ${q.createdAfter ? sql`AND create_time >= ${q.createdAfter}` : sql``}
          ${q.createdBefore ? sql`AND create_time < ${q.createdBefore}` : sql``}
          ${q.beforeSeq ? sql`AND seq < ${q.beforeSeq}` : sql``}
        ORDER BY seq DESC LIMIT ${q.limit}`;
    },

    /**
     * Events of a job after `afterSeq`, in order, as serialized WatchJobResponse messages, from
     * at most `limitRows` rows (a row holds the run of events one write produced); `more` when
     * there may be further rows.
     */
    async events(
      jobId: string,
      afterSeq: number,
      limitRows = 200,
    ): Promise<{ events: { seq: number; payload: Uint8Array }[]; more: boolean }> {
      const [rows, [job]] = await Promise.all([
        sql<{ seq: string; events: number; payload: Buffer }[]>`
          SELECT seq, events, payload FROM job_events WHERE job_id = ${jobId} AND seq > ${afterSeq} ORDER BY seq LIMIT ${limitRows}`,
        afterSeq < 1
          ? sql<{ total: number; create_time: Date }[]>`SELECT total, create_time FROM jobs WHERE id = ${jobId}`
          : [],
      ]);
      const events: { seq: number; payload: Uint8Array }[] = [];
      // Event 1 (QUEUED) is made from the job row unless an older version of the store wrote it.
      const firstStored = rows.length > 0 ? Number(rows[0].seq) - rows[0].events + 1 : Infinity;
      if (job && firstStored > 1) {
        events.push({ seq: 1, payload: encodeEvent(1, queuedEvent(job.total), timestampFromDate(job.create_time)) });
      }
      for (const r of rows) {
        const last = Number(r.seq);
        const run = r.events === 1 ? [r.payload] : unframeEvents(r.payload);
        run.forEach((payload, i) => {
          const seq = last - run.length + 1 + i;
          if (seq > afterSeq) events.push({ seq, payload });
        });
      }
      return { events, more: rows.length === limitRows };
    },

    /**
     * For each item, whether it may still run (item queued, job not final) and, when asked
     * for (a request too large to travel with its task), its request. Keys in, results out in
     * the same order; unknown items are not runnable.
     */
    async itemsForRun(
      keys: { jobId: string; index: number; needRequest?: boolean }[],
    ): Promise<{ runnable: boolean; request?: Buffer }[]> {
      const withRequest = keys.some((k) => k.needRequest);
      // The keys as a relation joined on the primary key: planned per execution with the
      // array's real length (an IN-list of a thousand values costs a thousand estimates).
      const rows = await sql<
        { job_id: string; idx: number; state: number; job_state: number; request: Buffer | null }[]
      >`
        SELECT i.job_id, i.idx, i.state, j.state AS job_state, ${withRequest ? sql`i.request` : sql`NULL::bytea AS request`}
        FROM unnest(${keys.map((k) => k.jobId)}::text[], ${keys.map((k) => k.index)}::int[]) AS k (job_id, idx)
        JOIN job_items i ON i.job_id = k.job_id AND i.idx = k.idx
        JOIN jobs j ON j.id = i.job_id`;
      const found = new Map(rows.map((r) => [`${r.job_id}:${r.idx}`, r]));
      return keys.map((k) => {
        const row = found.get(`${k.jobId}:${k.index}`);
        return row
          ? { runnable: row.state === ItemState.QUEUED && !isFinal(row.job_state), request: row.request ?? undefined }
          : { runnable: false };
      });
    },

    /** Ids of jobs not finished (queued or running), `limit` at a time after `afterId`. */
    async unfinishedJobIds(limit: number, afterId = ""): Promise<string[]> {
      // Literal states (JobState.QUEUED, RUNNING) so the partial index jobs_unfinished applies.
      const rows = await sql<{ id: string }[]>`
        SELECT id FROM jobs WHERE state IN (1, 2) AND id > ${afterId} ORDER BY id LIMIT ${limit}`;
      return rows.map((r) => r.id);
    },

    /** Outbox rows older than `ageMs`, oldest first. */
    async pendingOutbox(limit: number, ageMs: number) {
      return sql<{ id: string; job_ids: string[] }[]>`
        SELECT id, job_ids FROM job_outbox
        WHERE create_time < now() - ${`${ageMs} milliseconds`}::interval
        ORDER BY id LIMIT ${limit}`;
    },

    /** Removes outbox rows whose tasks were all published. */
    async clearOutbox(ids: string[]) {
      await sql`DELETE FROM job_outbox WHERE id = ANY(${ids}::bigint[])`;
    },

    /**
     * What the relay publishes for the given jobs: their items still queued (of jobs not finished),
     * ordered by (job, index), `limit` at a time after the `after` key.
     */
    async queuedTasks(jobIds: string[], limit: number, after?: { jobId: string; index: number }) {
      return sql<
        {
          job_id: string;
          idx: number;
          method: string;
          tenant_id: string;
          request_id: string;
          traceparent: string;
          request: Buffer;
        }[]
      >`
        SELECT i.job_id, i.idx, j.method, j.tenant_id, j.request_id, j.traceparent, i.request
        FROM jobs j JOIN job_items i ON i.job_id = j.id
        WHERE j.id = ANY(${jobIds}::text[]) AND j.state <> ALL(${finalStates}::int[])
          AND i.state = ${ItemState.QUEUED} AND (i.job_id, i.idx) > (${after?.jobId ?? ""}, ${after?.index ?? -1})
        ORDER BY i.job_id, i.idx LIMIT ${limit}`;
    },

    /** Appends a progress event (and moves a queued job to running). */
    async recordProgress(
      jobId: string,
      index: number,
      message: string,
      fraction: number,
    ): Promise<WrittenEvents | undefined> {
      return sql.begin(async (tx) => {
        const [job] = await tx<JobRow[]>`SELECT * FROM jobs WHERE id = ${jobId} FOR UPDATE`;
        if (!job || isFinal(job.state)) return undefined;
        const events: Event[] = [];
        if (job.state === JobState.QUEUED)
          events.push({ case: "stateChanged", value: { state: JobState.RUNNING, counts: counts(job) } });
        events.push({ case: "progress", value: { index, message, fraction } });
        const first = Number(job.last_seq) + 1;
        await tx`UPDATE jobs SET last_seq = last_seq + ${events.length}, state = ${JobState.RUNNING} WHERE id = ${jobId}`;
        return insertEvents(tx as unknown as Sql, jobId, first, events);
      });
    },

    /** Records item outcomes in one transaction (see recordOutcomes). */
    recordOutcomes(outcomes: Outcome[]) {
      return recordOutcomes(sql, outcomes);
    },

    /** Cancels a job of the tenant: queued items become cancelled; a finished job is unchanged. */
    async cancel(tenantId: string, id: string): Promise<{ job?: JobRow; written?: WrittenEvents }> {
      return sql.begin(async (tx) => {
        const [job] = await tx<JobRow[]>`SELECT * FROM jobs WHERE id = ${id} AND tenant_id = ${tenantId} FOR UPDATE`;
        if (!job || isFinal(job.state)) return { job };
        const [{ n }] = await tx<{ n: number }[]>`
          WITH c AS (UPDATE job_items SET state = ${ItemState.CANCELLED} WHERE job_id = ${id} AND state = ${ItemState.QUEUED} RETURNING 1)
          SELECT count(*)::int AS n FROM c`;
        const [updated] = await tx<JobRow[]>`
          UPDATE jobs SET state = ${JobState.CANCELLED}, cancelled = cancelled + ${n}, finish_time = now(), last_seq = last_seq + 1,
            webhook_next_at = CASE WHEN webhook_url IS NOT NULL THEN now() END
          WHERE id = ${id} RETURNING *`;
        const written = await insertEvents(tx as unknown as Sql, id, Number(updated.last_seq), [
          { case: "stateChanged", value: { state: JobState.CANCELLED, counts: counts(updated) } },
        ]);
        return { job: updated, written };
      });
    },

    /**
     * Submits again, as a new job built by `make`, the failed, dead-lettered and cancelled items
     * of a finished job of the tenant; a job retried before answers the job made then. The source
     * is locked while this runs, so two retries at once make one job. `refused` says why nothing
     * was made: the job is not finished, or has no such items.
     */
    async retry(
      tenantId: string,
      id: string,
      make: (source: JobRow, items: { idx: number; request: Buffer }[]) => NewJob,
    ): Promise<{ source?: JobRow; submitted?: Submitted; refused?: "unfinished" | "nothing" }> {
      return sql.begin(async (tx) => {
        const [source] = await tx<JobRow[]>`SELECT * FROM jobs WHERE id = ${id} AND tenant_id = ${tenantId} FOR UPDATE`;
        if (!source) return {};
        const [earlier] = await tx<JobRow[]>`SELECT * FROM jobs WHERE retry_of = ${id}`;
        if (earlier) return { source, submitted: { job: earlier, created: false } };
        if (!isFinal(source.state)) return { source, refused: "unfinished" };
        const items = await tx<{ idx: number; request: Buffer }[]>`
          SELECT idx, request FROM job_items WHERE job_id = ${id}
            AND state IN (${ItemState.FAILED}, ${ItemState.DEAD_LETTERED}, ${ItemState.CANCELLED}) ORDER BY idx`;
        if (items.length === 0) return { source, refused: "nothing" };
        const [submitted] = await submitMany(tx as unknown as Sql, [make(source, items)]);
        return { source, submitted };
      });
    },

    /** Jobs whose webhook is due. */
    async dueWebhooks(limit: number): Promise<JobRow[]> {
      return sql<JobRow[]>`
        SELECT * FROM jobs WHERE webhook_next_at IS NOT NULL AND webhook_done_at IS NULL AND webhook_next_at <= now()
        ORDER BY webhook_next_at LIMIT ${limit}`;
    },

    /** Records a webhook attempt: delivered, retry at `nextAt`, or given up (nextAt null). */
    async webhookAttempt(id: string, result: { delivered: boolean; nextAt: Date | null; error?: string }) {
      await sql`
        UPDATE jobs SET webhook_attempts = webhook_attempts + 1,
          webhook_done_at = ${result.delivered || result.nextAt === null ? sql`now()` : null},
          webhook_next_at = ${result.nextAt},
          webhook_error = ${result.error ?? null}
        WHERE id = ${id}`;
    },
  };
}

/** The job store. */
export type JobStore = ReturnType<typeof createJobStore>;
