/**
 * The JetStream publisher against a real nats-server: every message stored once (dedupe by id
 * across batches), and a batch that cannot be stored fails with the reason: no stream for the
 * subject, the stream refusing it, or no acknowledgement at all.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import {
  DiscardPolicy,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
} from "@nats-io/jetstream";
import { createStreamPublisher, type StreamMessage } from "../jetstream/publisher.js";
import { startNats, type NatsServer } from "#test/support/nats.js";

let nats: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  jsm = await jetstreamManager(nc);
  await jsm.streams.add({
    name: "WORK",
    subjects: ["work.>"],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window: 120e9,
  });
  await jsm.streams.add({
    name: "SMALL",
    subjects: ["small.>"],
    storage: StorageType.Memory,
    max_msgs: 3,
    discard: DiscardPolicy.New,
  });
});

afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

const message = (subject: string, id: string, text = id): StreamMessage => {
  const h = headers();
  h.set("ff-test", id);
  return { subject, data: new TextEncoder().encode(text), headers: h, id };
};

describe("stream publisher", () => {
  it("stores every message once, in order, deduplicating ids across batches", async () => {
    const publisher = createStreamPublisher(nc, { maxInFlight: 7 });
    const batch = Array.from({ length: 1200 }, (_, i) => message("work.a", `m-${i}`));
    await publisher.publish(batch);
    await publisher.publish([message("work.a", "m-5", "again"), message("work.a", "m-1200")]); // m-5 is a duplicate
    const info = await jsm.streams.info("WORK");
    expect(info.state.messages).toBe(1201);
    const first = await jsm.streams.getMessage("WORK", { seq: info.state.first_seq });
    expect([first?.string(), first?.header.get("Nats-Msg-Id"), first?.header.get("ff-test")]).toEqual([
      "m-0",
      "m-0",
      "m-0",
    ]);
    const last = await jsm.streams.getMessage("WORK", { seq: info.state.last_seq });
    expect(last?.string()).toBe("m-1200");
  });

  it("fails a batch whose subject no stream takes", async () => {
    await expect(createStreamPublisher(nc).publish([message("nowhere.a", "x")])).rejects.toThrow(
      "no stream takes this subject (or JetStream is unavailable)",
    );
  });

  it("fails a batch the stream refuses, with the stream's reason", async () => {
    const publisher = createStreamPublisher(nc);
    await expect(publisher.publish(Array.from({ length: 5 }, (_, i) => message("small.a", `s-${i}`)))).rejects.toThrow(
      /JetStream refused the message: 503 maximum messages exceeded/,
    );
    expect((await jsm.streams.info("SMALL")).state.messages).toBe(3);
  });

  it("fails a batch nobody acknowledges within the timeout", async () => {
    const silent = nc.subscribe("silent.>"); // takes the messages, never answers
    try {
      await expect(
        createStreamPublisher(nc, { timeoutMs: 300 }).publish([message("silent.a", "q-1"), message("silent.a", "q-2")]),
      ).rejects.toThrow("JetStream did not acknowledge 2 of 2 messages within 300 ms");
    } finally {
      silent.unsubscribe();
    }
  });
});
