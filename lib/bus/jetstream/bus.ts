/**
 * The production job bus on NATS JetStream: one work-queue stream for every capability's tasks
 * (file storage, `Nats-Msg-Id` dedupe), a durable pull consumer per capability shared by every
 * replica, and core NATS subjects for notifications. Trace context and the request id travel
 * in message headers.
 */
import { connect, headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import {
  AckPolicy,
  DeliverPolicy,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { createStreamPublisher } from "./publisher.js";
import { taskId, type Consumer, type ConsumeOptions, type Delivery, type JobBus, type Task } from "../types.js";

/** Options for createJetStreamBus. */
export interface JetStreamBusOptions {
  /** nats://host:port (comma-separated for a cluster). */
  servers: string;
  /** Stream name; tests use their own. Default `FLOWFORGE_TASKS`. */
  stream?: string;
  /** Subject prefix; tests use their own. Default `flowforge`. */
  prefix?: string;
  /** Replicas of the stream (3 in a JetStream cluster). Default 1. */
  replicas?: number;
}

const nanos = (ms: number) => ms * 1_000_000;

function toTask(m: JsMsg, capability: string): Task {
  const h = m.headers;
  return {
    capability,
    jobId: h?.get("ff-job") ?? "",
    index: Number(h?.get("ff-item") ?? 0),
    method: h?.get("ff-method") ?? "",
    tenant: h?.get("ff-tenant") ?? "",
    requestId: h?.get("x-request-id") ?? "",
    traceparent: h?.get("traceparent") ?? "",
    data: m.data,
  };
}

/** Connects and makes sure the stream exists. */
export async function createJetStreamBus(options: JetStreamBusOptions): Promise<JobBus> {
  const stream = options.stream ?? "FLOWFORGE_TASKS";
  const prefix = options.prefix ?? "flowforge";
  const nc: NatsConnection = await connect({
    servers: options.servers.split(","),
    name: "flowforge",
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    // Skips building an Error (with its stack) for every request.
    noAsyncTraces: true,
  });
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const config = {
    name: stream,
    subjects: [`${prefix}.tasks.>`],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    num_replicas: options.replicas ?? 1,
    duplicate_window: nanos(120_000),
  };
  try {
    await jsm.streams.info(stream);
  } catch {
    await jsm.streams.add(config);
  }

  const publisher = createStreamPublisher(nc);

  return {
    async publish(tasks) {
      await publisher.publish(
        tasks.map((task) => {
          const h = natsHeaders();
          h.set("ff-job", task.jobId);
          h.set("ff-item", String(task.index));
          h.set("ff-method", task.method);
          h.set("ff-tenant", task.tenant);
          if (task.requestId) h.set("x-request-id", task.requestId);
          if (task.traceparent) h.set("traceparent", task.traceparent);
          return { subject: `${prefix}.tasks.${task.capability}`, data: task.data, headers: h, id: taskId(task) };
        }),
      );
    },

    async consume(capability, handler, opts: ConsumeOptions): Promise<Consumer> {
      const durable = `tasks-${capability}`;
      const consumerConfig = {
        durable_name: durable,
        filter_subject: `${prefix}.tasks.${capability}`,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(opts.ackWaitMs),
        max_ack_pending: 10_000,
      };
      try {
        await jsm.consumers.info(stream, durable);
        await jsm.consumers.update(stream, durable, {
          ack_wait: consumerConfig.ack_wait,
          max_ack_pending: consumerConfig.max_ack_pending,
        });
      } catch {
        await jsm.consumers.add(stream, consumerConfig);
      }
      const consumer = await js.consumers.get(stream, durable);
      const messages = await consumer.consume({ max_messages: opts.concurrency });
      const inFlight = new Set<Promise<void>>();
      let release: (() => void) | undefined;
      const loop = (async () => {
        for await (const m of messages) {
          const delivery: Delivery = {
            task: toTask(m, capability),
            attempt: m.info.deliveryCount,
            ack: () => m.ack(),
            nak: (delayMs) => m.nak(delayMs),
            term: () => m.term(),
            working: () => m.working(),
          };
          const p = handler(delivery).catch(() => m.nak(1000));
          inFlight.add(p);
          void p.finally(() => {
            inFlight.delete(p);
            release?.();
          });
          while (inFlight.size >= opts.concurrency) await new Promise<void>((r) => (release = r));
        }
      })();
      return {
        async stop() {
          await messages.close();
          await loop.catch(() => {});
          await Promise.allSettled([...inFlight]);
        },
      };
    },

    notify(topic, data) {
      if (!nc.isClosed()) nc.publish(`${prefix}.${topic}`, data);
    },

    subscribe(topic, listener) {
      const sub = nc.subscribe(`${prefix}.${topic}`, {
        callback: (err, msg) => {
          if (!err) listener(msg.subject.slice(prefix.length + 1), msg.data);
        },
      });
      return () => sub.unsubscribe();
    },

    async flush() {
      // A PING the server answers after it has processed our earlier SUBs.
      await nc.flush();
    },

    async close() {
      await nc.drain().catch(() => nc.close());
    },
  };
}
