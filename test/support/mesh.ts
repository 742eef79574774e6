/** Starts the whole mesh exactly as `npm start` does, in a temporary data directory. */
import { fork, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

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

/** A port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Starts scripts/start.ts with extra env; resolves once the gateway is ready. */
export async function startMesh(env: NodeJS.ProcessEnv = {}): Promise<Mesh> {
  const dataDir = await mkdtemp(join(tmpdir(), "flowforge-"));
  const port = await freePort();
  let out = "";
  const child: ChildProcess = fork(join(root, "scripts/start.ts"), [], {
    cwd: root,
    execArgv: ["--import", "tsx"],
    env: { ...process.env, FLOWFORGE_DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mesh did not start:\n${out}`)), 60_000);
    child.on("message", (m: { type?: string }) => {
      if (m?.type === "ready") {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`launcher exited with ${code}:\n${out}`));
    });
  });
  const adminKey = env.FLOWFORGE_ADMIN_KEY ?? (await readFile(join(dataDir, "admin-key"), "utf8")).trim();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    adminKey,
    dataDir,
    output: () => out,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
