/** Helpers for job tests: packing requests as Any, and collecting a WatchJob stream. */
import { create, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { anyPack, type Any } from "@bufbuild/protobuf/wkt";
import type { Client } from "@connectrpc/connect";
import type { JobService, WatchJobResponse } from "#gen/flowforge/jobs/v1/jobs_pb.js";

/** A request packed as google.protobuf.Any. */
export function pack<D extends DescMessage>(schema: D, init: MessageInitShape<D>): Any {
  return anyPack(schema, create(schema, init));
}

/** Reads WatchJob until the stream ends (the job finished) or `stopAfter` events arrived. */
export async function watchAll(
  client: Client<typeof JobService>,
  jobId: string,
  afterSequence = 0n,
  stopAfter = Infinity,
): Promise<WatchJobResponse[]> {
  const events: WatchJobResponse[] = [];
  const abort = new AbortController();
  try {
    for await (const e of client.watchJob({ jobId, afterSequence }, { signal: abort.signal, timeoutMs: 120_000 })) {
      events.push(e);
      if (events.length >= stopAfter) {
        abort.abort();
        break;
      }
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err;
  }
  return events;
}
