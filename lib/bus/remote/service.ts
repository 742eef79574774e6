/**
 * BusService: the in-process bus of the jobs process served to every other process (see
 * bus.proto). A consumer's deliveries wait in its stream until settled; when the stream ends
 * (its process stopped or died) every unsettled one is redelivered at once.
 */
import { randomUUID } from "node:crypto";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  type BusService,
  SettlementKind,
  type ConsumeResponse,
  type Task as TaskMessage,
} from "#gen/flowforge/bus/v1/bus_pb.js";
import { check } from "#runtime/errors.js";
import type { Delivery, JobBus, Task } from "../types.js";

/** A task as the bus holds it, from its message. */
export function taskFromMessage({ $typeName, $unknown, ...task }: TaskMessage): Task {
  return task;
}

/** A queue the stream reads: items pushed from callbacks, taken by one reader. */
class Inbox<T> {
  private items: T[] = [];
  private wake?: () => void;

  push(item: T) {
    this.items.push(item);
    this.wake?.();
  }

  /** The next items, or none once `signal` is aborted. */
  async take(signal: AbortSignal): Promise<T[]> {
    while (this.items.length === 0 && !signal.aborted) {
      let onAbort!: () => void;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        onAbort = resolve;
        signal.addEventListener("abort", onAbort, { once: true });
      });
      // One listener per wait, removed after it: a long-lived stream waits many times.
      signal.removeEventListener("abort", onAbort);
      this.wake = undefined;
    }
    const out = this.items;
    this.items = [];
    return out;
  }
}

/** Creates the BusService implementation over `bus`. */
export function createBusService(bus: JobBus): ServiceImpl<typeof BusService> {
  const consumers = new Map<string, Map<bigint, { delivery: Delivery; done: () => void }>>();

  return {
    async publish(req) {
      await bus.publish(req.tasks.map(taskFromMessage));
      return {};
    },

    async *consume(req, ctx: HandlerContext) {
      check(req.capability !== "", "capability", "is required");
      check(req.concurrency > 0, "concurrency", "must be positive");
      check(req.ackWaitMs > 0, "ack_wait_ms", "must be positive");
      const id = randomUUID();
      const pending = new Map<bigint, { delivery: Delivery; done: () => void }>();
      consumers.set(id, pending);
      const inbox = new Inbox<ConsumeResponse["event"]>();
      let next = 0n;
      const consumer = await bus.consume(
        req.capability,
        (delivery) =>
          new Promise<void>((done) => {
            const deliveryId = ++next;
            pending.set(deliveryId, { delivery, done });
            inbox.push({
              case: "delivery",
              value: { id: deliveryId, task: delivery.task, attempt: delivery.attempt } as never,
            });
          }),
        { concurrency: req.concurrency, ackWaitMs: req.ackWaitMs },
      );
      try {
        yield { event: { case: "started", value: { consumerId: id } } };
        for (;;) {
          const events = await inbox.take(ctx.signal);
          if (ctx.signal.aborted) return;
          for (const event of events) yield { event };
        }
      } finally {
        consumers.delete(id);
        // Stop taking first (synchronously), so what is given back below goes to other consumers
        // and never to this one again; then give back what it held, now rather than after the ack wait.
        const stopped = consumer.stop();
        const held = [...pending.values()];
        pending.clear();
        for (const { delivery, done } of held) {
          delivery.nak(0);
          done();
        }
        await stopped;
      }
    },

    async settle(req) {
      const pending = consumers.get(req.consumerId);
      if (!pending)
        throw new ConnectError(`consumer ${req.consumerId} is gone; its deliveries were redelivered`, Code.NotFound);
      for (const s of req.settlements) {
        const entry = pending.get(s.deliveryId);
        if (!entry) continue; // already settled
        if (s.kind === SettlementKind.WORKING) {
          entry.delivery.working();
          continue;
        }
        pending.delete(s.deliveryId);
        if (s.kind === SettlementKind.ACK) entry.delivery.ack();
        else if (s.kind === SettlementKind.NAK) entry.delivery.nak(s.delayMs);
        else entry.delivery.term();
        entry.done();
      }
      return {};
    },

    async notify(req) {
      bus.notify(req.topic, req.data);
      return {};
    },

    async *subscribe(req, ctx) {
      check(req.topic !== "", "topic", "is required");
      const inbox = new Inbox<{ topic: string; data: Uint8Array }>();
      const off = bus.subscribe(req.topic, (topic, data) => inbox.push({ topic, data }));
      try {
        yield { topic: "", data: new Uint8Array() };
        for (;;) {
          const notes = await inbox.take(ctx.signal);
          if (ctx.signal.aborted) return;
          for (const n of notes) yield n;
        }
      } finally {
        off();
      }
    },
  };
}
