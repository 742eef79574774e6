/**
 * The contract both buses keep, run against the in-process bus and against the real
 * nats-server on 127.0.0.1:4222 (a stream and subjects of its own per run).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { createJetStreamBus } from "../jetstream/bus.js";
import { createBusService, createMemoryBus, createRemoteBus, type Delivery, type JobBus, type Task } from "../index.js";
import { BusService } from "#gen/flowforge/bus/v1/bus_pb.js";
import { createServiceServer, register } from "#runtime/server.js";
import { createLogger } from "#runtime/logger.js";
import { until } from "#test/support/until.js";

const natsUrl = process.env.TEST_NATS_URL ?? "nats://127.0.0.1:4222";
const run = randomBytes(4).toString("hex");

// `peer` is another process's view of the same bus (another connection, for NATS).
const buses: [string, () => Promise<{ bus: JobBus; peer: JobBus; cleanup(): Promise<void> }>][] = [
  [
    "memory",
    async () => {
      const bus = createMemoryBus();
      return { bus, peer: bus, cleanup: async () => {} };
    },
  ],
  [
    "remote (the jobs process's in-process bus over gRPC)",
    async () => {
      const server = createServiceServer({
        logger: createLogger({ name: "bus", level: "silent" }),
        services: [register(BusService, createBusService(createMemoryBus()))],
      });
      const port = await server.listen("127.0.0.1:0");
      const bus = createRemoteBus({ address: `127.0.0.1:${port}` });
      const peer = createRemoteBus({ address: `127.0.0.1:${port}` });
      return {
        bus,
        peer,
        async cleanup() {
          await peer.close();
          await server.shutdown({ graceMs: 100 });
        },
      };
    },
  ],
  [
    "jetstream",
    async () => {
      const stream = `TEST_TASKS_${run}`;
      const bus = await createJetStreamBus({ servers: natsUrl, stream, prefix: `fftest${run}` });
      const peer = await createJetStreamBus({ servers: natsUrl, stream, prefix: `fftest${run}` });
      return {
        bus,
        peer,
        async cleanup() {
          await peer.close();
          const nc = await connect({ servers: natsUrl });
          await (await jetstreamManager(nc)).streams.delete(stream).catch(() => {});
          await nc.close();
        },
      };
    },
  ],
];

let n = 0;
const task = (capability: string, overrides: Partial<Task> = {}): Task => ({
  capability,
  jobId: `job-${run}-${++n}`,
  index: 0,
  method: "flowforge.crypto.v1.CryptoService/Hash",
  tenant: "t1",
  requestId: "req-1",
  traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
  data: new Uint8Array([1, 2, 3]),
  ...overrides,
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(buses)("job bus contract: %s", (_name, open) => {
  let bus: JobBus;
  let peer: JobBus;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ bus, peer, cleanup } = await open());
  });
  afterAll(async () => {
    await bus?.close();
    await cleanup?.();
  });

  it("delivers a published task with its fields and headers, once, after ack", async () => {
    const seen: Delivery[] = [];
    const t = task("cap1", { index: 7 });
    const c = await bus.consume(
      "cap1",
      async (d) => {
        seen.push(d);
        d.ack();
      },
      { concurrency: 4, ackWaitMs: 2000 },
    );
    await bus.publish([t]);
    await until(() => seen.length === 1);
    await sleep(300);
    expect(seen).toHaveLength(1);
    expect(seen[0].attempt).toBe(1);
    expect({ ...seen[0].task, data: [...seen[0].task.data] }).toEqual({ ...t, data: [1, 2, 3] });
    await c.stop();
  });

  it("queues a task published twice (same job and index) once", async () => {
    const seen: Delivery[] = [];
    const t = task("cap2");
    await bus.publish([t, t]);
    await bus.publish([t]);
    const c = await bus.consume(
      "cap2",
      async (d) => {
        seen.push(d);
        d.ack();
      },
      { concurrency: 4, ackWaitMs: 2000 },
    );
    await until(() => seen.length >= 1);
    await sleep(500);
    expect(seen).toHaveLength(1);
    await c.stop();
  });

  it("redelivers after nak with the delay, counting attempts; term stops it", async () => {
    const attempts: [number, number][] = [];
    const c = await bus.consume(
      "cap3",
      async (d) => {
        attempts.push([d.attempt, Date.now()]);
        if (d.attempt < 3) d.nak(300);
        else d.term();
      },
      { concurrency: 2, ackWaitMs: 5000 },
    );
    await bus.publish([task("cap3")]);
    await until(() => attempts.length === 3);
    await sleep(800);
    expect(attempts.map(([a]) => a)).toEqual([1, 2, 3]);
    expect(attempts[1][1] - attempts[0][1]).toBeGreaterThanOrEqual(250);
    await c.stop();
  });

  it("redelivers a task not settled within the ack wait, unless working() keeps it alive", async () => {
    const lost: number[] = [];
    const c1 = await bus.consume(
      "cap4",
      async (d) => {
        lost.push(d.attempt);
        if (d.attempt === 1) return; // never settles: the ack wait runs out
        d.ack();
      },
      { concurrency: 2, ackWaitMs: 1000 },
    );
    await bus.publish([task("cap4")]);
    await until(() => lost.length === 2, 15_000);
    expect(lost).toEqual([1, 2]);
    await c1.stop();

    const kept: number[] = [];
    const c2 = await bus.consume(
      "cap5",
      async (d) => {
        kept.push(d.attempt);
        for (let i = 0; i < 5; i++) {
          await sleep(400);
          d.working();
        }
        d.ack();
      },
      { concurrency: 2, ackWaitMs: 1000 },
    );
    await bus.publish([task("cap5")]);
    await until(() => kept.length >= 1);
    await sleep(3000);
    expect(kept).toEqual([1]);
    await c2.stop();
  });

  it("never runs more than `concurrency` tasks at once", async () => {
    let running = 0;
    let peak = 0;
    let done = 0;
    const c = await bus.consume(
      "cap6",
      async (d) => {
        running++;
        peak = Math.max(peak, running);
        await sleep(30);
        running--;
        done++;
        d.ack();
      },
      { concurrency: 3, ackWaitMs: 5000 },
    );
    await bus.publish(Array.from({ length: 20 }, (_, i) => task("cap6", { jobId: `conc-${run}`, index: i })));
    await until(() => done === 20);
    expect(peak).toBeLessThanOrEqual(3);
    expect(peak).toBeGreaterThan(1);
    await c.stop();
  });

  it("two consumers of one capability both take tasks", async () => {
    const by = { first: 0, second: 0 };
    // Each holds what it got until the other has one too: with one task at a time each, the second
    // task can only go to the other consumer, whichever took the first.
    const hold = (name: keyof typeof by) => async (d: Delivery) => {
      by[name]++;
      await until(() => by.first > 0 && by.second > 0);
      d.ack();
    };
    const c1 = await bus.consume("cap7", hold("first"), { concurrency: 1, ackWaitMs: 5000 });
    const c2 = await peer.consume("cap7", hold("second"), { concurrency: 1, ackWaitMs: 5000 });
    await bus.publish(Array.from({ length: 10 }, (_, i) => task("cap7", { jobId: `two-${run}`, index: i })));
    await until(() => by.first + by.second === 10);
    expect(by.first).toBeGreaterThan(0);
    expect(by.second).toBeGreaterThan(0);
    await c1.stop();
    await c2.stop();
  });

  it("notifies subscribers, with `*` matching one token", async () => {
    const got: string[] = [];
    const off = bus.subscribe("events.*", (topic, data) => got.push(`${topic}=${Buffer.from(data).toString()}`));
    await bus.flush();
    bus.notify("events.j1", Buffer.from("a"));
    bus.notify("other.j1", Buffer.from("b"));
    await until(() => got.length === 1);
    await sleep(200);
    expect(got).toEqual(["events.j1=a"]);
    off();
  });

  it("a subscription is in effect once flush resolves: a notification sent at once from elsewhere arrives", async () => {
    for (let i = 0; i < 20; i++) {
      const got: string[] = [];
      const off = bus.subscribe(`events.flush${i}`, (_topic, data) => got.push(Buffer.from(data).toString()));
      await bus.flush();
      peer.notify(`events.flush${i}`, Buffer.from(`n${i}`));
      await until(() => got.length === 1, 2000);
      off();
      expect(got).toEqual([`n${i}`]);
    }
  });
});

describe("in-process bus fairness", () => {
  it("hands out a capability's tasks round robin across tenants: a big batch does not keep another tenant waiting", async () => {
    const bus = createMemoryBus();
    await bus.publish(
      Array.from({ length: 10 }, (_, i) => task("fair", { jobId: `big-${run}`, index: i, tenant: "big" })),
    );
    await bus.publish(
      Array.from({ length: 2 }, (_, i) => task("fair", { jobId: `small-${run}`, index: i, tenant: "small" })),
    );
    const order: string[] = [];
    const c = await bus.consume(
      "fair",
      async (d) => {
        order.push(`${d.task.tenant}${d.task.index}`);
        await sleep(1);
        d.ack();
      },
      { concurrency: 1, ackWaitMs: 5000 },
    );
    await until(() => order.length === 12);
    expect(order.slice(0, 5)).toEqual(["big0", "small0", "big1", "small1", "big2"]);
    await c.stop();
    await bus.close();
  });
});

/** A consumer that acks every delivery and keeps it in `got`. */
async function collect(bus: JobBus, capability: string) {
  const got: Delivery[] = [];
  const consumer = await bus.consume(
    capability,
    async (d) => {
      got.push(d);
      d.ack();
    },
    { concurrency: 5, ackWaitMs: 60_000 },
  );
  return { got, consumer };
}

