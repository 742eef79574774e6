/** Picks the job bus: NATS JetStream when `NATS_URL` is set, else the in-process bus. */
import { createJetStreamBus } from "./jetstream/bus.js";
import { createMemoryBus } from "./memory/bus.js";
import type { JobBus } from "./types.js";
import { envInt } from "../runtime/config.js";

export type { Consumer, ConsumeOptions, Delivery, JobBus, Task } from "./types.js";
export { taskId } from "./types.js";
export { createJetStreamBus, createMemoryBus };

/** The bus configured by the environment. */
export async function busFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<{ bus: JobBus; kind: "jetstream" | "memory" }> {
  return env.NATS_URL
    ? { bus: await createJetStreamBus({ servers: env.NATS_URL, replicas: envInt("NATS_REPLICAS", 1, env) }), kind: "jetstream" }
    : { bus: createMemoryBus(), kind: "memory" };
}
