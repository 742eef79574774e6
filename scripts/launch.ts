/**
 * The launcher of `npm start` (scripts/start.ts runs it): the whole mesh on one machine. Without
 * `DATABASE_URL` it runs PGlite (in `FLOWFORGE_DATA_DIR`, default ./.flowforge) served over the
 * Postgres wire protocol; it starts every capability service and the gateway as separate processes
 * joined by real gRPC, restarts a process that dies (with backoff, for as long as it takes), tells
 * the gateway every process's state for its health report, and stops everything on SIGINT/SIGTERM
 * within the grace period.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createLogger } from "#runtime/logger.js";
import { launcherConfig } from "#config/index.js";
import { reportReady } from "#runtime/lifecycle.js";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "#db/pglite-server.js";
import { createSupervisor } from "#launcher/supervisor.js";
import { selectCapabilities, usesOf } from "../services/select.js";
import { addressVariable } from "#capability/index.js";
import { threadPoolSize } from "#runtime/machine.js";
import { compiled } from "#runtime/code.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const logger = createLogger({ name: "launcher" });
const launcher = launcherConfig();
const config = { ...launcher, dataDir: resolve(launcher.dataDir) };

/** The operator key: FLOWFORGE_ADMIN_KEY, else the one kept in the data directory, else a new one. */
async function adminKey(): Promise<string> {
  if (config.adminKey) return config.adminKey;
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
// Started by another program over IPC (a test, a bench): when that program is gone, so is the mesh.
if (process.send) process.once("disconnect", () => void shutdown(0));

await mkdir(config.dataDir, { recursive: true });
let databaseUrl = config.databaseUrl;
if (!databaseUrl) {
  embedded = await startEmbeddedPostgres({
    dataDir: join(config.dataDir, "pgdata"),
    port: config.embeddedPgPort,
    // Made by `npm run build` (scripts/build.ts).
    template: join(compiled ? root : join(root, "dist"), "pglite-template"),
    listenFirst: true,
  });
  databaseUrl = embedded.url;
  // The processes start while it opens; their statements wait for it.
  embedded.ready.then(
    () => logger.info({ dataDir: config.dataDir }, "embedded PostgreSQL (PGlite) ready"),
    (err) => {
      logger.fatal({ err, dataDir: config.dataDir }, "embedded PostgreSQL (PGlite) failed to open");
      void shutdown(1);
    },
  );
}
const key = await adminKey();

// The capabilities to run (FLOWFORGE_CAPABILITIES, with what they call), every one by default;
// every process is told the same list (the jobs service takes jobs for these alone).
const selected = selectCapabilities(config.capabilities);
// PGlite runs one query at a time, so a few connections per process are plenty. libuv's thread
// pool gets room for the bounded crypto work beside DNS lookups and file reads.
const baseEnv = {
  ...process.env,
  HOST: "127.0.0.1",
  DATABASE_URL: databaseUrl,
  UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? String(threadPoolSize()),
  FLOWFORGE_CAPABILITIES: selected.join(","),
  // Every process serves Prometheus metrics on a port of its own, listed in /healthz.
  METRICS_PORT: "0",
  ...(embedded ? { DATABASE_POOL: process.env.DATABASE_POOL ?? "4" } : {}),
};
// Every capability through the one service entry point. Each binds ports of its own choosing
// (PORT=0 and METRICS_PORT=0: a port picked here could be taken, as an outgoing connection's
// source port, before the process binds it) and reports them; a restart binds the same ones
// again. The jobs process comes first (beside the database opening): without NATS the others'
// workers use its bus.
const addresses: Record<string, string> = {};
const serviceSpec = (name: string, extra: NodeJS.ProcessEnv = {}) => ({
  name,
  entry: "services/main.ts",
  args: [name],
  env: { ...baseEnv, ...extra, PORT: "0" },
});
let gatewayPort = config.gatewayPort;
try {
  const jobsPort = await supervisor.start(serviceSpec("jobs"));
  addresses[addressVariable("jobs")] = `127.0.0.1:${jobsPort}`;
  const busEnv = config.natsUrl ? {} : { JOB_BUS_ADDR: addresses[addressVariable("jobs")] };
  // Capabilities that call others start after them, given their addresses.
  const others = selected.filter((name) => name !== "jobs");
  for (const wave of [others.filter((n) => usesOf(n).length === 0), others.filter((n) => usesOf(n).length > 0)]) {
    const ports = await Promise.all(
      wave.map((name) =>
        supervisor.start(
          serviceSpec(name, {
            ...busEnv,
            ...Object.fromEntries(usesOf(name).map((u) => [addressVariable(u), addresses[addressVariable(u)]])),
          }),
        ),
      ),
    );
    wave.forEach((name, i) => {
      addresses[addressVariable(name)] = `127.0.0.1:${ports[i]}`;
    });
  }
  gatewayPort = await supervisor.start({
    name: "gateway",
    entry: "gateway/main.ts",
    env: {
      ...baseEnv,
      ...addresses,
      FLOWFORGE_ADMIN_KEY: key,
      PORT: String(config.gatewayPort),
    },
  });
} catch (err) {
  if (!stopping) {
    logger.fatal({ err }, "start-up failed");
    await shutdown(1);
  }
}
logger.info({ url: `http://127.0.0.1:${gatewayPort}` }, "FlowForge is up");

reportReady("launcher", gatewayPort);
