/** Job events: their encoding, and their rows (a row holds the run of events one write made). */
import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { JobState, WatchJobResponseSchema } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import type { Sql } from "#db/sql.js";
import { frameEvents } from "./frames.js";

/** One event of a job, before its sequence and time are set. */
export type Event = MessageInitShape<typeof WatchJobResponseSchema>["event"];

/** A serialized WatchJobResponse for `event` at `seq`. */
export function encodeEvent(seq: number, event: Event, time = timestampNow()): Buffer {
  return Buffer.from(
    toBinary(WatchJobResponseSchema, create(WatchJobResponseSchema, { sequence: BigInt(seq), time, event })),
  );
}

/** A job's first event. */
export const queuedEvent = (total: number): Event => ({
  case: "stateChanged",
  value: { state: JobState.QUEUED, counts: { total, succeeded: 0, failed: 0, cancelled: 0 } },
});

/** A job_events row. */
export type EventRow = ReturnType<typeof eventRun>;

/** One job_events row for consecutive events from `firstSeq`: a bare message, or a framed run. */
export function eventRun(jobId: string, firstSeq: number, payloads: Buffer[]) {
  return {
    job_id: jobId,
    seq: firstSeq + payloads.length - 1,
    events: payloads.length,
    payload: payloads.length === 1 ? payloads[0] : frameEvents(payloads),
  };
}

/** The INSERT of event rows: awaited on its own, or placed after a CTE as a fragment. */
export function eventRowsInsert(tx: Sql, rows: EventRow[]) {
  return tx`
    INSERT INTO job_events (job_id, seq, events, payload)
    SELECT u.job_id, u.seq, u.events, decode(u.payload, 'hex')
    FROM unnest(${rows.map((r) => r.job_id)}::text[], ${rows.map((r) => r.seq)}::bigint[], ${rows.map((r) => r.events)}::int[], ${rows.map((r) => r.payload.toString("hex"))}::text[])
      AS u (job_id, seq, events, payload)`;
}
