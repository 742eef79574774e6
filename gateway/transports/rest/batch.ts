/**
 * `:batch` routes and `?wait=`: a batch body as a SubmitJobRequest (items without `@type`, their
 * faults named by index), and waiting for a job to finish by watching it.
 */
import { create, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { ConnectError, createHandlerContext, type HandlerContext } from "@connectrpc/connect";
import {
  GetJobRequestSchema,
  type Job,
  JobService,
  JobState,
  SubmitJobRequestSchema,
  type WatchJobResponse,
} from "#gen/flowforge/jobs/v1/jobs_pb.js";
import { invalidArgument } from "#runtime/errors.js";
import { type RestError, restStatusOf } from "./envelope.js";
import { restInput } from "./request.js";
import type { RestRoute } from "./routes.js";

/** Longest `?wait=`. */
export const maxWaitMs = 120_000;
const finalStates = new Set([JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED]);

/** The job service's implementations awaitJob reads and watches with. */
export interface JobMethods {
  getJob: (request: unknown, context: HandlerContext) => unknown;
  watchJob: (request: unknown, context: HandlerContext) => unknown;
}

export /** Reads `30s`, `500ms`, `2m` or plain seconds. */
function parseWait(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw invalidArgument("wait", `must be a duration such as 30s or 500ms, not "${text}"`);
  const ms = Number(m[1]) * (m[2] === "ms" ? 1 : m[2] === "m" ? 60_000 : 1000);
  if (ms > maxWaitMs) throw invalidArgument("wait", `must be at most ${maxWaitMs / 1000}s`);
  return ms;
}

/** The job once it has finished or `waitMs` passed (a watch from its latest event), then read again. */
export async function awaitJob(
  jobs: JobMethods,
  job: Job,
  wait: { ms: number; context: HandlerContext },
): Promise<MessageShape<DescMessage>> {
  const { ms: waitMs, context } = wait;
  const get = () =>
    jobs.getJob(create(GetJobRequestSchema, { jobId: job.id }), context) as Promise<MessageShape<DescMessage>>;
  if (finalStates.has(job.state)) return get();
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), waitMs);
  const onAbort = () => stop.abort();
  context.signal.addEventListener("abort", onAbort, { once: true });
  const watchContext = createHandlerContext({
    service: JobService,
    method: JobService.method.watchJob,
    protocolName: "rest",
    requestMethod: "GET",
    url: "",
    requestSignal: stop.signal,
    requestHeader: context.requestHeader,
    contextValues: context.values,
  });
  try {
    const events = jobs.watchJob(
      { jobId: job.id, afterSequence: job.lastSequence },
      watchContext,
    ) as AsyncIterable<WatchJobResponse>;
    for await (const e of events) {
      if (e.event.case === "stateChanged" && finalStates.has(e.event.value.state)) break;
    }
  } catch (err) {
    if (!stop.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    context.signal.removeEventListener("abort", onAbort);
    stop.abort();
  }
  return get();
}

/**
 * The batch route's input: `{"items": [...], "idempotencyKey"?, "webhook"?}` as a SubmitJobRequest;
 * the path's variables (`{collection}`) fill that field of every item.
 */
export function batchInput(route: RestRoute, body: unknown, params: Record<string, string> = {}) {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw invalidArgument("body", 'must be a JSON object: {"items": [...]}');
  const { items, ...rest } = body as { items?: unknown };
  if (!Array.isArray(items) || items.length === 0)
    throw invalidArgument("items", `must be a non-empty list of ${route.method.input.typeName}`);
  const packed = items.map((item, i) => {
    try {
      return anyPack(
        route.method.input,
        restInput(route.method.input, { params, query: new URLSearchParams(), body: item, bodyField: "*" }),
      );
    } catch (err) {
      throw prefixFields(ConnectError.from(err), `items[${i}]`);
    }
  });
  const submit = restInput(SubmitJobRequestSchema, {
    params: {},
    query: new URLSearchParams(),
    body: rest,
    bodyField: "*",
  });
  submit.method = `${route.service.typeName}/${route.method.name}`;
  submit.items = packed;
  return submit;
}

/** The same error with every field violation's field under `prefix` (`items[3].algorithm`). */
function prefixFields(err: ConnectError, prefix: string): ConnectError {
  const details = err.details.map((d) => {
    if (!("desc" in d) || d.desc.typeName !== "google.rpc.BadRequest") return d;
    const value = d.value as { fieldViolations?: { field: string }[] };
    return {
      ...d,
      value: {
        ...value,
        fieldViolations: (value.fieldViolations ?? []).map((v) => ({ ...v, field: `${prefix}.${v.field}` })),
      },
    };
  });
  return new ConnectError(`${prefix}: ${err.rawMessage}`, err.code, err.metadata, details as never, err.cause);
}

/**
 * A batch waited for whose every item failed, as an error answer: the HTTP status and envelope
 * code most of its items failed with, each item's field violations under `items[i].` (or the
 * item's message under `items[i]`), and the job beside the error. Undefined for any other outcome
 * (some item succeeded, the job was cancelled or has not finished): those answer 200 with the job.
 * `answer` is the JSON of the GetJobResponse (its item errors already in the envelope's shape).
 */
export function failedBatch(answer: string): { status: number; body: string } | undefined {
  const { job } = JSON.parse(answer) as { job: RestJob };
  if (job.state !== "JOB_STATE_FAILED" || job.counts.succeeded > 0) return undefined;
  const errors = job.items.flatMap((item) => (item.error ? [{ index: item.index, error: item.error }] : []));
  const tally = new Map<string, number>();
  for (const { error } of errors) tally.set(error.code, (tally.get(error.code) ?? 0) + 1);
  const code = [...tally].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "INTERNAL_ERROR";
  const status = restStatusOf(code);
  const first = errors[0];
  const body: RestError & { job: RestJob } = {
    error: {
      code,
      message: `every item of the batch failed (${job.counts.total})${first ? `; items[${first.index}]: ${first.error.message}` : ""}`,
      details: errors.flatMap(({ index, error }) =>
        error.details.length > 0
          ? error.details.map((d) => ({ field: `items[${index}].${d.field}`, message: d.message }))
          : [{ field: `items[${index}]`, message: error.message }],
      ),
      requestId: first?.error.requestId ?? "",
    },
    job,
  };
  return { status, body: JSON.stringify(body) };
}

/** A job as the REST answer writes it (the parts failedBatch reads). */
interface RestJob {
  state: string;
  counts: { total: number; succeeded: number };
  items: { index: number; error?: RestError["error"] }[];
}
