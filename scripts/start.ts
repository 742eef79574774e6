/**
 * `npm start`: the whole mesh on one machine. Without `DATABASE_URL` it runs PGlite (in
 * `FLOWFORGE_DATA_DIR`, default ./.flowforge) served over the Postgres wire protocol; it starts
 * every capability service and the gateway as separate processes joined by real gRPC, restarts
 * a process that dies (with backoff, for as long as it takes), tells the gateway every process's
 * state for its health report, and stops everything on SIGINT/SIGTERM within the grace period.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createLogger } from "../lib/runtime/logger.js";
import { envInt, envString } from "../lib/runtime/config.js";
import { freePort } from "../lib/runtime/ports.js";
import { reportReady } from "../lib/runtime/lifecycle.js";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "../lib/db/pglite-server.js";
import { createSupervisor } from "../lib/launcher/supervisor.js";
import { catalog } from "../services/catalog.js";
import { addressVariable } from "../lib/capability/index.js";
import { threadPoolSize } from "../lib/runtime/machine.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const logger = createLogger({ name: "launcher" });
const config = {
  dataDir: resolve(envString("FLOWFORGE_DATA_DIR", ".flowforge")),
  gatewayPort: envInt("PORT", 8080),
  embeddedPgPort: envInt("EMBEDDED_PG_PORT", 0),
  backoffMs: envInt("LAUNCHER_BACKOFF_MS", 500),
  maxBackoffMs: envInt("LAUNCHER_BACKOFF_MAX_MS", 30_000),
  healthyAfterMs: envInt("LAUNCHER_HEALTHY_MS", 60_000),
  graceMs: envInt("LAUNCHER_GRACE_MS", 15_000),
};

/** The operator key: FLOWFORGE_ADMIN_KEY, else the one kept in the data directory, else a new one. */
async function adminKey(): Promise<string> {
  if (process.env.FLOWFORGE_ADMIN_KEY) return process.env.FLOWFORGE_ADMIN_KEY;
  const file = join(config.dataDir, "admin-key");
  try {
    return (await readFile(file, "utf8")).trim();
  } catch {
    const key = `ffadmin_${randomBytes(32).toString("base64url")}`;
    await writeFile(file, `${key}\n`, { mode: 0o600 });
    process.stdout.write(
      `\nFlowForge admin API key (shown once; also kept in ${file}):\n\n  ${key}\n\n` +
        `  export FLOWFORGE_ADMIN_KEY=$(cat ${file})\n\n`,
    );
    return key;
  }
}

const supervisor = createSupervisor({
  logger,
  root,
  backoffMs: config.backoffMs,
  maxBackoffMs: config.maxBackoffMs,
  healthyAfterMs: config.healthyAfterMs,
  graceMs: config.graceMs,
  // The gateway reports every process's state in /healthz.
  onChange: (processes) => supervisor.send("gateway", { type: "processes", processes }),
});
let embedded: EmbeddedPostgres | undefined;
let stopping = false;

async function shutdown(code: number) {
  if (stopping) {
    process.exit(code); // a second signal: stop waiting
  }
  stopping = true;
  logger.info("stopping");
  // Whatever happens below, the launcher is gone shortly after the grace period.
  setTimeout(() => process.exit(code), config.graceMs + 5_000).unref();
  await supervisor.stop();
  await embedded?.stop().catch((err) => logger.warn({ err }, "embedded PostgreSQL did not stop cleanly"));
  process.exit(code);
}
process.on("SIGINT", () => void shutdown(0));
process.on("SIGTERM", () => void shutdown(0));

await mkdir(config.dataDir, { recursive: true });
let databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  embedded = await startEmbeddedPostgres({ dataDir: join(config.dataDir, "pgdata"), port: config.embeddedPgPort });
  databaseUrl = embedded.url;
  logger.info({ dataDir: config.dataDir }, "embedded PostgreSQL (PGlite) ready");
}
const key = await adminKey();

// PGlite runs one query at a time, so a few connections per process are plenty. libuv's thread
// pool gets room for the bounded crypto work beside DNS lookups and file reads.
const baseEnv = {
  ...process.env,
  HOST: "127.0.0.1",
  DATABASE_URL: databaseUrl,
  UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? String(threadPoolSize()),
  ...(embedded ? { DATABASE_POOL: process.env.DATABASE_POOL ?? "4" } : {}),
};
// Every capability of the catalogue, each on a free port, through the one service entry point.
const addresses: Record<string, string> = {};
const ports: Record<string, number> = {};
for (const name of Object.keys(catalog)) {
  ports[name] = await freePort();
  addresses[addressVariable(name)] = `127.0.0.1:${ports[name]}`;
}
// Without NATS the jobs process holds the job bus and serves it to the others' workers.
const busEnv = process.env.NATS_URL ? {} : { JOB_BUS_ADDR: addresses[addressVariable("jobs")] };
const services = Object.keys(catalog).map((name) => ({ name, entry: "services/main.ts", args: [name], env: { ...baseEnv, ...busEnv, PORT: String(ports[name]) } }));

try {
  await Promise.all(services.map((s) => supervisor.start(s)));
  await supervisor.start({
    name: "gateway",
    entry: "gateway/main.ts",
    env: { ...baseEnv, ...addresses, FLOWFORGE_ADMIN_KEY: key, PORT: String(config.gatewayPort) },
  });
} catch (err) {
  if (!stopping) {
    logger.fatal({ err }, "start-up failed");
    await shutdown(1);
  }
}
logger.info({ url: `http://127.0.0.1:${config.gatewayPort}` }, "FlowForge is up");
reportReady("launcher", config.gatewayPort);
