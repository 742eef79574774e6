/** Outcomes of items, recorded in batches: item results, job counts and states, events. */
import { ItemState, JobState } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import type { Sql } from "#db/sql.js";
import { encodeEvent, eventRowsInsert, eventRun, type Event, type EventRow } from "./events.js";
import { counts, isFinal, itemMessage, type JobRow, type Outcome, type WrittenEvents } from "./rows.js";

/**
 * Records item outcomes in one transaction: items still queued take the outcome, their
 * jobs' counts and events follow, and a job whose items are all done gets its final state.
 */
export async function recordOutcomes(
  sql: Sql,
  outcomes: Outcome[],
): Promise<{ written: WrittenEvents[]; webhooksDue: string[] }> {
  if (outcomes.length === 0) return { written: [], webhooksDue: [] };
  return sql.begin(async (tx) => {
    // One outcome per item (a redelivered task may report twice in one batch).
    const byKey = new Map(outcomes.map((o) => [`${o.jobId}:${o.index}`, o]));
    const unique = [...byKey.values()];
    const hex = (o: Outcome, ok: boolean) =>
      (o.state === ItemState.SUCCEEDED) === ok ? Buffer.from(o.payload).toString("hex") : null;
    // One statement takes the outcomes of items still queued and locks their jobs in id
    // order (so concurrent flushes cannot deadlock); only keys come back, the outcomes
    // themselves are already here. Every statement here has the same text whatever the
    // batch size (arrays, not a VALUES list per row), so each is prepared once.
    const jobs = await tx<
      (Pick<JobRow, "id" | "state" | "total" | "succeeded" | "failed" | "cancelled" | "last_seq" | "webhook_url"> & {
        changed: number[];
        sources: number[];
      })[]
    >`
      WITH changed AS (
        UPDATE job_items AS i
        SET state = u.state, result = decode(u.result, 'hex'), error = decode(u.error, 'hex'), attempts = u.attempts
        FROM unnest(${unique.map((o) => o.jobId)}::text[], ${unique.map((o) => o.index)}::int[], ${unique.map((o) => o.state)}::int[],
                    ${unique.map((o) => hex(o, true))}::text[], ${unique.map((o) => hex(o, false))}::text[], ${unique.map((o) => o.attempts)}::int[])
          AS u (job_id, idx, state, result, error, attempts)
        WHERE i.job_id = u.job_id AND i.idx = u.idx AND i.state = ${ItemState.QUEUED}
        RETURNING i.job_id, i.idx, i.source_idx
      )
      SELECT j.id, j.state, j.total, j.succeeded, j.failed, j.cancelled, j.last_seq, j.webhook_url,
             (SELECT array_agg(c.idx ORDER BY c.idx) FROM changed c WHERE c.job_id = j.id) AS changed,
             (SELECT array_agg(coalesce(c.source_idx, 0) ORDER BY c.idx) FROM changed c WHERE c.job_id = j.id) AS sources
      FROM jobs j WHERE j.id IN (SELECT job_id FROM changed) ORDER BY j.id FOR UPDATE OF j`;
    const resultTypes = new Map(outcomes.map((o) => [o.jobId, o.resultType]));
    const written: WrittenEvents[] = [];
    const webhooksDue: string[] = [];
    const updates: { id: string; ok: number; bad: number; n: number; state: number; done: boolean }[] = [];
    const eventRows: EventRow[] = [];
    for (const job of jobs) {
      if (isFinal(job.state)) continue;
      const items = job.changed.map((idx, n) => {
        const o = byKey.get(`${job.id}:${idx}`)!;
        const payload = Buffer.from(o.payload);
        const ok = o.state === ItemState.SUCCEEDED;
        return {
          idx,
          state: o.state as number,
          attempts: o.attempts,
          result: ok ? payload : null,
          error: ok ? null : payload,
          source_idx: job.sources[n],
        };
      });
      const events: Event[] = [];
      if (job.state === JobState.QUEUED)
        events.push({ case: "stateChanged", value: { state: JobState.RUNNING, counts: counts(job) } });
      let s = job.succeeded;
      let f = job.failed;
      for (const item of items) {
        if (item.state === ItemState.SUCCEEDED) s++;
        else f++;
        events.push({
          case: "itemFinished",
          value: {
            item: itemMessage(item, resultTypes.get(job.id) ?? ""),
            counts: counts({ ...job, succeeded: s, failed: f }),
          },
        });
      }
      const done = s + f + job.cancelled >= job.total;
      let state = JobState.RUNNING;
      if (done) {
        state = f > 0 ? JobState.FAILED : JobState.SUCCEEDED;
        events.push({ case: "stateChanged", value: { state, counts: counts({ ...job, succeeded: s, failed: f }) } });
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
}
