/** Starts the whole mesh exactly as `npm start` does, in a temporary data directory. */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startProcess } from "./process.js";
import { freePort } from "../../lib/runtime/ports.js";

export const root = fileURLToPath(new URL("../..", import.meta.url));

/** A running mesh. */
export interface Mesh {
  url: string;
  port: number;
  adminKey: string;
  dataDir: string;
  /** Everything the launcher and its children printed so far. */
  output(): string;
  stop(): Promise<void>;
}

export { freePort };

/** Starts scripts/start.ts with extra env; resolves once the gateway is ready. */
export async function startMesh(env: NodeJS.ProcessEnv = {}): Promise<Mesh> {
  const dataDir = await mkdtemp(join(tmpdir(), "flowforge-"));
  const started = await startProcess("scripts/start.ts", { FLOWFORGE_DATA_DIR: dataDir, PORT: String(await freePort()), LOG_LEVEL: "info", ...env });
  const adminKey = env.FLOWFORGE_ADMIN_KEY ?? (await readFile(join(dataDir, "admin-key"), "utf8")).trim();
  return {
    url: `http://127.0.0.1:${started.port}`,
    port: started.port,
    adminKey,
    dataDir,
    output: started.output,
    async stop() {
      await started.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
