/** Starts the whole mesh exactly as `npm start` does, in a temporary data directory. */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startProcess } from "./process.js";
import { until } from "./until.js";
import { freePort } from "#runtime/ports.js";
import { selectCapabilities } from "../../services/catalog.js";

export const root = fileURLToPath(new URL("../..", import.meta.url));

/** A running mesh. */
export interface Mesh {
  url: string;
  port: number;
  adminKey: string;
  dataDir: string;
  /** Everything the launcher and its children printed so far. */
  output(): string;
  /** The launcher process. */
  pid: number;
  /** The pid of the newest process of that name (`jobs`, `crypto`, `gateway`), from its start-up log line. */
  pidOf(name: string): number;
  /** SIGKILLs the launcher and every process it started, all at once; the data directory stays. */
  crash(): void;
  stop(): Promise<void>;
}

export { freePort };

/** Options for startMesh. */
export interface MeshOptions {
  /** Reuse the data directory of an earlier mesh (a restart); by default a new one is made. */
  dataDir?: string;
  /** Run every process under this open-file limit. */
  openFiles?: number;
  /** Run from this checkout instead of this repository. */
  root?: string;
  /** Run the compiled code in dist/, as `npm start` does (by default the sources, through tsx). */
  compiled?: boolean;
}

/** Starts scripts/start.ts with extra env; resolves once the gateway is ready. */
export async function startMesh(env: NodeJS.ProcessEnv = {}, options: MeshOptions = {}): Promise<Mesh> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "flowforge-")));
  const started = await startProcess(
    "scripts/start.ts",
    { FLOWFORGE_DATA_DIR: dataDir, PORT: "0", LOG_LEVEL: "info", ...env },
    { openFiles: options.openFiles, root: options.root, compiled: options.compiled },
  );
  // Whole lines only: the last one may still be arriving.
  const lines = () =>
    started
      .output()
      .split("\n")
      .slice(0, -1)
      .filter((l) => l.startsWith("{"))
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as { name?: string; msg?: string; pid?: number }];
        } catch {
          return []; // stderr interleaved into a stdout line
        }
      });
  const servingLines = () => lines().filter((l) => l.msg === "serving" || l.msg === "gateway listening");
  // "serving" lines are info-level: a mesh started quieter (the benches) is ready on its IPC message alone.
  const logsServing = !["warn", "error", "fatal", "silent"].includes(
    String({ LOG_LEVEL: "info", ...env }.LOG_LEVEL).toLowerCase(),
  );
  const pidOf = (name: string) => {
    if (!logsServing)
      throw new Error(`pidOf needs the mesh's info-level log lines (started with LOG_LEVEL=${env.LOG_LEVEL})`);
    const serving = servingLines().filter((l) => l.name === name);
    if (serving.length === 0) throw new Error(`no process named ${name} is serving`);
    return serving[serving.length - 1].pid!;
  };
  // The ready message comes over IPC; a child's "serving" line comes through a pipe and can arrive later.
  const names = [...selectCapabilities(env.FLOWFORGE_CAPABILITIES), "gateway"];
  const logged = () => {
    const serving = new Set(servingLines().map((l) => l.name));
    return names.every((n) => serving.has(n));
  };
  if (logsServing)
    await until(logged, 30_000).catch(async () => {
      await started.stop();
      throw new Error(`the mesh is ready but not every process logged "serving":\n${started.output()}`);
    });
  const adminKey = env.FLOWFORGE_ADMIN_KEY ?? (await readFile(join(dataDir, "admin-key"), "utf8")).trim();
  return {
    url: `http://127.0.0.1:${started.port}`,
    port: started.port,
    adminKey,
    dataDir,
    output: started.output,
    pid: started.child.pid!,
    pidOf,
    crash() {
      for (const name of new Set(servingLines().map((l) => l.name as string))) process.kill(pidOf(name), "SIGKILL");
      started.child.kill("SIGKILL");
    },
    async stop() {
      await started.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
