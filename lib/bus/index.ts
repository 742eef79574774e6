/**
 * The job bus: NATS JetStream (`jetstream/`), the in-process bus (`memory/`) and the in-process bus
 * of the jobs process reached over gRPC (`remote/`), behind one interface (types.ts).
 */
import { createMemoryBus } from "./memory/bus.js";
import { createRemoteBus } from "./remote/bus.js";
import type { JobBus } from "./types.js";

export type { Consumer, ConsumeOptions, Delivery, JobBus, Task } from "./types.js";
export { taskId } from "./types.js";
export { createMemoryBus, createRemoteBus };
export { createBusService } from "./remote/service.js";

/** Where the job bus is (serviceConfig().bus). */
export interface BusConfig {
  natsUrl?: string;
  natsReplicas: number;
  jobBusAddress?: string;
}

/**
 * Picks the job bus: NATS JetStream when `natsUrl` is set; else the jobs process's in-process bus
 * over gRPC when `jobBusAddress` is (embedded, every process but the jobs one); else an in-process bus.
 */
export async function busFor(config: BusConfig): Promise<{ bus: JobBus; kind: "jetstream" | "remote" | "memory" }> {
  if (config.natsUrl) {
    // The NATS client is loaded only where NATS is used (embedded processes never load it).
    const { createJetStreamBus } = await import("./jetstream/bus.js");
    const bus = await createJetStreamBus({ servers: config.natsUrl, replicas: config.natsReplicas });
    return { bus, kind: "jetstream" };
  }
  if (config.jobBusAddress) return { bus: createRemoteBus({ address: config.jobBusAddress }), kind: "remote" };
  return { bus: createMemoryBus(), kind: "memory" };
}
