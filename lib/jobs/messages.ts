/** Rows to API messages. */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { JobSchema } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import type { JobRow } from "./rows.js";

/** A job row as a Job message (without items). */
export function jobMessage(row: JobRow): MessageInitShape<typeof JobSchema> {
  return {
    id: row.id,
    method: row.method,
    state: row.state,
    counts: { total: row.total, succeeded: row.succeeded, failed: row.failed, cancelled: row.cancelled },
    batch: row.batch,
    idempotencyKey: row.idempotency_key ?? "",
    createTime: timestampFromDate(row.create_time),
    finishTime: row.finish_time ? timestampFromDate(row.finish_time) : undefined,
    lastSequence: BigInt(row.last_seq),
    retryOfJobId: row.retry_of ?? "",
  };
}
