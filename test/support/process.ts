/** Starting one of our processes (the launcher, a service, the gateway) as `node --import tsx <entry>`. */
import { fork, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** A started process and its output. */
export interface Started {
  child: ChildProcess;
  port: number;
  output(): string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
}

/** Forks `entry` and waits (up to 60 s) for its `{ type: "ready", port }` IPC message. */
export async function startProcess(entry: string, env: NodeJS.ProcessEnv, options: { quiet?: boolean } = {}): Promise<Started> {
  let out = "";
  const child = fork(join(root, entry), [], {
    cwd: root,
    execArgv: ["--import", "tsx"],
    env: { ...process.env, ...env },
    stdio: ["ignore", options.quiet ? "ignore" : "pipe", "pipe", "ipc"],
  });
  child.stdout?.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${entry} did not report ready:\n${out}`)), 60_000);
    child.on("message", (m: { type?: string; port?: number }) => {
      if (m?.type === "ready") {
        clearTimeout(timer);
        resolve(m.port!);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited with ${code}:\n${out}`));
    });
  });
  return {
    child,
    port,
    output: () => out,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
    },
  };
}
