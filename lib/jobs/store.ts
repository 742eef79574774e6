/**
 * Jobs in PostgreSQL: submit (job, items and outbox in one statement), reads,
 * cancellation, and outcomes recorded in batches with gapless per-job event sequences. Every
 * write that changes an item is conditional on its state, so a redelivered task never counts
 * twice.
 */
import { randomUUID } from "node:crypto";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { timestampFromDate, timestampNow } from "@bufbuild/protobuf/wkt";
import { ItemState, JobState, WatchJobResponseSchema, type JobItemSchema } from "../../gen/flowforge/jobs/v1/jobs_pb.js";
import type { Sql } from "../db/sql.js";
import { createCoalescer } from "../runtime/coalesce.js";
import { frameEvents, unframeEvents } from "./frames.js";

/** A job row. */
export interface JobRow {
  id: string;
  tenant_id: string;
  method: string;
  batch: boolean;
  state: JobState;
  total: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  last_seq: string;
  idempotency_key: string | null;
  request_id: string;
  traceparent: string;
  webhook_url: string | null;
  webhook_secret: string | null;
  webhook_attempts: number;
  create_time: Date;
  finish_time: Date | null;
  seq: string;
}

/** An item row (request omitted unless asked). */
export interface ItemRow {
  job_id: string;
  idx: number;
  state: ItemState;
  result: Buffer | null;
  error: Buffer | null;
  attempts: number;
}

/** What submit needs. */
export interface NewJob {
  tenantId: string;
  method: string;
  capability: string;
  batch: boolean;
  requests: Uint8Array[];
  idempotencyKey?: string;
  webhook?: { url: string; secret: string };
  requestId: string;
  traceparent: string;
}

/** The final outcome of one item attempt, as a worker reports it. */
export interface Outcome {
  jobId: string;
  index: number;
  state: ItemState.SUCCEEDED | ItemState.FAILED | ItemState.DEAD_LETTERED;
  /** Response bytes (SUCCEEDED) or google.rpc.Status bytes (otherwise). */
  payload: Uint8Array;
  attempts: number;
  /** Full name of the method's output type, for the result's google.protobuf.Any. */
  resultType: string;
}

/** Events written for a job, for notifying watchers. */
export interface WrittenEvents {
  jobId: string;
  lastSeq: number;
  /** The events' serialized WatchJobResponse messages, in sequence order. */
  events: Buffer[];
}

const finalStates = [JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED];
export const isFinal = (s: JobState) => finalStates.includes(s);

type Event = MessageInitShape<typeof WatchJobResponseSchema>["event"];

function encodeEvent(seq: number, event: Event, time = timestampNow()): Buffer {
  return Buffer.from(toBinary(WatchJobResponseSchema, create(WatchJobResponseSchema, { sequence: BigInt(seq), time, event })));
}

/** An item as the API shows it: result as google.protobuf.Any, error as google.rpc.Status. */
export function itemMessage(row: Pick<ItemRow, "idx" | "state" | "attempts" | "result" | "error">, resultType: string): MessageInitShape<typeof JobItemSchema> {
  return {
    index: row.idx,
    state: row.state,
    attempts: row.attempts,
    result: row.result ? { typeUrl: `type.googleapis.com/${resultType}`, value: row.result } : undefined,
    error: row.error ? fromBinary(StatusSchema, row.error) : undefined,
  };
}

const counts = (j: Pick<JobRow, "total" | "succeeded" | "failed" | "cancelled">) => ({
  total: j.total,
  succeeded: j.succeeded,
  failed: j.failed,
  cancelled: j.cancelled,
});

/** A job's first event. */
const queuedEvent = (total: number): Event => ({ case: "stateChanged", value: { state: JobState.QUEUED, counts: { total, succeeded: 0, failed: 0, cancelled: 0 } } });