/** The jobs process's bus served over gRPC, and two other processes' views of it. */
async function twoProcesses() {
  const server = createServiceServer({
    logger: createLogger({ name: "bus", level: "silent" }),
    services: [register(BusService, createBusService(createMemoryBus()))],
  });
  const address = `127.0.0.1:${await server.listen("127.0.0.1:0")}`;
  const other = createRemoteBus({ address });
  return {
    dying: createRemoteBus({ address }),
    other,
    async close() {
      await other.close();
      await server.shutdown({ graceMs: 100 });
    },
  };
}

describe("remote bus", () => {
  it("the only consumer goes away holding deliveries: they wait for the next consumer, and the bus goes on answering", async () => {
    const { dying, other: next, close } = await twoProcesses();
    try {
      const held: Delivery[] = [];
      await dying.consume("alone", async (d) => void held.push(d), { concurrency: 5, ackWaitMs: 60_000 });
      await next.publish(Array.from({ length: 3 }, (_, i) => task("alone", { jobId: `alone-${run}`, index: i })));
      await until(() => held.length === 3);
      await dying.close(); // the only consumer's stream ends with three deliveries unsettled
      // The jobs process's bus still answers (it once handed the deliveries back to the dead consumer forever).
      await next.publish([task("alone", { jobId: `alone-${run}`, index: 3 })]);
      const { got, consumer: c } = await collect(next, "alone");
      await until(() => got.length === 4, 5000);
      // (The fourth may have reached the dying consumer before the jobs process saw its stream end.)
      expect(got.map((d) => [d.task.index, d.task.index < 3 ? d.attempt : 0]).sort()).toEqual([
        [0, 2],
        [1, 2],
        [2, 2],
        [3, 0],
      ]);
      await c.stop();
    } finally {
      await close();
    }
  });

  it("a consumer whose process goes away has its unsettled deliveries redelivered at once, not after the ack wait", async () => {
    const { dying, other: survivor, close } = await twoProcesses();
    try {
      const held: Delivery[] = [];
      await dying.consume("gone", async (d) => void held.push(d), { concurrency: 5, ackWaitMs: 60_000 });
      await survivor.publish(Array.from({ length: 3 }, (_, i) => task("gone", { jobId: `gone-${run}`, index: i })));
      await until(() => held.length === 3);
      const { got, consumer: c } = await collect(survivor, "gone");
      await dying.close(); // its stream ends with three deliveries unsettled
      await until(() => got.length === 3, 5000);
      expect(got.map((d) => [d.task.index, d.attempt]).sort()).toEqual([
        [0, 2],
        [1, 2],
        [2, 2],
      ]);
      await c.stop();
    } finally {
      await close();
    }
  });
});
