/** Process entry for a capability service: config from env, listen, report ready, stop on SIGTERM. */
import { createServiceServer, type ServiceRegistration } from "./server.js";
import { createLogger, type Logger } from "./logger.js";
import { onShutdown, reportReady } from "./lifecycle.js";
import { serviceConfig, type ServiceConfig } from "#config/index.js";
import { startProcessMetrics } from "./metrics.js";
import { serveMetrics } from "./metrics-server.js";
import { stopTelemetry } from "./telemetry.js";

/** Options for runService. */
export interface RunServiceOptions {
  /** Short capability name (`crypto`); names the process in logs. */
  name: string;
  /** The services this process serves. */
  services: ServiceRegistration[];
  /**
   * Run job workers for these services when `DATABASE_URL` and a bus are set: `NATS_URL`
   * (production) or `JOB_BUS_ADDR` (embedded: the jobs process's bus over gRPC).
   */
  jobWorkers?: boolean;
  /** Called on shutdown after the server has stopped. */
  onStop?: () => Promise<void>;
  /** The process's configuration. @default serviceConfig() from the environment */
  config?: ServiceConfig;
}

/**
 * Runs a service process, configured by serviceConfig (lib/config): `HOST`, `PORT` (50051),
 * `MAX_MESSAGE_BYTES`, `SHUTDOWN_DRAIN_MS` (health NOT_SERVING before refusing calls),
 * `SHUTDOWN_GRACE_MS`, and with `DATABASE_URL` and a bus (`NATS_URL` or `JOB_BUS_ADDR`) its job
 * workers. When started by the launcher, sends `{ type: "ready", port }` over IPC once listening.
 */
export async function runService(options: RunServiceOptions): Promise<void> {
  const config = options.config ?? serviceConfig();
  const logger = createLogger({ name: options.name });
  startProcessMetrics(options.name);
  const metrics =
    config.metricsPort === undefined ? undefined : await serveMetrics({ host: config.host, port: config.metricsPort });
  const server = createServiceServer({ services: options.services, logger, maxMessageBytes: config.maxMessageBytes });
  const { host, port } = config;
  const bound = await server.listen(host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`);
  logger.info(
    { host, port: bound, metricsPort: metrics?.port, services: options.services.map((s) => s.service.typeName) },
    "serving",
  );
  reportReady(options.name, bound, metrics?.port);

  const busReachable = config.bus.natsUrl || config.bus.jobBusAddress;
  const stopWorkers =
    options.jobWorkers && busReachable && config.database ? await startJobWorkers(options, config, logger) : undefined;
  onShutdown(logger, async () => {
    await server.shutdown(config.shutdown);
    await metrics?.close();
    await stopWorkers?.();
    await options.onStop?.();
    await stopTelemetry();
  });
}

/** This process consumes its own capability's tasks (JetStream, or the jobs process's bus). */
async function startJobWorkers(
  options: RunServiceOptions,
  config: ServiceConfig,
  logger: Logger,
): Promise<() => Promise<void>> {
  const { busFor } = await import("#bus/index.js");
  const { sqlFor } = await import("#db/sql.js");
  const { createJobStore } = await import("#jobs/store.js");
  const { startWorker } = await import("#jobs/worker.js");
  const { bus } = await busFor(config.bus);
  const sql = sqlFor(config.database, `flowforge-${options.name}`, { customPlans: true });
  const store = createJobStore(sql);
  const workers = await Promise.all(
    options.services.map(({ service, impl }) =>
      startWorker({ bus, store, logger, capability: options.name, service, impl: impl as never, ...config.workers }),
    ),
  );
  logger.info({ capability: options.name }, "job workers consuming");
  return async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await bus.close();
    await sql.end({ timeout: 5 });
  };
}
