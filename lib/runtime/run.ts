/** Process entry for a capability service: config from env, listen, report ready, stop on SIGTERM. */
import { createServiceServer, type ServiceRegistration } from "./server.js";
import { createLogger, type Logger } from "./logger.js";
import { defaultMaxMessageBytes, envInt, envString } from "./config.js";
import { onShutdown, reportReady } from "./lifecycle.js";
import { servicePort } from "../capability/index.js";

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
}

/**
 * Runs a service process. Environment: `HOST` (default 127.0.0.1), `PORT` (default 50051),
 * `MAX_MESSAGE_BYTES`, `SHUTDOWN_DRAIN_MS` (health NOT_SERVING before refusing calls),
 * `SHUTDOWN_GRACE_MS`, `LOG_LEVEL`. When started by the launcher, sends `{ type: "ready", port }`
 * over IPC once listening.
 */
export async function runService(options: RunServiceOptions): Promise<void> {
  const logger = createLogger({ name: options.name });
  const port = envInt("PORT", servicePort);
  const host = envString("HOST", "127.0.0.1");
  const server = createServiceServer({
    services: options.services,
    logger,
    maxMessageBytes: envInt("MAX_MESSAGE_BYTES", defaultMaxMessageBytes),
  });
  const bound = await server.listen(host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`);
  logger.info({ host, port: bound, services: options.services.map((s) => s.service.typeName) }, "serving");
  reportReady(options.name, bound);

  const busReachable = process.env.NATS_URL || process.env.JOB_BUS_ADDR;
  const stopWorkers = options.jobWorkers && busReachable && process.env.DATABASE_URL ? await startJobWorkers(options, logger) : undefined;
  onShutdown(logger, async () => {
    await server.shutdown({ drainMs: envInt("SHUTDOWN_DRAIN_MS", 0), graceMs: envInt("SHUTDOWN_GRACE_MS", 10_000) });
    await stopWorkers?.();
    await options.onStop?.();
  });
}

/** This process consumes its own capability's tasks (JetStream, or the jobs process's bus). */
async function startJobWorkers(options: RunServiceOptions, logger: Logger): Promise<() => Promise<void>> {
  const { busFromEnv } = await import("../bus/index.js");
  const { sqlFromEnv } = await import("../db/sql.js");
  const { createJobStore } = await import("../jobs/store.js");
  const { startWorker, workerOptionsFromEnv } = await import("../jobs/worker.js");
  const { bus } = await busFromEnv();
  const sql = sqlFromEnv(`flowforge-${options.name}`, { customPlans: true });
  const store = createJobStore(sql);
  const workers = await Promise.all(
    options.services.map(({ service, impl }) =>
      startWorker({ bus, store, logger, capability: options.name, service, impl: impl as never, ...workerOptionsFromEnv() }),
    ),
  );
  logger.info({ capability: options.name }, "job workers consuming");
  return async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await bus.close();
    await sql.end({ timeout: 5 });
  };
}
