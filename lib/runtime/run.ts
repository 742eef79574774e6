/** Process entry for a capability service: config from env, listen, report ready, stop on SIGTERM. */
import { createServiceServer, type ServiceRegistration } from "./server.js";
import { createLogger } from "./logger.js";
import { defaultMaxMessageBytes, envInt, envString } from "./config.js";
import { onShutdown, reportReady } from "./lifecycle.js";

/** Options for runService. */
export interface RunServiceOptions {
  /** Short capability name (`crypto`); names the process in logs and picks `<NAME>_PORT`. */
  name: string;
  /** The services this process serves. */
  services: ServiceRegistration[];
  /** Port when neither `<NAME>_PORT` nor `PORT` is set. */
  defaultPort: number;
}

/**
 * Runs a service process. Environment: `HOST` (default 127.0.0.1), `<NAME>_PORT` or `PORT`,
 * `MAX_MESSAGE_BYTES`, `SHUTDOWN_DRAIN_MS` (health NOT_SERVING before refusing calls),
 * `SHUTDOWN_GRACE_MS`, `LOG_LEVEL`. When started by the launcher, sends `{ type: "ready", port }`
 * over IPC once listening.
 */
export async function runService(options: RunServiceOptions): Promise<void> {
  const logger = createLogger({ name: options.name });
  const port = envInt(`${options.name.toUpperCase()}_PORT`, envInt("PORT", options.defaultPort));
  const host = envString("HOST", "127.0.0.1");
  const server = createServiceServer({
    services: options.services,
    logger,
    maxMessageBytes: envInt("MAX_MESSAGE_BYTES", defaultMaxMessageBytes),
  });
  const bound = await server.listen(`${host}:${port}`);
  logger.info({ host, port: bound, services: options.services.map((s) => s.service.typeName) }, "serving");
  reportReady(options.name, bound);

  onShutdown(logger, () =>
    server.shutdown({ drainMs: envInt("SHUTDOWN_DRAIN_MS", 0), graceMs: envInt("SHUTDOWN_GRACE_MS", 10_000) }),
  );
}