/** One job_events row for consecutive events from `firstSeq`: a bare message, or a framed run. */
function eventRun(jobId: string, firstSeq: number, payloads: Buffer[]) {
  return { job_id: jobId, seq: firstSeq + payloads.length - 1, events: payloads.length, payload: payloads.length === 1 ? payloads[0] : frameEvents(payloads) };
}

/** Creates the store. */
export function createJobStore(sql: Sql) {
  /** The INSERT of event rows, as a fragment (it also follows a CTE). */
  function eventRowsInsert(tx: Sql, rows: ReturnType<typeof eventRun>[]) {
    return tx`
      INSERT INTO job_events (job_id, seq, events, payload)
      SELECT u.job_id, u.seq, u.events, decode(u.payload, 'hex')
      FROM unnest(${rows.map((r) => r.job_id)}::text[], ${rows.map((r) => r.seq)}::bigint[], ${rows.map((r) => r.events)}::int[], ${rows.map((r) => r.payload.toString("hex"))}::text[])
        AS u (job_id, seq, events, payload)`;
  }

  async function insertEventRows(tx: Sql, rows: ReturnType<typeof eventRun>[]) {
    await tx`${eventRowsInsert(tx, rows)}`;
  }

  async function insertEvents(tx: Sql, jobId: string, firstSeq: number, events: Event[]): Promise<WrittenEvents> {
    const payloads = events.map((e, i) => encodeEvent(firstSeq + i, e));
    if (payloads.length > 0) await insertEventRows(tx, [eventRun(jobId, firstSeq, payloads)]);
    return { jobId, lastSeq: firstSeq + events.length - 1, events: payloads };
  }

  /**
   * Writes many submits with one statement (one round trip, one commit): every job, its items
   * and its outbox rows (its first event, QUEUED, is not stored: it is made from the job row). A job whose idempotency key is already taken (by an
   * earlier submit, or by another submit in the same batch) is not written; its caller gets the
   * job that holds the key.
   */
  async function submitMany(batch: NewJob[]): Promise<{ job: JobRow; created: boolean }[]> {
    const keyOf = (j: NewJob) => (j.idempotencyKey === undefined ? undefined : `${j.tenantId}\0${j.idempotencyKey}`);
    const firstWithKey = new Map<string, number>();
    const writes: { job: NewJob; id: string }[] = [];
    const repeat = new Set<number>();
    const slot = batch.map((j, n) => {
      const key = keyOf(j);
      if (key !== undefined && firstWithKey.has(key)) {
        repeat.add(n);
        return firstWithKey.get(key)!;
      }
      if (key !== undefined) firstWithKey.set(key, writes.length);
      writes.push({ job: j, id: randomUUID() });
      return writes.length - 1;
    });
    const items = writes.flatMap(({ job, id }) => job.requests.map((r, i) => ({ id, i, hex: Buffer.from(r).toString("hex"), subject: job.capability })));
    const col = <T>(f: (w: { job: NewJob; id: string }) => T) => writes.map(f);
    const rows = await sql<JobRow[]>`
      WITH j AS (
        INSERT INTO jobs (id, tenant_id, method, batch, state, total, last_seq, idempotency_key, request_id, traceparent, webhook_url, webhook_secret)
        SELECT u.id, u.tenant_id, u.method, u.batch <> 0, ${JobState.QUEUED}, u.total, 1, u.idempotency_key, u.request_id, u.traceparent, u.webhook_url, u.webhook_secret
        FROM unnest(
          ${col((w) => w.id)}::text[], ${col((w) => w.job.tenantId)}::text[], ${col((w) => w.job.method)}::text[], ${col((w) => (w.job.batch ? 1 : 0))}::int[],
          ${col((w) => w.job.requests.length)}::int[], ${col((w) => w.job.idempotencyKey ?? null)}::text[], ${col((w) => w.job.requestId)}::text[],
          ${col((w) => w.job.traceparent)}::text[], ${col((w) => w.job.webhook?.url ?? null)}::text[], ${col((w) => w.job.webhook?.secret ?? null)}::text[]
        ) AS u (id, tenant_id, method, batch, total, idempotency_key, request_id, traceparent, webhook_url, webhook_secret)
        ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING *
      ), items AS (
        INSERT INTO job_items (job_id, idx, state, request)
        SELECT u.job_id, u.idx, ${ItemState.QUEUED}, decode(u.r, 'hex')
        FROM unnest(${items.map((x) => x.id)}::text[], ${items.map((x) => x.i)}::int[], ${items.map((x) => x.hex)}::text[]) AS u (job_id, idx, r)
        WHERE u.job_id IN (SELECT id FROM j)
      ), outbox AS (
        INSERT INTO job_outbox (job_id, idx, subject)
        SELECT u.job_id, u.idx, u.subject
        FROM unnest(${items.map((x) => x.id)}::text[], ${items.map((x) => x.i)}::int[], ${items.map((x) => x.subject)}::text[]) AS u (job_id, idx, subject)
        WHERE u.job_id IN (SELECT id FROM j)
      )
      SELECT * FROM j`;
    const written = new Map(rows.map((r) => [r.id, r]));
    // Keys taken before this batch: the jobs that hold them.
    const taken = writes.filter((w) => !written.has(w.id));
    const holders = new Map<string, JobRow>();
    if (taken.length > 0) {
      const found = await sql<JobRow[]>`
        SELECT j.* FROM jobs j JOIN unnest(${taken.map((w) => w.job.tenantId)}::text[], ${taken.map((w) => w.job.idempotencyKey!)}::text[]) AS k (tenant_id, idempotency_key)
          ON j.tenant_id = k.tenant_id AND j.idempotency_key = k.idempotency_key`;
      for (const f of found) holders.set(`${f.tenant_id}\0${f.idempotency_key}`, f);
    }
    return batch.map((j, n) => {
      const w = writes[slot[n]];
      const row = written.get(w.id);
      if (row) return { job: row, created: !repeat.has(n) };
      const holder = holders.get(keyOf(j)!);
      if (!holder) throw new Error(`job with idempotency key ${j.idempotencyKey} neither written nor found`);
      return { job: holder, created: false };
    });
  }
  const submits = createCoalescer({ run: submitMany, concurrency: 2, maxBatch: 500 });

  return {
    /**
     * Creates a job, or returns the existing one for a known idempotency key. Submits made
     * while earlier ones are being written go together in the next statement (group commit).
     */
    submit(job: NewJob): Promise<{ job: JobRow; created: boolean }> {
      return submits.call(job);
    },

    /** A job of the tenant, or undefined. */
    async get(tenantId: string, id: string): Promise<JobRow | undefined> {
      return (await sql<JobRow[]>`SELECT * FROM jobs WHERE id = ${id} AND tenant_id = ${tenantId}`)[0];
    },

    /** Items from index `from`, at most `limit`. */
    async items(jobId: string, from: number, limit: number): Promise<ItemRow[]> {
      return sql<ItemRow[]>`
        SELECT job_id, idx, state, result, error, attempts FROM job_items
        WHERE job_id = ${jobId} AND idx >= ${from} ORDER BY idx LIMIT ${limit}`;
    },

    /** The tenant's jobs, newest first. */
    async list(tenantId: string, q: { state?: JobState; method?: string; limit: number; beforeSeq?: string }): Promise<JobRow[]> {
      return sql<JobRow[]>`
        SELECT * FROM jobs WHERE tenant_id = ${tenantId}
          ${q.state ? sql`AND state = ${q.state}` : sql``}
          ${q.method ? sql`AND method = ${q.method}` : sql``}
          ${q.beforeSeq ? sql`AND seq < ${q.beforeSeq}` : sql``}
        ORDER BY seq DESC LIMIT ${q.limit}`;
    },

    /**
     * Events of a job after `afterSeq`, in order, as serialized WatchJobResponse messages, from
     * at most `limitRows` rows (a row holds the run of events one write produced); `more` when
     * there may be further rows.
     */
    async events(jobId: string, afterSeq: number, limitRows = 200): Promise<{ events: { seq: number; payload: Uint8Array }[]; more: boolean }> {
      const [rows, [job]] = await Promise.all([
        sql<{ seq: string; events: number; payload: Buffer }[]>`
          SELECT seq, events, payload FROM job_events WHERE job_id = ${jobId} AND seq > ${afterSeq} ORDER BY seq LIMIT ${limitRows}`,
        afterSeq < 1 ? sql<{ total: number; create_time: Date }[]>`SELECT total, create_time FROM jobs WHERE id = ${jobId}` : [],
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
    async itemsForRun(keys: { jobId: string; index: number; needRequest?: boolean }[]): Promise<{ runnable: boolean; request?: Buffer }[]> {
      const withRequest = keys.some((k) => k.needRequest);
      // The keys as a relation joined on the primary key: planned per execution with the
      // array's real length (an IN-list of a thousand values costs a thousand estimates).
      const rows = await sql<{ job_id: string; idx: number; state: number; job_state: number; request: Buffer | null }[]>`
        SELECT i.job_id, i.idx, i.state, j.state AS job_state, ${withRequest ? sql`i.request` : sql`NULL::bytea AS request`}
        FROM unnest(${keys.map((k) => k.jobId)}::text[], ${keys.map((k) => k.index)}::int[]) AS k (job_id, idx)
        JOIN job_items i ON i.job_id = k.job_id AND i.idx = k.idx
        JOIN jobs j ON j.id = i.job_id`;
      const found = new Map(rows.map((r) => [`${r.job_id}:${r.idx}`, r]));
      return keys.map((k) => {
        const row = found.get(`${k.jobId}:${k.index}`);
        return row ? { runnable: row.state === ItemState.QUEUED && !isFinal(row.job_state), request: row.request ?? undefined } : { runnable: false };
      });
    },

    /** Outbox rows older than `ageMs`, oldest first. */
    async pendingOutbox(limit: number, ageMs: number) {
      return sql<{ job_id: string; idx: number; subject: string }[]>`
        SELECT job_id, idx, subject FROM job_outbox
        WHERE create_time < now() - ${`${ageMs} milliseconds`}::interval
        ORDER BY create_time LIMIT ${limit}`;
    },

    /** Removes published tasks from the outbox. */
    async clearOutbox(keys: { jobId: string; index: number }[]) {
      for (let i = 0; i < keys.length; i += 1000) {
        const chunk = keys.slice(i, i + 1000);
        await sql`
          DELETE FROM job_outbox AS o USING unnest(${chunk.map((k) => k.jobId)}::text[], ${chunk.map((k) => k.index)}::int[]) AS k (job_id, idx)
          WHERE o.job_id = k.job_id AND o.idx = k.idx`;
      }
    },

    /** Details needed to publish outbox rows. */
    async tasksFor(keys: { jobId: string; index: number }[]) {
      if (keys.length === 0) return [];
      return sql<{ job_id: string; idx: number; method: string; tenant_id: string; request_id: string; traceparent: string; request: Buffer }[]>`
        SELECT i.job_id, i.idx, j.method, j.tenant_id, j.request_id, j.traceparent, i.request
        FROM unnest(${keys.map((k) => k.jobId)}::text[], ${keys.map((k) => k.index)}::int[]) AS k (job_id, idx)
        JOIN job_items i ON i.job_id = k.job_id AND i.idx = k.idx
        JOIN jobs j ON j.id = i.job_id`;
    },

    /** Appends a progress event (and moves a queued job to running). */
    async recordProgress(jobId: string, index: number, message: string, fraction: number): Promise<WrittenEvents | undefined> {
      return sql.begin(async (tx) => {
        const [job] = await tx<JobRow[]>`SELECT * FROM jobs WHERE id = ${jobId} FOR UPDATE`;
        if (!job || isFinal(job.state)) return undefined;
        const events: Event[] = [];
        if (job.state === JobState.QUEUED) events.push({ case: "stateChanged", value: { state: JobState.RUNNING, counts: counts(job) } });
        events.push({ case: "progress", value: { index, message, fraction } });
        const first = Number(job.last_seq) + 1;
        await tx`UPDATE jobs SET last_seq = last_seq + ${events.length}, state = ${JobState.RUNNING} WHERE id = ${jobId}`;
        return insertEvents(tx as unknown as Sql, jobId, first, events);
      });
    },

    /**
     * Records item outcomes in one transaction: items still queued take the outcome, their
     * jobs' counts and events follow, and a job whose items are all done gets its final state.
     */
    async recordOutcomes(outcomes: Outcome[]): Promise<{ written: WrittenEvents[]; webhooksDue: string[] }> {
      if (outcomes.length === 0) return { written: [], webhooksDue: [] };
      return sql.begin(async (tx) => {
        // One outcome per item (a redelivered task may report twice in one batch).
        const byKey = new Map(outcomes.map((o) => [`${o.jobId}:${o.index}`, o]));
        const unique = [...byKey.values()];
        const hex = (o: Outcome, ok: boolean) => ((o.state === ItemState.SUCCEEDED) === ok ? Buffer.from(o.payload).toString("hex") : null);
        // One statement takes the outcomes of items still queued and locks their jobs in id
        // order (so concurrent flushes cannot deadlock); only keys come back, the outcomes
        // themselves are already here. Every statement here has the same text whatever the
        // batch size (arrays, not a VALUES list per row), so each is prepared once.
        const jobs = await tx<(Pick<JobRow, "id" | "state" | "total" | "succeeded" | "failed" | "cancelled" | "last_seq" | "webhook_url"> & { changed: number[] })[]>`
          WITH changed AS (
            UPDATE job_items AS i
            SET state = u.state, result = decode(u.result, 'hex'), error = decode(u.error, 'hex'), attempts = u.attempts
            FROM unnest(${unique.map((o) => o.jobId)}::text[], ${unique.map((o) => o.index)}::int[], ${unique.map((o) => o.state)}::int[],
                        ${unique.map((o) => hex(o, true))}::text[], ${unique.map((o) => hex(o, false))}::text[], ${unique.map((o) => o.attempts)}::int[])
              AS u (job_id, idx, state, result, error, attempts)
            WHERE i.job_id = u.job_id AND i.idx = u.idx AND i.state = ${ItemState.QUEUED}
            RETURNING i.job_id, i.idx
          )
          SELECT j.id, j.state, j.total, j.succeeded, j.failed, j.cancelled, j.last_seq, j.webhook_url,
                 (SELECT array_agg(c.idx ORDER BY c.idx) FROM changed c WHERE c.job_id = j.id) AS changed
          FROM jobs j WHERE j.id IN (SELECT job_id FROM changed) ORDER BY j.id FOR UPDATE OF j`;
        const resultTypes = new Map(outcomes.map((o) => [o.jobId, o.resultType]));
        const written: WrittenEvents[] = [];
        const webhooksDue: string[] = [];
        const updates: { id: string; ok: number; bad: number; n: number; state: number; done: boolean }[] = [];
        const eventRows: ReturnType<typeof eventRun>[] = [];
        for (const job of jobs) {
          if (isFinal(job.state)) continue;
          const items = job.changed.map((idx) => {
            const o = byKey.get(`${job.id}:${idx}`)!;
            const payload = Buffer.from(o.payload);
            const ok = o.state === ItemState.SUCCEEDED;
            return { idx, state: o.state as number, attempts: o.attempts, result: ok ? payload : null, error: ok ? null : payload };
          });
          const events: Event[] = [];
          if (job.state === JobState.QUEUED) events.push({ case: "stateChanged", value: { state: JobState.RUNNING, counts: counts(job) } });
          let s = job.succeeded;
          let f = job.failed;
          for (const item of items) {
            if (item.state === ItemState.SUCCEEDED) s++;
            else f++;
            events.push({
              case: "itemFinished",
              value: { item: itemMessage(item, resultTypes.get(job.id) ?? ""), counts: { total: job.total, succeeded: s, failed: f, cancelled: job.cancelled } },
            });
          }
          const done = s + f + job.cancelled >= job.total;
          let state = JobState.RUNNING;
          if (done) {
            state = f > 0 ? JobState.FAILED : JobState.SUCCEEDED;
            events.push({ case: "stateChanged", value: { state, counts: { total: job.total, succeeded: s, failed: f, cancelled: job.cancelled } } });
            if (job.webhook_url) webhooksDue.push(job.id);
          }
          const firstSeq = Number(job.last_seq) + 1;
          const payloads = events.map((e, i) => encodeEvent(firstSeq + i, e));
          eventRows.push(eventRun(job.id, firstSeq, payloads));
          updates.push({ id: job.id, ok: s - job.succeeded, bad: f - job.failed, n: events.length, state, done });
          written.push({ jobId: job.id, lastSeq: firstSeq + events.length - 1, events: payloads });
        }
        if (updates.length > 0) {
          // The jobs' counts and their events, in one statement.
          await tx`
            WITH updated AS (
            UPDATE jobs AS j SET
              succeeded = j.succeeded + u.ok, failed = j.failed + u.bad,
              last_seq = j.last_seq + u.n, state = u.state,
              finish_time = CASE WHEN u.done = 1 THEN now() ELSE j.finish_time END,
              webhook_next_at = CASE WHEN u.done = 1 AND j.webhook_url IS NOT NULL THEN now() ELSE j.webhook_next_at END
            FROM unnest(${updates.map((u) => u.id)}::text[], ${updates.map((u) => u.ok)}::int[], ${updates.map((u) => u.bad)}::int[],
                        ${updates.map((u) => u.n)}::int[], ${updates.map((u) => u.state)}::int[], ${updates.map((u) => (u.done ? 1 : 0))}::int[])
              AS u (id, ok, bad, n, state, done)
            WHERE j.id = u.id
            )
            ${eventRowsInsert(tx as unknown as Sql, eventRows)}`;
        }
        return { written, webhooksDue };
      });
    },

    /** Cancels a job of the tenant: queued items become cancelled; a finished job is unchanged. */
    async cancel(tenantId: string, id: string): Promise<{ job?: JobRow; written?: WrittenEvents }> {
      return sql.begin(async (tx) => {
        const [job] = await tx<JobRow[]>`SELECT * FROM jobs WHERE id = ${id} AND tenant_id = ${tenantId} FOR UPDATE`;
        if (!job || isFinal(job.state)) return { job };
        const [{ n }] = await tx<{ n: number }[]>`
          WITH c AS (UPDATE job_items SET state = ${ItemState.CANCELLED} WHERE job_id = ${id} AND state = ${ItemState.QUEUED} RETURNING 1)
          SELECT count(*)::int AS n FROM c`;
        await tx`DELETE FROM job_outbox WHERE job_id = ${id}`;
        const [updated] = await tx<JobRow[]>`
          UPDATE jobs SET state = ${JobState.CANCELLED}, cancelled = cancelled + ${n}, finish_time = now(), last_seq = last_seq + 1,
            webhook_next_at = CASE WHEN webhook_url IS NOT NULL THEN now() END
          WHERE id = ${id} RETURNING *`;
        const written = await insertEvents(tx as unknown as Sql, id, Number(updated.last_seq), [{ case: "stateChanged", value: { state: JobState.CANCELLED, counts: counts(updated) } }]);
        return { job: updated, written };
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
