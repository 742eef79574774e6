/**
 * The worker runtime against a real database (PostgreSQL and PGlite) and the in-process bus,
 * with a CryptoService whose handlers misbehave on purpose: retries with backoff, dead-letter
 * after the last attempt, progress reports, and cancellation reaching the handler's signal.
 */
import { waitFor } from "#test/support/until.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { CryptoService, HashRequestSchema } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { ItemState, JobState, WatchJobResponseSchema } from "#gen/flowforge/jobs/v1/jobs_pb.js";
import { createMemoryBus } from "#bus/memory/bus.js";
import { createLogger } from "#runtime/logger.js";
import { serviceConfig } from "#config/index.js";
import { progressKey } from "#runtime/context.js";
import { createJobStore, type JobStore } from "../store.js";
import { startWorker, type WorkerOptions } from "../worker.js";
import { topics } from "../topics.js";
import { databases, type TestDatabase } from "#test/support/databases.js";
import { create, toBinary } from "@bufbuild/protobuf";

const logger = createLogger({ name: "test", level: "silent" });
const request = (text: string) =>
  toBinary(HashRequestSchema, create(HashRequestSchema, { algorithm: 3, input: { case: "text", value: text } }));

describe.each(databases)("worker on %s", (_name, open) => {
  let db: TestDatabase;
  let store: JobStore;
  const bus = createMemoryBus();
  const calls = new Map<string, number>();
  let sawAbort = false;

  beforeAll(async () => {
    db = await open();
    store = createJobStore(db.sql);
  });
  afterAll(async () => {
    await bus.close();
    await db.close();
  });

  async function submit(texts: string[]) {
    const { job } = await store.submit({
      tenantId: "t",
      method: "flowforge.crypto.v1.CryptoService/Hash",
      capability: "crypto",
      batch: true,
      requests: texts.map(request),
      requestId: "r",
      traceparent: "",
    });
    await bus.publish(
      texts.map((_, index) => ({
        capability: "crypto",
        jobId: job.id,
        index,
        method: job.method,
        tenant: "t",
        requestId: "r",
        traceparent: "",
        data: request(texts[index]),
      })),
    );
    return job.id;
  }

  /** A crypto worker on this bus and store with the given handlers and options. */
  const crypto = (
    options: Omit<
      WorkerOptions<typeof CryptoService>,
      "bus" | "store" | "logger" | "capability" | "service" | "concurrency" | "maxAttempts" | "ackWaitMs"
    > &
      Partial<Pick<WorkerOptions, "concurrency" | "maxAttempts" | "ackWaitMs">>,
  ) =>
    startWorker({
      bus,
      store,
      logger,
      capability: "crypto",
      service: CryptoService,
      ...serviceConfig({}).workers,
      ...options,
    });

  async function finished(jobId: string) {
    return waitFor(
      async () => {
        const job = await store.get("t", jobId);
        return job && [JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED].includes(job.state) && job;
      },
      { what: `job ${jobId} finished` },
    );
  }

  it("retries retryable failures with backoff, then dead-letters with the last error; final errors fail at once", async () => {
    const worker = await crypto({
      maxAttempts: 3,
      backoffMs: 20,
      impl: {
        hash(req, ctx) {
          const text = req.input.value as string;
          calls.set(text, (calls.get(text) ?? 0) + 1);
          if (text === "flaky" && calls.get(text)! < 3) throw new ConnectError("try later", Code.Unavailable);
          if (text === "down") throw new ConnectError(`still down (attempt ${calls.get(text)})`, Code.Unavailable);
          if (text === "bad") throw new ConnectError("text: no", Code.InvalidArgument);
          if (text === "progress") {
            ctx.values.get(progressKey)({ message: "half", fraction: 0.5 });
          }
          return { digest: `ok:${text}` };
        },
      },
    });
    const jobId = await submit(["flaky", "down", "bad", "progress"]);
    const job = await finished(jobId);
    await worker.stop();
    expect(job.state).toBe(JobState.FAILED);
    expect({ succeeded: job.succeeded, failed: job.failed }).toEqual({ succeeded: 2, failed: 2 });
    expect(calls.get("flaky")).toBe(3);
    expect(calls.get("down")).toBe(3);
    expect(calls.get("bad")).toBe(1);
    const items = await store.items(jobId, 0, 10);
    expect(items.map((i) => [i.state, i.attempts])).toEqual([
      [ItemState.SUCCEEDED, 3],
      [ItemState.DEAD_LETTERED, 3],
      [ItemState.FAILED, 1],
      [ItemState.SUCCEEDED, 1],
    ]);
    const { StatusSchema } = await import("#gen/google/rpc/status_pb.js");
    expect(fromBinary(StatusSchema, items[1].error!).message).toBe("still down (attempt 3)");
    const events = (await store.events(jobId, 0)).events.map((e) => fromBinary(WatchJobResponseSchema, e.payload));
    expect(
      events.some((e) => e.event.case === "progress" && e.event.value.message === "half" && e.event.value.index === 3),
    ).toBe(true);
    expect(events.map((e) => Number(e.sequence))).toEqual(events.map((_, i) => i + 1));
  });

  it("cancellation aborts a running handler through its AbortSignal; queued items never start", async () => {
    let started = 0;
    const worker = await crypto({
      concurrency: 1,
      impl: {
        hash: (_req, ctx) =>
          new Promise((resolve, reject) => {
            started++;
            ctx.signal.addEventListener("abort", () => {
              sawAbort = true;
              reject(ctx.signal.reason);
            });
            setTimeout(() => resolve({ digest: "too late" }), 30_000);
          }),
      },
    });
    const jobId = await submit(["a", "b", "c"]);
    await waitFor(() => started > 0, { what: "an item started" });
    const { job } = await store.cancel("t", jobId);
    bus.notify(topics.cancel(jobId), new Uint8Array());
    await waitFor(() => sawAbort, { what: "the running item aborted" });
    await worker.stop();
    expect(sawAbort).toBe(true);
    expect(started).toBe(1);
    expect(job!.state).toBe(JobState.CANCELLED);
    const items = await store.items(jobId, 0, 10);
    expect(items.every((i) => i.state === ItemState.CANCELLED)).toBe(true);
  });

  it("keeps a long item alive past the redelivery deadline: it runs once", async () => {
    let runs = 0;
    const worker = await crypto({
      ackWaitMs: 600,
      impl: {
        async hash() {
          runs++;
          await new Promise((r) => setTimeout(r, 2000));
          return { digest: "slow" };
        },
      },
    });
    const jobId = await submit(["slow"]);
    const job = await finished(jobId);
    await worker.stop();
    expect(job.state).toBe(JobState.SUCCEEDED);
    expect(runs).toBe(1);
    expect((await store.items(jobId, 0, 1))[0].attempts).toBe(1);
  });

  it("an item past its time limit is stopped, even if its handler ignores the signal, and fails with deadline_exceeded", async () => {
    let sawSignal = false;
    const worker = await crypto({
      itemTimeoutMs: 300,
      maxAttempts: 1,
      impl: {
        hash: (_req, ctx) =>
          new Promise(() => {
            ctx.signal.addEventListener("abort", () => (sawSignal = true));
          }),
      },
    });
    const jobId = await submit(["forever"]);
    const job = await finished(jobId);
    await worker.stop();
    expect(job.state).toBe(JobState.FAILED);
    expect(sawSignal).toBe(true);
    const [item] = await store.items(jobId, 0, 1);
    expect(item.state).toBe(ItemState.DEAD_LETTERED);
    const { StatusSchema } = await import("#gen/google/rpc/status_pb.js");
    expect(fromBinary(StatusSchema, item.error!)).toMatchObject({
      code: Code.DeadlineExceeded,
      message: "item ran longer than 300 ms",
    });
  });
});
