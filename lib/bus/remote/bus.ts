/**
 * The job bus of a process that is not the jobs process, on embedded parts: every operation goes
 * to the jobs process's in-process bus over gRPC (BusService, see service.ts), so capability
 * processes run their own job workers without NATS. Streams are opened again after the jobs
 * process restarts; deliveries it held then are redelivered by it.
 */
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { BusService, SettlementKind, type Settlement } from "#gen/flowforge/bus/v1/bus_pb.js";
import { backoff } from "#runtime/backoff.js";
import type { Consumer, Delivery, JobBus } from "../types.js";
import { taskFromMessage } from "./service.js";

/** Options for createRemoteBus. */
export interface RemoteBusOptions {
  /** host:port of the process serving BusService. */
  address: string;
  /** First delay before opening a broken stream again; doubles up to 5 s. @default 100 */
  retryMs?: number;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        resolve();
      },
      { once: true },
    );
  });

/** Settlements of one consumer, sent together once per turn of the event loop. */
function createSettler(client: Client<typeof BusService>, consumerId: string) {
  let batch: Settlement[] = [];
  let sending: Promise<void> = Promise.resolve();
  return {
    add(s: Omit<Settlement, "$typeName">) {
      batch.push(s as Settlement);
      if (batch.length > 1) return;
      setImmediate(() => {
        const settlements = batch;
        batch = [];
        // A consumer that is gone had its deliveries redelivered: nothing to do.
        sending = sending.then(() =>
          client.settle({ consumerId, settlements }).then(
            () => undefined,
            () => undefined,
          ),
        );
      });
    },
    idle: () => new Promise<void>((resolve) => setImmediate(() => resolve(sending))),
  };
}

/** Connects (lazily) to a BusService. */
export function createRemoteBus(options: RemoteBusOptions): JobBus {
  const client = createClient(BusService, createGrpcTransport({ baseUrl: `http://${options.address}` }));
  const retryMs = options.retryMs ?? 100;
  const closing = new AbortController();
  const subscriptions = new Set<Promise<void>>();

  /** Runs `open` until `signal` aborts, opening it again (with backoff) whenever it ends or fails. */
  async function keepOpen(signal: AbortSignal, open: () => Promise<void>) {
    for (let attempt = 1; !signal.aborted; attempt++) {
      try {
        await open();
        attempt = 0;
      } catch {
        // the jobs process is restarting, or the stream broke
      }
      if (!signal.aborted) await sleep(Math.min(5000, backoff(attempt, retryMs)), signal);
    }
  }

  return {
    async publish(tasks) {
      await client.publish({ tasks });
    },

    async consume(capability, handler, opts): Promise<Consumer> {
      const stop = new AbortController();
      const inFlight = new Set<Promise<void>>();
      const settlers = new Set<ReturnType<typeof createSettler>>();
      const signal = AbortSignal.any([stop.signal, closing.signal]);
      const run = keepOpen(signal, async () => {
        let settler: ReturnType<typeof createSettler> | undefined;
        for await (const res of client.consume(
          { capability, concurrency: opts.concurrency, ackWaitMs: opts.ackWaitMs },
          { signal },
        )) {
          if (res.event.case === "started") {
            settler = createSettler(client, res.event.value.consumerId);
            settlers.add(settler);
          } else if (res.event.case === "delivery" && settler) {
            const s = settler;
            const { id, task, attempt } = res.event.value;
            let settled = false;
            const settle = (kind: SettlementKind, delayMs = 0) => {
              if (settled) return;
              if (kind !== SettlementKind.WORKING) settled = true;
              s.add({ deliveryId: id, kind, delayMs });
            };
            const delivery: Delivery = {
              task: taskFromMessage(task!),
              attempt,
              ack: () => settle(SettlementKind.ACK),
              nak: (delayMs) => settle(SettlementKind.NAK, delayMs),
              term: () => settle(SettlementKind.TERM),
              working: () => settle(SettlementKind.WORKING),
            };
            const p = handler(delivery).catch(() => delivery.nak(1000));
            inFlight.add(p);
            void p.finally(() => inFlight.delete(p));
          }
        }
      });
      return {
        async stop() {
          // Let what is running settle (its acks must reach the jobs process), then close the stream.
          await Promise.allSettled([...inFlight]);
          await Promise.all([...settlers].map((s) => s.idle()));
          stop.abort();
          await run;
        },
      };
    },

    notify(topic, data) {
      if (!closing.signal.aborted) client.notify({ topic, data }).catch(() => {});
    },

    subscribe(topic, listener) {
      const off = new AbortController();
      const signal = AbortSignal.any([off.signal, closing.signal]);
      let markReady!: () => void;
      const ready = new Promise<void>((resolve) => (markReady = resolve));
      subscriptions.add(ready);
      void keepOpen(signal, async () => {
        let first = true;
        for await (const note of client.subscribe({ topic }, { signal })) {
          if (first) {
            first = false;
            markReady();
            continue;
          }
          listener(note.topic, note.data);
        }
      });
      return () => {
        subscriptions.delete(ready);
        off.abort();
      };
    },

    async flush() {
      await Promise.all([...subscriptions]);
    },

    async close() {
      closing.abort();
    },
  };
}
