/**
 * The outbox: jobs committed by a process that died before publishing are published by the
 * relay, once, except what no longer waits (a cancelled job); the outbox row is cleared.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, toBinary } from "@bufbuild/protobuf";
import { HashRequestSchema, type HashRequest } from "#gen/flowforge/crypto/v1/crypto_pb.js";
import { createMemoryBus } from "#bus/memory/bus.js";
import type { Delivery, JobBus } from "#bus/types.js";
import { createJobStore, type JobStore } from "#jobs/store.js";
import { createLogger } from "#runtime/logger.js";
import { databases, type TestDatabase } from "#test/support/databases.js";
import { until } from "#test/support/until.js";
import { catalogRegistry, findJobMethod } from "../../catalog.js";
import { createJobService } from "../service.js";
import { Code, createHandlerContext } from "@connectrpc/connect";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { JobService, SubmitJobRequestSchema } from "#gen/flowforge/jobs/v1/jobs_pb.js";

const request = toBinary(
  HashRequestSchema,
  create(HashRequestSchema, { algorithm: 3, input: { case: "text", value: "abc" } }),
);

/** Every task the bus hands the crypto workers, acknowledged. */
async function collect(bus: JobBus) {
  const seen: Delivery[] = [];
  const consumer = await bus.consume(
    "crypto",
    async (d) => {
      seen.push(d);
      d.ack();
    },
    { concurrency: 8, ackWaitMs: 5000 },
  );
  return { seen, consumer };
}

/** The job service over a store and a bus, with its relay running. */
const jobService = (store: JobStore, bus: JobBus) =>
  createJobService({
    store,
    bus,
    logger: createLogger({ name: "t", level: "silent" }),
    registry: catalogRegistry(),
    findMethod: findJobMethod,
    maxBatchItems: 100,
  });

describe.each(databases)("outbox relay on %s", (_name, open) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await open();
  });
  afterAll(() => db.close());

  it("publishes what a crash left behind, exactly once, and clears the outbox", async () => {
    const store = createJobStore(db.sql);
    const method = "flowforge.crypto.v1.CryptoService/Hash";
    // Submits whose process died after the commit: rows and one outbox row, nothing published.
    const submit = (requests: Uint8Array[]) =>
      store.submit({
        tenantId: "t",
        method,
        capability: "crypto",
        batch: true,
        requests,
        requestId: "r",
        traceparent: "",
      });
    const [a, b, gone] = await Promise.all([
      submit([request, request, request]),
      submit([request]),
      submit([request, request]),
    ]);
    const ids = [a, b, gone].map((s) => s.job.id);
    const outboxRows = async () =>
      (await db.sql<{ id: string }[]>`SELECT id FROM job_outbox WHERE job_ids && ${ids}::text[]`).map((r) => r.id);
    expect(new Set(await outboxRows())).toEqual(new Set([a, b, gone].map((s) => s.outbox!.id)));
    await store.cancel("t", gone.job.id); // cancelled before the relay ran: none of its tasks goes out

    const bus = createMemoryBus();
    const { seen, consumer } = await collect(bus);
    const { relay } = jobService(store, bus);
    await until(
      () => seen.length >= 4,
      15_000,
      () => `${seen.length} tasks seen`,
    );
    await new Promise((r) => setTimeout(r, 1500)); // another relay pass finds nothing to send
    await relay.stop();
    await consumer.stop();
    expect(seen.map((d) => `${d.task.jobId}:${d.task.index}`).sort()).toEqual(
      [`${a.job.id}:0`, `${a.job.id}:1`, `${a.job.id}:2`, `${b.job.id}:0`].sort(),
    );
    expect(seen.every((d) => d.task.method === method && d.task.tenant === "t")).toBe(true);
    expect(await outboxRows()).toEqual([]);
    await bus.close();
  });

  it("a row shared by jobs whose publish failed for one of them stays until the relay has sent that one's tasks", async () => {
    const store = createJobStore(db.sql);
    const inner = createMemoryBus();
    let failures = 1;
    // NATS refusing one submit's publish (once): the other job of the same statement publishes fine.
    const bus = {
      ...inner,
      publish: (tasks: Parameters<typeof inner.publish>[0]) =>
        tasks.some((t) => Buffer.from(t.data).includes("refused")) && failures-- > 0
          ? Promise.reject(new Error("nats: timeout"))
          : inner.publish(tasks),
    };
    const { seen, consumer } = await collect(inner);
    const { impl, relay } = jobService(store, bus);
    const submit = async (text: string) =>
      (
        await impl.submitJob!(
          create(SubmitJobRequestSchema, {
            method: "flowforge.crypto.v1.CryptoService/Hash",
            request: anyPack(
              HashRequestSchema,
              create(HashRequestSchema, { algorithm: 3, input: { case: "text", value: text } } as HashRequest),
            ),
          }),
          createHandlerContext({
            service: JobService,
            method: JobService.method.submitJob,
            protocolName: "grpc",
            requestMethod: "POST",
            url: "/",
            requestHeader: { "x-flowforge-scopes": "crypto" },
          }),
        )
      ).job!.id as string;
    // Submits made in the same tick go together in one statement, with one outbox row.
    const ids = await Promise.all([submit("fine"), submit("refused"), submit("fine too")]);
    // A call that did not come through the gateway (no scopes header) has no scope at all.
    const direct = impl.submitJob!(
      create(SubmitJobRequestSchema, {
        method: "flowforge.crypto.v1.CryptoService/Hash",
        request: anyPack(HashRequestSchema, create(HashRequestSchema, { algorithm: 3 } as HashRequest)),
      }),
      createHandlerContext({
        service: JobService,
        method: JobService.method.submitJob,
        protocolName: "grpc",
        requestMethod: "POST",
        url: "/",
      }),
    );
    await expect(direct).rejects.toMatchObject({ code: Code.PermissionDenied });
    const refused = ids[1];
    const shared = await db.sql<
      { job_ids: string[] }[]
    >`SELECT job_ids FROM job_outbox WHERE job_ids && ${ids}::text[]`;
    expect(shared.map((r) => [...r.job_ids].sort())).toEqual([[...ids].sort()]); // still there: one of its jobs is unpublished
    await until(() => seen.some((d) => d.task.jobId === refused), 15_000);
    await new Promise((r) => setTimeout(r, 300));
    await relay.stop();
    await consumer.stop();
    // Every job's task arrived once (the relay's copies of the others were dropped as duplicates) and the row is gone.
    expect(
      seen
        .filter((d) => ids.includes(d.task.jobId))
        .map((d) => d.task.jobId)
        .sort(),
    ).toEqual([...ids].sort());
    expect((await db.sql`SELECT count(*)::int AS n FROM job_outbox WHERE job_ids && ${ids}::text[]`)[0].n).toBe(0);
    await inner.close();
  });
});
