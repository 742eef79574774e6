/**
 * grpc.health.v1 for a service process, served from the generated descriptors like every other
 * service (no .proto file loaded at run time): Check, Watch and List over the services the process
 * serves, with "" for the process as a whole. Kubernetes' gRPC probes, grpc_health_probe and
 * grpc-js clients' health checking all speak it.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as Status } from "#gen/grpc/health/v1/health_pb.js";
import { register, type ServiceRegistration } from "./registration.js";

/** The health of one process's services, and the service that reports it. */
export interface ServiceHealth {
  /** grpc.health.v1.Health, to serve beside the process's services. */
  registration: ServiceRegistration;
  /** Sets every service's status (and the process's); watchers hear of the change. */
  setAll(status: "SERVING" | "NOT_SERVING"): void;
}

/** Health for `services` (type names), every one SERVING until told otherwise. */
export function createServiceHealth(services: readonly string[]): ServiceHealth {
  const statuses = new Map<string, Status>(["", ...services].map((name) => [name, Status.SERVING]));
  const watchers = new Set<() => void>();
  /** Resolves at the next change of status or when `signal` aborts. */
  const nextChange = (signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      const wake = () => {
        watchers.delete(wake);
        signal.removeEventListener("abort", wake);
        resolve();
      };
      watchers.add(wake);
      signal.addEventListener("abort", wake, { once: true });
    });

  return {
    registration: register(Health, {
      check({ service }) {
        const status = statuses.get(service);
        if (status === undefined) throw new ConnectError(`unknown service "${service}"`, Code.NotFound);
        return { status };
      },
      // The status now, then each change, until the caller goes; an unknown service is
      // SERVICE_UNKNOWN (it may appear later), as the protocol asks.
      async *watch({ service }, { signal }) {
        let sent: Status | undefined;
        while (!signal.aborted) {
          const status = statuses.get(service) ?? Status.SERVICE_UNKNOWN;
          if (status !== sent) {
            sent = status;
            yield { status };
          }
          await nextChange(signal);
        }
      },
      list() {
        return { statuses: Object.fromEntries([...statuses].map(([name, status]) => [name, { status }])) };
      },
    }),
    setAll(status) {
      for (const name of statuses.keys()) statuses.set(name, Status[status]);
      for (const wake of [...watchers]) wake();
    },
  };
}
