/**
 * A real n8n for tests: the npm package `.ci/run` installs into a cache outside the repository,
 * run by its CLI on a PostgreSQL database of its own. Workflows are imported and executed as
 * stored workflows run; the answer is every node's runs.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
export const n8nDir = process.env.FLOWFORGE_N8N_DIR ?? join(homedir(), ".cache/flowforge/n8n");
export const n8nBin = join(n8nDir, "node_modules/n8n/bin/n8n");
export const n8nInstalled = existsSync(n8nBin);
/** In CI a missing n8n is a failure, not a skip. */
export const n8nRequired = process.env.FLOWFORGE_REQUIRE_N8N === "1";

/** A node's run: the items it put out on each output (0: main, 1: its error output). */
export type NodeRun = {
  data: {
    main: (
      | {
          // biome-ignore lint/suspicious/noExplicitAny: the items hold whatever the gateway answered
          json: Record<string, any>;
          binary?: Record<string, { mimeType: string; fileName?: string; data?: string }>;
        }[]
      | null
    )[];
  };
  error?: { message: string; description?: string };
};

/** An n8n whose user folder is `home` and whose database is `databaseUrl`, with `extra` in its environment. */
export function n8nAt(home: string, databaseUrl: string, extra: Record<string, string> = {}) {
  const db = new URL(databaseUrl);
  const env = {
    PATH: process.env.PATH,
    HOME: home,
    N8N_USER_FOLDER: home,
    N8N_ENCRYPTION_KEY: "flowforge-test-key",
    DB_TYPE: "postgresdb",
    DB_POSTGRESDB_HOST: db.hostname,
    DB_POSTGRESDB_PORT: db.port || "5432",
    DB_POSTGRESDB_DATABASE: db.pathname.slice(1),
    DB_POSTGRESDB_USER: decodeURIComponent(db.username) || "postgres",
    DB_POSTGRESDB_PASSWORD: decodeURIComponent(db.password),
    N8N_DIAGNOSTICS_ENABLED: "false",
    N8N_VERSION_NOTIFICATIONS_ENABLED: "false",
    N8N_PERSONALIZATION_ENABLED: "false",
    N8N_LOG_LEVEL: "info",
    N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS: "false",
    // n8n's isolated-vm engine is a native build, skipped with the install scripts.
    N8N_EXPRESSION_ENGINE: "legacy",
    ...extra,
  };
  /** Runs an n8n CLI command; a failure shows what n8n printed. */
  const n8n = (...args: string[]) =>
    run(process.execPath, [n8nBin, ...args], { cwd: home, env, timeout: 240_000, maxBuffer: 64 * 1024 * 1024 }).catch(
      (err: { message: string; stdout?: string; stderr?: string }) => {
        throw new Error(`${err.message}\nstdout: ${err.stdout?.slice(-4000)}\nstderr: ${err.stderr?.slice(-4000)}`);
      },
    );
  return {
    /** Imports credentials (their data in the clear; n8n encrypts them). */
    async importCredentials(credentials: { id: string; name: string; type: string; data: Record<string, unknown> }[]) {
      const file = join(home, "credentials.json");
      await writeFile(file, JSON.stringify(credentials));
      await n8n("import:credentials", `--input=${file}`);
    },
    /** Imports and executes a workflow; answers each node's runs. */
    async execute(workflow: { id: string; [key: string]: unknown }): Promise<Record<string, NodeRun[]>> {
      const file = join(home, `${workflow.id}.json`);
      await writeFile(file, JSON.stringify(workflow));
      await n8n("import:workflow", `--input=${file}`);
      const { stdout } = await n8n("execute", `--id=${workflow.id}`, "--rawOutput");
      // --rawOutput prints the execution's data as JSON.
      if (!stdout.includes("{")) throw new Error(`n8n printed no execution: ${stdout}`);
      const data = JSON.parse(stdout.slice(stdout.indexOf("{")));
      return data.data?.resultData?.runData ?? data.resultData?.runData;
    },
  };
}
