/** Jobs and items as stored, and as the API shows them. */
import { createHash } from "node:crypto";
import { fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { StatusSchema } from "#gen/google/rpc/status_pb.js";
import { type ItemState, JobState, type JobItemSchema } from "#gen/flowforge/jobs/v1/jobs_pb.js";

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
  /** requestFingerprint of what it was submitted with (null for jobs from before it was kept). */
  request_hash: string | null;
  request_id: string;
  traceparent: string;
  webhook_url: string | null;
  webhook_secret: string | null;
  webhook_attempts: number;
  /** The job this one retries (RetryJob). */
  retry_of: string | null;
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
  /** In a retry job, the index of the item retried. */
  source_idx: number | null;
}

/** What submit needs. */
export interface NewJob {
  tenantId: string;
  method: string;
  capability: string;
  batch: boolean;
  requests: Uint8Array[];
  idempotencyKey?: string;
  /** requestFingerprint of this submit, kept with a job that has an idempotency key. */
  requestHash?: string;
  webhook?: { url: string; secret: string };
  requestId: string;
  traceparent: string;
  /** A retry (RetryJob): the job retried, and for each request the index of the item it retries. */
  retryOf?: { jobId: string; indexes: number[] };
}

/**
 * What identifies a submit's request, for idempotency keys: its method, whether it is a batch,
 * each item's bytes and the webhook URL, hashed (SHA-256, hex).
 */
export function requestFingerprint(job: Pick<NewJob, "method" | "batch" | "requests" | "webhook">): string {
  const hash = createHash("sha256").update(`${job.method}\0${job.batch ? 1 : 0}\0${job.webhook?.url ?? ""}\0`);
  for (const r of job.requests) hash.update(`${r.length}:`).update(r);
  return hash.digest("hex");
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

/** The states a job ends in. */
export const finalStates = [JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED];
/** Whether a job state is final (succeeded, failed or cancelled). */
export const isFinal = (s: JobState) => finalStates.includes(s);

/** An item as the API shows it: result as google.protobuf.Any, error as google.rpc.Status. */
export function itemMessage(
  row: Pick<ItemRow, "idx" | "state" | "attempts" | "result" | "error" | "source_idx">,
  resultType: string,
): MessageInitShape<typeof JobItemSchema> {
  return {
    index: row.idx,
    state: row.state,
    attempts: row.attempts,
    sourceIndex: row.source_idx ?? 0,
    result: row.result ? { typeUrl: `type.googleapis.com/${resultType}`, value: row.result } : undefined,
    error: row.error ? fromBinary(StatusSchema, row.error) : undefined,
  };
}

/** A job's counts as the API shows them. */
export const counts = (j: Pick<JobRow, "total" | "succeeded" | "failed" | "cancelled">) => ({
  total: j.total,
  succeeded: j.succeeded,
  failed: j.failed,
  cancelled: j.cancelled,
});
