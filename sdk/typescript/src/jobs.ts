/**
 * Jobs from the SDK: any unary method's requests submitted as one job, watched as an async
 * iterator (resuming after the last event seen when the connection drops), waited for, and run
 * as a batch with progress whose outcomes come back typed, in order.
 */
import {
  create,
  type DescMessage,
  type DescMethodUnary,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import { anyPack, anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code, type Client } from "@connectrpc/connect";
import { FlowForgeError } from "./errors.js";
import {
  type Job,
  type JobItem,
  type JobService,
  JobState,
  type Webhook,
  type WatchJobResponse,
} from "./gen/flowforge/jobs/v1/jobs_pb.js";

/** What a submit may add. */
export interface SubmitOptions {
  /** The same key with the same requests answers the same job (a retried submit runs once). */
  idempotencyKey?: string;
  /** Called when the job finishes, signed (Standard Webhooks). */
  webhook?: Pick<Webhook, "url" | "secret">;
  signal?: AbortSignal;
}

/** How far a job has come. */
export interface Progress {
  total: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  state: JobState;
}

/** One request's outcome: its answer, or its error (with the field that was wrong). */
export type Outcome<O> = { index: number; ok: true; value: O } | { index: number; ok: false; error: FlowForgeError };

/** A method's full name as JobService takes it: `flowforge.crypto.v1.CryptoService/Hash`. */
export const methodName = (method: DescMethodUnary) => `${method.parent.typeName}/${method.name}`;

/** Job helpers over a JobService client. */
export class Jobs {
  constructor(private readonly jobs: Client<typeof JobService>) {}

  /** Submits `requests` to `method` as one job; answers it queued. */
  async submit<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    requests: MessageInitShape<I>[],
    options: SubmitOptions = {},
  ): Promise<Job> {
    const { job } = await this.jobs.submitJob(
      {
        method: methodName(method),
        items: requests.map((r) => anyPack(method.input, create(method.input, r))),
        idempotencyKey: options.idempotencyKey ?? "",
        webhook: options.webhook,
      },
      { signal: options.signal },
    );
    return job!;
  }

  /**
   * The job's events until it has finished. A dropped connection is resumed after the last
   * event seen (at most `retries` times in a row), so no event is missed or repeated. Leaving
   * the loop early (`break`, `return`, a throw) closes the stream.
   */
  async *watch(
    jobId: string,
    options: { signal?: AbortSignal; retries?: number } = {},
  ): AsyncGenerator<WatchJobResponse> {
    // Ours, so that leaving early cancels the request: an abandoned stream would keep its
    // connection (and a Node process) waiting until the job finished.
    const abort = new AbortController();
    const forward = () => abort.abort(options.signal?.reason);
    if (options.signal?.aborted) forward();
    options.signal?.addEventListener("abort", forward, { once: true });
    let afterSequence = 0n;
    let failures = 0;
    try {
      for (;;) {
        try {
          for await (const event of this.jobs.watchJob({ jobId, afterSequence }, { signal: abort.signal })) {
            failures = 0;
            afterSequence = event.sequence;
            yield event;
          }
          return;
        } catch (err) {
          const error = FlowForgeError.from(err);
          if (error.code !== Code.Unavailable || ++failures > (options.retries ?? 5) || abort.signal.aborted)
            throw error;
          await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** failures));
        }
      }
    } finally {
      options.signal?.removeEventListener("abort", forward);
      abort.abort();
    }
  }

  /** Waits for the job to finish (`onProgress` after each event); answers it with every item. */
  async wait(jobId: string, options: { signal?: AbortSignal; onProgress?: (p: Progress) => void } = {}): Promise<Job> {
    for await (const event of this.watch(jobId, options)) {
      const e = event.event;
      const counts = e.case === "stateChanged" || e.case === "itemFinished" ? e.value.counts : undefined;
      if (counts && options.onProgress) {
        const state = e.case === "stateChanged" ? e.value.state : JobState.RUNNING;
        options.onProgress({ ...counts, state });
      }
    }
    return this.get(jobId, options);
  }

  /** The job with every item (paged through). */
  async get(jobId: string, options: { signal?: AbortSignal } = {}): Promise<Job> {
    const items: JobItem[] = [];
    let token = "";
    for (;;) {
      const { job } = await this.jobs.getJob(
        { jobId, itemsPageSize: 1000, itemsPageToken: token },
        { signal: options.signal },
      );
      items.push(...job!.items);
      token = job!.nextItemsPageToken;
      if (!token) return { ...job!, items, nextItemsPageToken: "" };
    }
  }

  /**
   * Runs `requests` through `method` as one job and answers each one's outcome, in order:
   * its answer, or its error naming the field.
   */
  async run<I extends DescMessage, O extends DescMessage>(
    method: DescMethodUnary<I, O>,
    requests: MessageInitShape<I>[],
    options: SubmitOptions & { onProgress?: (p: Progress) => void } = {},
  ): Promise<Outcome<MessageShape<O>>[]> {
    const job = await this.wait((await this.submit(method, requests, options)).id, options);
    return outcomes(method, job);
  }
}

/** Each item of a finished job as its typed answer or its error, by index. */
export function outcomes<O extends DescMessage>(
  method: DescMethodUnary<DescMessage, O>,
  job: Job,
): Outcome<MessageShape<O>>[] {
  return [...job.items]
    .sort((a, b) => a.index - b.index)
    .map((item) => {
      const value = item.result ? anyUnpack(item.result, method.output) : undefined;
      if (value) return { index: item.index, ok: true, value };
      const error = item.error
        ? FlowForgeError.fromStatus(item.error)
        : new FlowForgeError(`item ${item.index} did not finish`, Code.Aborted);
      return { index: item.index, ok: false, error };
    });
}
