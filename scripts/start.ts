/**
 * `npm start`: the whole mesh on one machine. Without `DATABASE_URL` it runs PGlite (in
 * `FLOWFORGE_DATA_DIR`, default ./.flowforge) served over the Postgres wire protocol; it starts
 * every capability service and the gateway as separate processes joined by real gRPC, restarts
 * a process that dies, and stops everything on SIGINT/SIGTERM.
 */
import { fork, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createLogger } from "../lib/runtime/logger.js";
import { envInt, envString } from "../lib/runtime/config.js";
import { freePort } from "../lib/runtime/ports.js";
import { reportReady } from "../lib/runtime/lifecycle.js";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "../lib/db/pglite-server.js";
import { catalog, type CapabilityName } from "../services/catalog.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const logger = createLogger({ name: "launcher" });
const dataDir = resolve(envString("FLOWFORGE_DATA_DIR", ".flowforge"));

/** The operator key: FLOWFORGE_ADMIN_KEY, else the one kept in the data directory, else a new one. */
async function adminKey(): Promise<string> {
  if (process.env.FLOWFORGE_ADMIN_KEY) return process.env.FLOWFORGE_ADMIN_KEY;
  const file = join(dataDir, "admin-key");
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

interface Managed {
  name: string;
  entry: string;
  env: NodeJS.ProcessEnv;
  child?: ChildProcess;
  restarts: number;
}

let stopping = false;
const managed: Managed[] = [];

function start(m: Managed): Promise<void> {
  return new Promise((resolveReady, reject) => {
    const child = fork(join(root, m.entry), [], {
      execArgv: ["--import", "tsx"],
      env: m.env,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    m.child = child;
    child.on("message", (msg: { type?: string }) => {
      if (msg?.type === "ready") resolveReady();
    });
    child.once("exit", (code, signal) => {
      if (stopping) return;
      logger.error({ process: m.name, code, signal }, "process exited");
      reject(new Error(`${m.name} exited before it was ready`));
      if (m.restarts < 5) {
        m.restarts++;
        setTimeout(() => start(m).catch(() => {}), 500 * m.restarts);
      } else {
        void shutdown(1);
      }
    });
  });
}

let embedded: EmbeddedPostgres | undefined;

async function shutdown(code: number) {
  if (stopping) return;
  stopping = true;
  logger.info("stopping");
  await Promise.all(
    managed.reverse().map(
      (m) =>
        new Promise<void>((done) => {
          if (!m.child || m.child.exitCode !== null) return done();
          m.child.once("exit", () => done());
          m.child.kill("SIGTERM");
          setTimeout(() => m.child?.kill("SIGKILL"), 15_000).unref();
        }),
    ),
  );
  await embedded?.stop();
  process.exit(code);
}
process.on("SIGINT", () => void shutdown(0));
process.on("SIGTERM", () => void shutdown(0));

await mkdir(dataDir, { recursive: true });
let databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  embedded = await startEmbeddedPostgres({ dataDir: join(dataDir, "pgdata"), port: envInt("EMBEDDED_PG_PORT", 0) });
  databaseUrl = embedded.url;
  logger.info({ dataDir }, "embedded PostgreSQL (PGlite) ready");
}
const key = await adminKey();

// PGlite runs one query at a time, so a few connections per process are plenty.
const baseEnv = { ...process.env, HOST: "127.0.0.1", ...(embedded ? { DATABASE_POOL: process.env.DATABASE_POOL ?? "4" } : {}) };
const addresses: Record<string, string> = {};
for (const name of Object.keys(catalog) as CapabilityName[]) {
  const port = await freePort();
  addresses[`${name.toUpperCase()}_ADDR`] = `127.0.0.1:${port}`;
  managed.push({ name, entry: catalog[name].entry, env: { ...baseEnv, DATABASE_URL: databaseUrl, [`${name.toUpperCase()}_PORT`]: String(port), PORT: undefined }, restarts: 0 });
}
const gatewayPort = envInt("PORT", 8080);
managed.push({
  name: "gateway",
  entry: "gateway/main.ts",
  env: { ...baseEnv, ...addresses, DATABASE_URL: databaseUrl, FLOWFORGE_ADMIN_KEY: key, PORT: String(gatewayPort) },
  restarts: 0,
});

try {
  await Promise.all(managed.slice(0, -1).map(start));
  await start(managed[managed.length - 1]);
} catch (err) {
  logger.fatal({ err }, "start-up failed");
  await shutdown(1);
}
logger.info({ url: `http://127.0.0.1:${gatewayPort}` }, "FlowForge is up");
reportReady("launcher", gatewayPort);
