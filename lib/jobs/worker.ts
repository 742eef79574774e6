/**
 * Job workers: a durable consumer of a capability's tasks that runs each item through the same
 * handler that answers unary calls, with progress reporting and an AbortSignal. A result is
 * stored (in batches) before its task is acked; retryable failures go back with exponential
 * backoff and jitter; the last attempt or a final error settles the item for good.
 */
import { create, fromBinary, toBinary, type DescMethod, type DescService } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createContextValues,
  type ContextValues,
  type HandlerContext,
  type ServiceImpl,
} from "@connectrpc/connect";
import { ItemState } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import { encodeStatus, invalidArgument, isRetryable, toPublicError, withRequestId } from "#runtime/errors.js";
import { loggerKey, progressKey, requestIdKey, tenantKey } from "#runtime/context.js";
import type { Logger } from "#runtime/logger.js";
import type { Consumer, Delivery, JobBus } from "#bus/types.js";
import type { Outcome } from "./rows.js";
import type { JobStore } from "./store.js";
import { encodeEventNotice, topics } from "./topics.js";
import { createCoalescer } from "#runtime/coalesce.js";
import { backoff } from "#runtime/backoff.js";
import { recordItem } from "#runtime/metrics.js";
import { inSpan, SpanKind } from "#runtime/telemetry.js";

/** Options for startWorker. */
export interface WorkerOptions<S extends DescService = DescService> {
  bus: JobBus;
  store: JobStore;
  logger: Logger;
  /** The capability's short name (its task subject). */
  capability: string;
  service: S;
  impl: Partial<ServiceImpl<S>>;
  /** Items run at once by this worker (`JOB_CONCURRENCY`, default in lib/config). */
  concurrency: number;
  /** Attempts before an item is dead-lettered (`JOB_MAX_ATTEMPTS`). */
  maxAttempts: number;
  /** Redelivery deadline, kept alive while the handler runs (`JOB_ACK_WAIT_MS`). */
  ackWaitMs: number;
  /** Base of the exponential retry backoff. Default 500 ms. */
  backoffMs?: number;
  /** Longest time one item may run. Default 10 minutes. */
  itemTimeoutMs?: number;
}

/** One item being run: its abort signal (made only if the handler asks), its deadline, its keep-alive. */
class RunningItem {
  private controller?: AbortController;
  private stopWaiting?: (reason: ConnectError) => void;
  /** Why it was aborted, once it was. */
  reason?: ConnectError;
  keptAliveAt = Date.now();

  constructor(
    readonly delivery: Delivery,
    readonly deadline: number,
  ) {}

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.reason) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  abort(reason: ConnectError) {
    if (this.reason) return;
    this.reason = reason;
    this.controller?.abort(reason);
    this.stopWaiting?.(reason);
  }

  /** The handler's result, or a rejection as soon as the item is aborted (even if the handler ignores its signal). */
  race<T>(work: Promise<T>): Promise<T> {
    if (this.reason) return Promise.reject(this.reason);
    return new Promise<T>((resolve, reject) => {
      this.stopWaiting = reject;
      work.then(resolve, reject);
    });
  }
}

/** The HandlerContext of one item: no headers, the item's abort signal and time limit. */
class TaskContext implements HandlerContext {
  readonly protocolName = "job";
  readonly requestMethod = "POST";
  private resHeader?: Headers;
  private resTrailer?: Headers;
  private reqHeader?: Headers;

  constructor(
    readonly service: DescService,
    readonly method: DescMethod,
    readonly url: string,
    private readonly item: RunningItem,
    readonly values: ContextValues,
  ) {}

  get signal(): AbortSignal {
    return this.item.signal;
  }

  timeoutMs(): number {
    return Math.max(0, this.item.deadline - Date.now());
  }

  get requestHeader(): Headers {
    this.reqHeader ??= new Headers();
    return this.reqHeader;
  }

  get responseHeader(): Headers {
    this.resHeader ??= new Headers();
    return this.resHeader;
  }

  get responseTrailer(): Headers {
    this.resTrailer ??= new Headers();
    return this.resTrailer;
  }
}

interface Pending {
  outcome: Outcome;
  delivery: Delivery;
}

