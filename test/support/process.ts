/** Starting one of our processes (a service or the gateway) as `node --import tsx <entry>`. */
import { fork, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { root } from "./mesh.js";

/** A started process and its output. */
export interface Started {
  child: ChildProcess;
  port: number;
  output(): string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
}

/** Forks `entry` and waits for its `{ type: "ready", port }` IPC message. */
export async function startProcess(entry: string, env: NodeJS.ProcessEnv): Promise<Started> {
  let out = "";
  const child = fork(join(root, entry), [], {
    cwd: root,
    execArgv: ["--import", "tsx"],
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const port = await new Promise<number>((resolve, reject) => {
    child.on("message", (m: { type?: string; port?: number }) => m?.type === "ready" && resolve(m.port!));
    void exited.then((code) => reject(new Error(`${entry} exited with ${code}:\n${out}`)));
  });
  return { child, port, output: () => out, exited };
}
