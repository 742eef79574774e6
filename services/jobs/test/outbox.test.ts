/**
 * The outbox: a job committed by a process that died before publishing is published by the
 * relay, once; its outbox rows are cleared; a task published twice still runs once.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, toBinary } from "@bufbuild/protobuf";
import { HashRequestSchema } from "../../../gen/flowforge/crypto/v1/crypto_pb.js";
import { createMemoryBus } from "../../../lib/bus/memory/bus.js";
import type { Delivery } from "../../../lib/bus/types.js";
import { createJobStore } from "../../../lib/jobs/store.js";
import { createLogger } from "../../../lib/runtime/logger.js";
import { databases, type TestDatabase } from "../../../test/support/databases.js";
import { catalogRegistry } from "../../catalog.js";
import { createJobService } from "../service.js";

const request = toBinary(HashRequestSchema, create(HashRequestSchema, { algorithm: 3, input: { case: "text", value: "abc" } }));

describe.each(databases)("outbox relay on %s", (_name, open) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await open();
  });
  afterAll(() => db.close());

  it("publishes what a crash left behind, exactly once, and clears the outbox", async () => {
    const store = createJobStore(db.sql);
    // A submit whose process died after the commit: rows and outbox, nothing published.
    const { job } = await store.submit({ tenantId: "t", method: "flowforge.crypto.v1.CryptoService/Hash", capability: "crypto", batch: true, requests: [request, request, request], requestId: "r", traceparent: "" });
    expect((await db.sql`SELECT count(*)::int AS n FROM job_outbox WHERE job_id = ${job.id}`)[0].n).toBe(3);

    const bus = createMemoryBus();
    const seen: Delivery[] = [];
    const consumer = await bus.consume("crypto", async (d) => { seen.push(d); d.ack(); }, { concurrency: 8, ackWaitMs: 5000 });
    const { relay } = createJobService({ store, bus, logger: createLogger({ name: "t", level: "silent" }), registry: catalogRegistry() });
    const end = Date.now() + 15_000;
    while (seen.length < 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 1500)); // another relay pass finds nothing to send
    await relay.stop();
    await consumer.stop();
    expect(seen.map((d) => d.task.index).sort()).toEqual([0, 1, 2]);
    expect(seen.every((d) => d.task.jobId === job.id && d.task.method === "flowforge.crypto.v1.CryptoService/Hash")).toBe(true);
    expect((await db.sql`SELECT count(*)::int AS n FROM job_outbox WHERE job_id = ${job.id}`)[0].n).toBe(0);
    await bus.close();
  });
});