/** Starts consuming; stop() waits for running items to settle. */
export async function startWorker<S extends DescService>(options: WorkerOptions<S>): Promise<Consumer> {
  const { bus, store, logger, service } = options;
  const { maxAttempts, ackWaitMs } = options;
  const itemTimeoutMs = options.itemTimeoutMs ?? 600_000;
  const running = new Map<string, Set<RunningItem>>();
  // One timer for every running item: keeps long items alive and enforces the time limit.
  const keepAliveEvery = Math.max(200, Math.floor(ackWaitMs / 3));
  const sweep = setInterval(
    () => {
      const now = Date.now();
      for (const items of running.values()) {
        for (const item of items) {
          if (now >= item.deadline)
            item.abort(new ConnectError(`item ran longer than ${itemTimeoutMs} ms`, Code.DeadlineExceeded));
          else if (now - item.keptAliveAt >= keepAliveEvery) {
            item.keptAliveAt = now;
            item.delivery.working();
          }
        }
      }
    },
    Math.min(keepAliveEvery, Math.max(50, itemTimeoutMs)) / 2,
  );
  sweep.unref();
  const methods = new Map(service.methods.map((m) => [`${service.typeName}/${m.name}`, m]));

  // Outcomes are written in batches (group commit: one transaction for every outcome that
  // arrived while the previous one was written), then acked and announced.
  const outcomes = createCoalescer<Pending, void>({
    maxBatch: 500,
    run: async (batch) => {
      try {
        const { written, webhooksDue } = await store.recordOutcomes(batch.map((p) => p.outcome));
        for (const w of written) bus.notify(topics.events(w.jobId), encodeEventNotice(w.events));
        for (const p of batch) p.delivery.ack();
        for (const jobId of webhooksDue) bus.notify(topics.webhookDue(jobId), new Uint8Array());
      } catch (err) {
        logger.error({ err, items: batch.length }, "storing results failed; tasks go back to the queue");
        for (const p of batch) p.delivery.nak(1000);
      }
      return [];
    },
  });
  const settle = (delivery: Delivery, outcome: Outcome) => void outcomes.call({ outcome, delivery });

  // Items about to run are looked up together, the same way.
  const lookups = createCoalescer({
    run: (keys: { jobId: string; index: number; needRequest: boolean }[]) => store.itemsForRun(keys),
    concurrency: 2,
    maxBatch: 1000,
  });

  const cancelSub = bus.subscribe(topics.cancel("*"), (topic) => {
    const jobId = topic.slice(topic.lastIndexOf(".") + 1);
    for (const item of running.get(jobId) ?? []) item.abort(new ConnectError("job cancelled", Code.Canceled));
  });

  /** Runs an item inside a span continuing its job's trace (the submit's). */
  const handle = (d: Delivery) =>
    inSpan(
      `job item ${d.task.method}`,
      {
        kind: SpanKind.CONSUMER,
        traceparent: d.task.traceparent,
        attributes: {
          "flowforge.job_id": d.task.jobId,
          "flowforge.item": d.task.index,
          "flowforge.method": d.task.method,
          "flowforge.tenant": d.task.tenant,
          "flowforge.request_id": d.task.requestId,
          "flowforge.attempt": d.attempt,
        },
      },
      () => runItem(d),
    );

  async function runItem(d: Delivery) {
    const { task } = d;
    const method = methods.get(task.method);
    const fail = (err: ConnectError, state: Outcome["state"]) =>
      settle(d, {
        jobId: task.jobId,
        index: task.index,
        state,
        payload: encodeStatus(withRequestId(err, task.requestId)),
        attempts: d.attempt,
        resultType: method?.output.typeName ?? "",
      });
    if (method?.methodKind !== "unary") {
      fail(
        new ConnectError(`${task.method} is not a unary method of ${service.typeName}`, Code.InvalidArgument),
        ItemState.FAILED,
      );
      return;
    }
    const { runnable, request } = await lookups.call({
      jobId: task.jobId,
      index: task.index,
      needRequest: task.data.length === 0,
    });
    if (!runnable) {
      d.ack(); // cancelled, already done, or unknown: nothing to run
      return;
    }
    let childLog: Logger | undefined;
    const log = () =>
      (childLog ??= logger.child({
        requestId: task.requestId,
        job: task.jobId,
        item: task.index,
        method: task.method,
      }));
    const item = new RunningItem(d, Date.now() + itemTimeoutMs);
    const begun = performance.now();
    const record = (outcome: Parameters<typeof recordItem>[1]) =>
      recordItem(task.method, outcome, (performance.now() - begun) / 1000);
    const set = running.get(task.jobId) ?? new Set();
    running.set(task.jobId, set.add(item));
    let progressWrite = Promise.resolve();
    try {
      const input = (() => {
        try {
          return fromBinary(method.input, task.data.length > 0 ? task.data : (request ?? new Uint8Array()));
        } catch (cause) {
          throw invalidArgument("request", `not a valid ${method.input.typeName}`, cause);
        }
      })();
      const values = createContextValues()
        .set(requestIdKey, task.requestId)
        .set(tenantKey, task.tenant)
        .set(loggerKey, logger)
        .set(progressKey, ({ message = "", fraction = 0 }) => {
          progressWrite = progressWrite
            .then(() => store.recordProgress(task.jobId, task.index, message, fraction))
            .then((w) => w && bus.notify(topics.events(w.jobId), encodeEventNotice(w.events)))
            .catch((err) => log().warn({ err }, "progress not recorded"));
        });
      const context = new TaskContext(service, method, `/${task.method}`, item, values);
      const fn = (options.impl as Record<string, ((req: unknown, ctx: unknown) => unknown) | undefined>)[
        method.localName
      ];
      if (!fn) throw new ConnectError(`${task.method} is not implemented`, Code.Unimplemented);
      const result = await item.race(Promise.resolve(fn(input, context)));
      await progressWrite;
      record("succeeded");
      settle(d, {
        jobId: task.jobId,
        index: task.index,
        state: ItemState.SUCCEEDED,
        payload: toBinary(method.output, create(method.output, result as never)),
        attempts: d.attempt,
        resultType: method.output.typeName,
      });
    } catch (thrown) {
      await progressWrite;
      if (item.reason?.code === Code.Canceled) {
        d.ack(); // cancelled: the item is already marked cancelled
        return;
      }
      const err = toPublicError(thrown);
      if (err.code === Code.Internal) log().error({ err: err.cause ?? err }, "item failed");
      if (isRetryable(err) && d.attempt < maxAttempts) {
        log().info({ code: Code[err.code], attempt: d.attempt }, "item will be retried");
        record("retried");
        d.nak(backoff(d.attempt, options.backoffMs ?? 500));
        return;
      }
      record(isRetryable(err) ? "dead_lettered" : "failed");
      fail(err, isRetryable(err) ? ItemState.DEAD_LETTERED : ItemState.FAILED);
    } finally {
      set.delete(item);
      if (set.size === 0) running.delete(task.jobId);
    }
  }

  const consumer = await bus.consume(options.capability, handle, { concurrency: options.concurrency, ackWaitMs });
  return {
    async stop() {
      cancelSub();
      await consumer.stop();
      clearInterval(sweep);
      await outcomes.idle();
    },
  };
}
