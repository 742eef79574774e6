/**
 * The gateway process. Environment: `PORT` (8080), `HOST` (127.0.0.1), `DATABASE_URL`
 * (required), `FLOWFORGE_ADMIN_KEY`, `<NAME>_ADDR` per capability, `MAX_REQUEST_BYTES`
 * (32 MiB), `DEFAULT_TIMEOUT_MS` (60 s), `CORS_ORIGINS` (comma-separated, default `*`),
 * `TIER_LIMITS` (per tier, per minute:per day, e.g. `free=100:1000`), `REDIS_URL` (quotas shared by
 * every replica), `LOG_LEVEL`,
 * `FLOWFORGE_DATA_DIR` or `BLOB_STORE=nats` with `NATS_URL` (the blob store, lib/config blobConfig),
 * `FIRST_REQUEST_TIMEOUT_MS` (5 s), `MAX_IDLE_CONNECTIONS` and `MAX_CONNECTIONS` (sized from the
 * open-file limit).
 */
import { readFileSync } from "node:fs";
import { createLogger } from "#runtime/logger.js";
import { sqlFor } from "#db/sql.js";
import { gatewayConfig } from "#config/index.js";
import { onShutdown, reportReady } from "#runtime/lifecycle.js";
import { migrate } from "#db/migrate.js";
import { backendAddresses } from "./backends/backends.js";
import { selectCapabilities } from "../services/catalog.js";
import { createGateway } from "./gateway.js";
import { parseTierLimits } from "./policies/rate-limit.js";
import { limiterFor } from "#limits/index.js";
import type { ProcessState } from "#launcher/supervisor.js";
import { openFileLimit } from "#runtime/fd-limit.js";
import { connectionCaps } from "./transports/listener.js";
import { blobConfig } from "#config/index.js";
import { openBlobStore, sweepEvery } from "#blobs/open.js";
import { serveMetrics } from "#runtime/metrics-server.js";
import { metricsRegistry } from "#runtime/metrics.js";
import { stopTelemetry } from "#runtime/telemetry.js";

const config = gatewayConfig();
const logger = createLogger({ name: "gateway" });
const sql = sqlFor(config.database, "flowforge-gateway");
const applied = await migrate(sql);
if (applied.length) logger.info({ applied }, "migrations applied");

// Under `npm start` the launcher sends every process's state; /healthz reports it.
let processes: ProcessState[] | undefined;
process.on("message", (msg: { type?: string; processes?: ProcessState[] }) => {
  if (msg?.type === "processes") processes = msg.processes;
});

// Only the capabilities this deployment runs (FLOWFORGE_CAPABILITIES), every one by default.
const all = backendAddresses();
const addresses = Object.fromEntries(selectCapabilities(config.capabilities).map((name) => [name, all[name]]));
const fdLimit = openFileLimit();
const caps = connectionCaps(fdLimit);
const limiter = await limiterFor(config.redisUrl);
const blobs = await openBlobStore(blobConfig());
// Expired blobs are removed here, every 10 minutes (reads already refuse them).
const stopSweeping = sweepEvery(blobs, 600_000, (err) => logger.warn({ err }, "blob sweep failed"));
const gateway = createGateway({
  blobs,
  sql,
  logger,
  addresses,
  adminKey: config.adminKey,
  maxRequestBytes: config.maxRequestBytes,
  defaultTimeoutMs: config.defaultTimeoutMs,
  corsOrigins: config.corsOrigins,
  publicUrl: config.publicUrl,
  limiter,
  tierLimits: parseTierLimits(config.tierLimits),
  processes: () => processes,
  version: (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string })
    .version,
  natsUrl: config.natsUrl,
  jwt: config.jwt,
  basicAuth: config.basicAuth,
  connections: {
    firstRequestTimeoutMs: config.connections.firstRequestTimeoutMs,
    maxIdleConnections: config.connections.maxIdleConnections ?? caps.maxIdleConnections,
    maxConnections: config.connections.maxConnections ?? caps.maxConnections,
  },
});
const port = await gateway.listen(config.port, config.host);
// Prometheus scrapes the gateway's metrics here, without a key (its own port answers them to an operator).
const metrics =
  config.metricsPort === undefined
    ? undefined
    : await serveMetrics({
        host: config.host,
        port: config.metricsPort,
        // The gateway's registry, and what the process's shared one holds (traces dropped, say).
        metrics: async () => `${await gateway.metrics()}\n${await metricsRegistry.metrics()}`,
      });
logger.info(
  { host: config.host, port, metricsPort: metrics?.port, backends: addresses, openFileLimit: fdLimit },
  "gateway listening",
);
reportReady("gateway", port, metrics?.port);

onShutdown(logger, async () => {
  await gateway.close();
  await metrics?.close();
  await stopTelemetry();
  stopSweeping();
  await blobs.close();
  await limiter.close();
  await sql.end({ timeout: 5 });
});
