/**
 * Picks the job bus: NATS JetStream when `NATS_URL` is set; else the jobs process's in-process bus
 * over gRPC when `JOB_BUS_ADDR` is (embedded, every process but the jobs one); else an in-process bus.
 */
import { createJetStreamBus } from "./jetstream/bus.js";
import { createMemoryBus } from "./memory/bus.js";
import { createRemoteBus } from "./remote/bus.js";
import type { JobBus } from "./types.js";
import { envInt } from "../runtime/config.js";

export type { Consumer, ConsumeOptions, Delivery, JobBus, Task } from "./types.js";
export { taskId } from "./types.js";
export { createJetStreamBus, createMemoryBus, createRemoteBus };
export { createBusService } from "./remote/service.js";

/** The bus configured by the environment. */
export async function busFromEnv(env: NodeJS.ProcessEnv = process.env): Promise<{ bus: JobBus; kind: "jetstream" | "remote" | "memory" }> {
  if (env.NATS_URL) return { bus: await createJetStreamBus({ servers: env.NATS_URL, replicas: envInt("NATS_REPLICAS", 1, env) }), kind: "jetstream" };
  if (env.JOB_BUS_ADDR) return { bus: createRemoteBus({ address: env.JOB_BUS_ADDR }), kind: "remote" };
  return { bus: createMemoryBus(), kind: "memory" };
}
